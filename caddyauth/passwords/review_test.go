package passwords

import (
	"fmt"
	"testing"

	"github.com/restauth/caddy-restauth/permissions"
)

// TestReview9UnknownUserCost: in a store with mixed hash costs, unknown
// names are checked against each cost in proportion to the accounts that
// use it, each name always against the same one.
func TestReview9UnknownUserCost(t *testing.T) {
	low := permissions.HashParams{Algorithm: permissions.Bcrypt, Cost: 4}
	high := permissions.HashParams{Algorithm: permissions.Bcrypt, Cost: 5}
	s, err := NewStandIns([]permissions.HashParams{low, low, low, high})
	if err != nil {
		t.Fatal(err)
	}
	n, atHigh := 4000, 0
	for i := 0; i < n; i++ {
		name := fmt.Sprint("nobody-", i)
		a := s.Pick([]byte(name))
		if a.Params != s.Pick([]byte(name)).Params || string(a.Stored) != string(s.Pick([]byte(name)).Stored) {
			t.Fatal("a name's stand-in changes")
		}
		if a.Params == high {
			atHigh++
		}
	}
	if share := float64(atHigh) / float64(n); share < 0.2 || share > 0.3 {
		t.Errorf("%.3f of unknown names cost what the one high-cost user costs, want about 0.25", share)
	}
}

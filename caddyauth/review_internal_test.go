package caddyauth

import (
	"encoding/json"
	"testing"
	"time"
)

// Regression tests for the outside review (issue 13) that look inside
// the package; the others are in review_test.go.

// TestReview3LeewayJSON: in JSON an explicit leeway of 0 is strict, and
// differs from leaving leeway out (30 s).
func TestReview3LeewayJSON(t *testing.T) {
	for _, c := range []struct {
		js   string
		want time.Duration
	}{
		{`{"leeway":0}`, 0},
		{`{}`, 30 * time.Second},
		{`{"leeway":"5s"}`, 5 * time.Second},
	} {
		var v JWTValidator
		if err := json.Unmarshal([]byte(c.js), &v); err != nil {
			t.Fatal(err)
		}
		if err := v.setup(); err != nil {
			t.Fatal(err)
		}
		if got := time.Duration(*v.Leeway); got != c.want {
			t.Errorf("%s: leeway %v, want %v", c.js, got, c.want)
		}
	}
}

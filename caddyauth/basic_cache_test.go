package caddyauth

import (
	"encoding/base64"
	"net/http/httptest"
	"testing"

	"golang.org/x/crypto/bcrypt"

	"github.com/restauth/caddy-restauth/permissions"
)

// TestBasicCacheSlot: the account's slot answers only for the password it
// verified; a wrong password after a good one is still refused, and a store
// with a new hash for the user refuses the old password at once.
func TestBasicCacheSlot(t *testing.T) {
	store := func(pw string) *Store {
		h, err := bcrypt.GenerateFromPassword([]byte(pw), bcrypt.MinCost)
		if err != nil {
			t.Fatal(err)
		}
		s, err := newStore(nil, &permissions.Users{Users: []permissions.User{{Name: "alice", Hash: string(h)}}}, permissions.Options{})
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	a := &Basic{Realm: "r", ThrottleFailures: -1}
	try := func(s *Store, pw string) bool {
		r := httptest.NewRequest("GET", "/", nil)
		r.Header.Set("Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte("alice:"+pw)))
		p, err := a.Authenticate(r, s)
		return err == nil && p != nil && p.User == "alice"
	}
	old := store("one")
	for i, c := range []struct {
		s    *Store
		pw   string
		want bool
	}{
		{old, "one", true}, {old, "one", true}, {old, "two", false}, {old, "onex", false}, {old, "one", true},
	} {
		if got := try(c.s, c.pw); got != c.want {
			t.Errorf("step %d (%q): %v, want %v", i+1, c.pw, got, c.want)
		}
	}
	if old.users["alice"].verified.Load() == nil {
		t.Error("the slot was not filled by a verified password")
	}
	renewed := store("two")
	if try(renewed, "one") {
		t.Error("the old password opened a store with a new hash")
	}
	if !try(renewed, "two") || !try(renewed, "two") {
		t.Error("the new password was refused")
	}
}

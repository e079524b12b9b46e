package filestore

import (
	"context"
	"testing"

	"golang.org/x/crypto/bcrypt"

	"github.com/restauth/caddy-restauth/permissions"
)

// TestCacheSlot: the account's slot answers only for the password it
// verified; a wrong password after a good one is still refused, and a view
// with a new hash for the user refuses the old password at once.
func TestCacheSlot(t *testing.T) {
	store := func(pw string) *view {
		h, err := bcrypt.GenerateFromPassword([]byte(pw), bcrypt.MinCost)
		if err != nil {
			t.Fatal(err)
		}
		v, err := (&FileStore{}).Accounts(&permissions.Users{Users: []permissions.User{{Name: "alice", Hash: string(h)}}}, nil)
		if err != nil {
			t.Fatal(err)
		}
		return v.(*view)
	}
	try := func(v *view, pw string) bool {
		a, err := v.Verify(context.Background(), []byte("alice"), []byte(pw))
		return err == nil && a != nil && a.Name == "alice"
	}
	old := store("one")
	for i, c := range []struct {
		s    *view
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

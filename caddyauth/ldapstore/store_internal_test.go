package ldapstore

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/go-ldap/ldap/v3"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/restauth/caddy-restauth/caddyauth"
	"github.com/restauth/caddy-restauth/internal/slapdtest"
	"github.com/restauth/caddy-restauth/permissions"
)

// newTestView provisions a store on a directory, as Caddy would, and
// returns its view for users files with the roles usermgt and login.
func newTestView(t testing.TB, url string, mod func(*LDAPStore)) *view {
	t.Helper()
	s := &LDAPStore{URLs: []string{url}, BindDN: slapdtest.Reader, BindPassword: slapdtest.ReaderPassword,
		UserBaseDN: slapdtest.People, GroupBaseDN: slapdtest.Groups}
	if mod != nil {
		mod(s)
	}
	ctx, cancel := caddy.NewContext(caddy.Context{Context: context.Background()})
	t.Cleanup(cancel)
	if err := s.Provision(ctx); err != nil {
		t.Fatal(err)
	}
	if err := s.Validate(); err != nil {
		t.Fatal(err)
	}
	users := &permissions.Users{Roles: []permissions.Role{{Name: "usermgt"}, {Name: "login"}}}
	a, err := s.Accounts(users, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Cleanup() })
	return a.(*view)
}

// binds counts every bind attempted, whatever its result.
func binds() float64 {
	n := 0.0
	for _, r := range []string{"ok", "invalid_credentials", "error"} {
		n += testutil.ToFloat64(requests.WithLabelValues("bind", r))
	}
	return n
}

// TestVerifyDirect: what the store refuses before it sends anything, and
// what it answers for each kind of name.
func TestVerifyDirect(t *testing.T) {
	dir := slapdtest.Start(t, slapdtest.Options{LDIF: slapdtest.PrimaryLDIF()})
	v := newTestView(t, dir.URL, nil)
	ctx := context.Background()
	for _, c := range []struct{ name, pass string }{
		{"alice", ""}, {"", "x"}, {"alice\x00", "ldap-alice"}, {string(make([]byte, 300)), "x"},
	} {
		before := binds()
		if _, err := v.Verify(ctx, []byte(c.name), []byte(c.pass)); !errors.Is(err, caddyauth.ErrBadCredential) {
			t.Errorf("%q/%q: %v, want a bad credential", c.name, c.pass, err)
		}
		if binds() != before {
			t.Errorf("%q/%q: a bind was sent", c.name, c.pass)
		}
	}
	a, err := v.Verify(ctx, []byte("alice"), []byte("ldap-alice"))
	if err != nil || a.Name != "alice" || len(a.Roles) != 1 || a.Roles[0] != "usermgt" {
		t.Fatalf("alice: %+v %v", a, err)
	}
	if a2, _ := v.Verify(ctx, []byte("Alice"), []byte("ldap-alice")); a2 != a {
		t.Error("a cached credential's account is not the same account (its principal would be built again)")
	}
	for _, name := range []string{"nobody", "twin", "*"} {
		before := binds()
		if _, err := v.Verify(ctx, []byte(name), []byte("x")); !errors.Is(err, caddyauth.ErrBadCredential) {
			t.Errorf("%s: %v", name, err)
		}
		if binds() != before+1 {
			t.Errorf("%s: %v binds, want 1 (a made-up DN, so that it costs what a wrong password costs)", name, binds()-before)
		}
	}
	if acct, err := v.Lookup(ctx, "CAROL"); err != nil || acct == nil || acct.Name != "carol" || len(acct.Roles) != 2 {
		t.Errorf("lookup CAROL: %+v %v", acct, err)
	}
	if acct, err := v.Lookup(ctx, "nobody"); err != nil || acct != nil {
		t.Errorf("lookup nobody: %+v %v", acct, err)
	}
	if acct, err := v.Lookup(ctx, "twin"); err != nil || acct != nil {
		t.Errorf("lookup twin (two entries): %+v %v", acct, err)
	}
}

// TestHealth: the back-off doubles up to its cap, one probe at a time
// once it has passed, and an answer ends it.
func TestHealth(t *testing.T) {
	var h health
	now := time.Unix(1000, 0)
	down := ldap.NewError(ldap.ErrorNetwork, errors.New("connection refused"))
	if ok, _ := h.allow(now); !ok {
		t.Fatal("a new directory is not down")
	}
	for i, want := range []time.Duration{1, 2, 4, 8, 16, 30, 30} {
		if changed, isDown := h.observe(down, now); !isDown || changed != (i == 0) {
			t.Fatalf("failure %d: changed %v down %v", i, changed, isDown)
		}
		if ok, wait := h.allow(now); ok || wait != want*time.Second {
			t.Fatalf("failure %d: allowed %v, wait %v, want %v", i, ok, wait, want*time.Second)
		}
	}
	later := now.Add(time.Minute)
	if ok, _ := h.allow(later); !ok {
		t.Fatal("after the back-off, a probe")
	}
	if ok, _ := h.allow(later); ok {
		t.Fatal("a second probe while the first is out")
	}
	if changed, isDown := h.observe(ldap.NewError(ldap.LDAPResultInvalidCredentials, errors.New("49")), later); !changed || isDown {
		t.Fatal("an answer (even a refusal) ends it")
	}
	if ok, _ := h.allow(later); !ok {
		t.Fatal("up again")
	}
}

// TestTransient: which errors mean the directory could not be asked.
func TestTransient(t *testing.T) {
	for _, c := range []struct {
		err  error
		want bool
	}{
		{nil, false},
		{ldap.NewError(ldap.LDAPResultInvalidCredentials, nil), false},
		{ldap.NewError(ldap.LDAPResultNoSuchObject, nil), false},
		{ldap.NewError(ldap.LDAPResultInsufficientAccessRights, nil), false},
		{ldap.NewError(ldap.ErrorFilterCompile, nil), false},
		{ldap.NewError(ldap.LDAPResultBusy, nil), true},
		{ldap.NewError(ldap.LDAPResultUnavailable, nil), true},
		{ldap.NewError(ldap.ErrorNetwork, nil), true},
		{ldap.NewError(ldap.ErrorUnexpectedResponse, nil), true},
		{errPoolBusy, true},
		{fmt.Errorf("dial: %w", errors.New("refused")), true},
	} {
		if got := transient(c.err); got != c.want {
			t.Errorf("%v: %v, want %v", c.err, got, c.want)
		}
	}
}

// TestTTLCache: entries expire, and a full cache makes room.
func TestTTLCache(t *testing.T) {
	c := newTTLCache[int, string](100)
	c.put(1, "a", time.Hour)
	c.put(2, "b", -time.Second)
	if v, ok := c.get(1); !ok || v != "a" {
		t.Error("1")
	}
	if _, ok := c.get(2); ok {
		t.Error("an expired entry")
	}
	for i := range 1000 {
		c.put(i+10, "x", time.Hour)
	}
	if n := c.n.Load(); n > 100 {
		t.Errorf("%d entries, bound 100", n)
	}
}

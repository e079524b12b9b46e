package caddyauth

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/restauth/caddy-restauth/permissions"
)

// A UserStore is where accounts come from: the users.toml files of the
// handler (module http.rest_auth.user_stores.file, the default) or a
// directory. Stores are Caddy modules in the http.rest_auth.user_stores
// namespace; rest_auth and oauth2_server load one each.
//
// Roles, with their permissions and scopes, always come from users.toml
// files: they are policy. A store says which accounts exist, checks their
// passwords, and names their roles.
type UserStore interface {
	// Accounts returns the store's view for one policy snapshot. users is
	// what the handler's users files hold (a file store's accounts; a
	// directory ignores them); pol is the snapshot's policy. It is called
	// on every load and reload, and must not change anything a running
	// view uses.
	Accounts(users *permissions.Users, pol *permissions.Policy) (Accounts, error)
}

// Accounts is a user store's view for one snapshot. Its methods may be
// called concurrently, and must honour ctx's deadline.
type Accounts interface {
	// Lookup returns the account of a name, compared exactly, or nil when
	// the store has none. An error means the store could not tell (a
	// directory down): the request gets 503, never a guess.
	Lookup(ctx context.Context, name string) (*Account, error)
	// Verify checks a password. It returns the account, or
	// ErrBadCredential for an unknown name or a wrong password alike (one
	// answer, at one cost), or an *Unavailable when it could not decide.
	// name and password are the caller's buffers: Verify must not keep
	// them after it returns.
	Verify(ctx context.Context, name, password []byte) (*Account, error)
}

// An Account is a user as a store knows it.
type Account struct {
	// Name is the user name, as rules, logs and headers show it.
	Name string
	// Roles are the account's role names (roles not defined in the users
	// files hold nothing).
	Roles []string
	// Tag names the account's current credential without revealing it
	// (a digest of the stored hash): it changes when the password does.
	// The token service ends a refresh family whose tag changed. "" when
	// the store cannot tell.
	Tag string

	principals PrincipalCache // per method: the first asked (usually basic)
}

// ErrBadCredential is Verify's answer to an unknown name or a wrong
// password: 401, and a failure counted against the caller's throttles.
var ErrBadCredential = errors.New("caddyauth: bad user name or password")

// Unavailable is Verify's and Lookup's error when a store could not
// decide: a directory down or slow, or every password-hashing slot busy.
// The request gets 503 with Retry-After; it never counts toward a
// throttle and never grants anything.
type Unavailable struct {
	// Busy is set when the store is overloaded here (its hashing slots)
	// rather than a dependency being down.
	Busy bool
	// RetryAfter is how long a client should wait.
	RetryAfter time.Duration
	// Err is the cause, for the log; never shown to a client.
	Err error
}

func (u *Unavailable) Error() string {
	if u.Busy {
		return "user store busy"
	}
	return fmt.Sprintf("user store unavailable: %v", u.Err)
}

func (u *Unavailable) Unwrap() error { return u.Err }

// A PrincipalCache keeps one principal per policy snapshot: an
// authenticator that holds something per credential (a verified token, a
// certificate, an account) builds that credential's principal once per
// snapshot, and a reload makes a new one on first use. The zero value is
// ready. It may be used concurrently.
type PrincipalCache struct {
	v atomic.Pointer[cachedPrincipal]
}

type cachedPrincipal struct {
	s      *Snapshot
	method string
	p      *Principal
}

// Get returns the principal kept for a snapshot and method, or nil.
func (c *PrincipalCache) Get(s *Snapshot, method string) *Principal {
	if e := c.v.Load(); e != nil && e.s == s && e.method == method {
		return e.p
	}
	return nil
}

// Put keeps a principal for a snapshot and method.
func (c *PrincipalCache) Put(s *Snapshot, method string, p *Principal) {
	c.v.Store(&cachedPrincipal{s: s, method: method, p: p})
}

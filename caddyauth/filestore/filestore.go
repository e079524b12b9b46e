// Package filestore is the user store of users.toml files, the default
// store of rest_auth and oauth2_server (module
// http.rest_auth.user_stores.file). The accounts are the [[users]] of the
// handler's users files; passwords are checked with Caddy's bcrypt and
// argon2id comparers in bounded hashing slots, an unknown name costs what
// a real one costs, and verified credentials are cached under a keyed
// hash, never as plaintext, in a cache that outlives reloads.
package filestore

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"

	"github.com/restauth/caddy-restauth/caddyauth"
	"github.com/restauth/caddy-restauth/caddyauth/passwords"
	"github.com/restauth/caddy-restauth/permissions"
)

func init() {
	caddy.RegisterModule(FileStore{})
}

// FileStore serves the accounts of the handler's users files. It has no
// settings of its own: the files are the handler's users option.
type FileStore struct{}

// CaddyModule returns the Caddy module information.
func (FileStore) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "http.rest_auth.user_stores.file",
		New: func() caddy.Module { return new(FileStore) },
	}
}

// UnmarshalCaddyfile reads "user_store file", which has no options.
func (*FileStore) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	d.Next() // the store's name
	if d.NextArg() {
		return d.ArgErr()
	}
	if d.NextBlock(0) {
		return d.Err("user_store file has no options: its accounts are the users files' [[users]]")
	}
	return nil
}

// view is the store's accounts for one snapshot.
type view struct {
	users map[string]*account
	fakes *passwords.StandIns // what unknown users are checked against
	cache *passwords.Cache
}

type account struct {
	caddyauth.Account
	hash passwords.Hash
	ckey [32]byte // the secret half of its cache keys (passwords.AccountKey)

	// verified is the cache key of the password last verified for this
	// account in this view: a hash has one password, so one slot is
	// enough, and a cached request then needs no lock
	verified atomic.Pointer[[32]byte]
}

// Accounts builds the view of the users files' accounts for a snapshot.
func (*FileStore) Accounts(users *permissions.Users, _ *permissions.Policy) (caddyauth.Accounts, error) {
	v := &view{users: make(map[string]*account, len(users.Users)), cache: passwords.Shared}
	params := make([]permissions.HashParams, 0, len(users.Users))
	for _, u := range users.Users {
		h, err := passwords.Parse(u.Hash)
		if err != nil {
			return nil, fmt.Errorf("%s: user %q: %w", u.Source, u.Name, err)
		}
		params = append(params, h.Params)
		v.users[u.Name] = &account{
			Account: caddyauth.Account{Name: u.Name, Roles: u.Roles, Tag: Tag(h.Stored)},
			hash:    h,
			ckey:    passwords.AccountKey(u.Name, h.Stored),
		}
	}
	var err error
	if v.fakes, err = passwords.NewStandIns(params); err != nil {
		return nil, err
	}
	return v, nil
}

// Tag names a stored hash without revealing it (Account.Tag): the same on
// every instance sharing a storage (no per-process key), and no help to
// guess the password, since the hash's salt is not in it.
func Tag(hash []byte) string {
	sum := sha256.Sum256(hash)
	return hex.EncodeToString(sum[:16])
}

// Lookup returns a user's account, compared exactly.
func (v *view) Lookup(_ context.Context, name string) (*caddyauth.Account, error) {
	if a, ok := v.users[name]; ok {
		return &a.Account, nil
	}
	return nil, nil
}

// Provision registers the metrics of the hashes the store computes.
func (*FileStore) Provision(ctx caddy.Context) error {
	return caddyauth.RegisterCollectors(ctx.GetMetricsRegistry(), passwords.Collectors()...)
}

// Verify checks a password: the account's last verified key first (no
// lock, no map), then the shared cache, then a hash in a bounded slot,
// one for all concurrent checks of the same credential
// (passwords.CheckSecret); an unknown name is hashed against its stand-in,
// so it costs the same.
func (v *view) Verify(_ context.Context, name, password []byte) (*caddyauth.Account, error) {
	a, known := v.users[string(name)]
	var key [32]byte
	if known {
		var hit bool
		if key, hit = v.cached(a, password); hit {
			return &a.Account, nil
		}
		cacheMiss.Inc()
	}
	if len(password) > passwords.MaxPassword {
		return nil, caddyauth.ErrBadCredential
	}
	hash := v.fakes.Pick(name)
	if known {
		hash = a.hash
	}
	good, err := passwords.CheckSecret(string(name), hash, password, known)
	switch {
	case errors.Is(err, passwords.ErrBusy):
		return nil, &caddyauth.Unavailable{Busy: true, RetryAfter: time.Second}
	case err != nil:
		return nil, fmt.Errorf("checking a password: %w", err)
	case !good:
		return nil, caddyauth.ErrBadCredential
	}
	a.remember(key)
	return &a.Account, nil
}

// VerifyCached answers from the cache alone: the account when this
// password was verified (its slot or the shared cache), else nil.
func (v *view) VerifyCached(name, password []byte) *caddyauth.Account {
	if a, known := v.users[string(name)]; known {
		if _, hit := v.cached(a, password); hit {
			return &a.Account
		}
	}
	return nil
}

// cached looks a password up: the account's last verified key first (no
// lock, no map), then the shared cache; it returns the credential's key.
func (v *view) cached(a *account, password []byte) ([32]byte, bool) {
	key := passwords.CredKey(&a.ckey, password)
	if k := a.verified.Load(); k != nil && subtle.ConstantTimeCompare(k[:], key[:]) == 1 {
		cacheHit.Inc()
		return key, true
	}
	if v.cache.Has(key) {
		cacheHit.Inc()
		a.remember(key)
		return key, true
	}
	return key, false
}

// remember fills the account's slot with a copy of a verified key (a copy
// made only then: the caller's key stays on its stack).
func (a *account) remember(key [32]byte) { a.verified.Store(&key) }

// The cache's counters, under the name Basic's cache has always had.
var (
	cacheHit  = caddyauth.CacheLookups("basic", "hit")
	cacheMiss = caddyauth.CacheLookups("basic", "miss")
)

// Interface guards
var (
	_ caddyauth.UserStore   = (*FileStore)(nil)
	_ caddy.Provisioner     = (*FileStore)(nil)
	_ caddyfile.Unmarshaler = (*FileStore)(nil)
	_ caddyauth.Accounts    = (*view)(nil)
)

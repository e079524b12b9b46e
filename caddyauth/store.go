package caddyauth

import (
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"sync"
	"sync/atomic"

	"golang.org/x/crypto/argon2"
	"golang.org/x/crypto/bcrypt"

	"github.com/restauth/caddy-restauth/permissions"
)

// A Store is one immutable snapshot of a handler's policy: the compiled
// rules and roles, and the user accounts. A reload builds a new Store and
// swaps it in whole, so a request sees one consistent snapshot and the
// credential cache, shared by all stores, stays: its keys include the
// stored hash, so a changed password misses at once.
type Store struct {
	Policy *permissions.Policy
	// Users are the roles and accounts the store was built from.
	Users *permissions.Users
	users map[string]*account
	fake  *account // what an unknown user is checked against
	cache *credCache
}

type account struct {
	name   string
	hash   []byte
	params permissions.HashParams
	roles  []string
	set    permissions.RoleSet
	basic  *Principal // what a good Basic credential yields, built once
	ckey   [32]byte   // the secret half of its cache keys (accountKey)

	// verified is the cache key of the password last verified for this
	// account in this store: a hash has one password, so one slot is
	// enough, and a cached request then needs no lock
	verified atomic.Pointer[[32]byte]
}

func (a *account) remember(key [32]byte) { a.verified.Store(&key) }

// newStore compiles a snapshot.
func newStore(rules []permissions.Rule, users *permissions.Users, opts permissions.Options) (*Store, error) {
	if users == nil {
		users = &permissions.Users{}
	}
	pol, err := permissions.NewPolicy(rules, users.Roles, opts)
	if err != nil {
		return nil, err
	}
	s := &Store{Policy: pol, Users: users, users: make(map[string]*account, len(users.Users)), cache: sharedCredCache}
	count := map[permissions.HashParams]int{}
	var dominant permissions.HashParams
	for _, u := range users.Users {
		params, err := permissions.ParseHash(u.Hash)
		if err != nil {
			return nil, fmt.Errorf("%s: user %q: %w", u.Source, u.Name, err)
		}
		count[params]++
		if count[params] > count[dominant] {
			dominant = params
		}
		a := &account{name: u.Name, hash: []byte(u.Hash), params: params, roles: u.Roles, set: pol.Roles(u.Roles),
			ckey: accountKey(u.Name, []byte(u.Hash))}
		a.basic = newPrincipal(&Principal{User: u.Name, AuthMethod: "basic", Roles: u.Roles, roles: a.set, known: true})
		s.users[u.Name] = a
	}
	if dominant.Algorithm == "" {
		dominant = permissions.HashParams{Algorithm: permissions.Bcrypt, Cost: bcrypt.DefaultCost}
	}
	fake, err := fakeHash(dominant)
	if err != nil {
		return nil, err
	}
	s.fake = &account{hash: fake, params: dominant}
	return s, nil
}

// lookup returns the account of a user name, compared exactly.
func (s *Store) lookup(name string) (*account, bool) {
	a, ok := s.users[name]
	return a, ok
}

// UserRoles returns the roles the user store gives a user name, or nil.
func (s *Store) UserRoles(name string) []string {
	if a, ok := s.users[name]; ok {
		return a.roles
	}
	return nil
}

// subject builds what authorization looks at for a principal.
func (s *Store) subject(p *Principal) permissions.Subject {
	set := p.roles
	if !p.known {
		set = s.Policy.Roles(p.Roles)
	}
	return permissions.Subject{Roles: set, Token: p.Token, Scopes: p.Scopes}
}

var fakeHashes sync.Map // HashParams -> []byte, so reloads don't pay again

// fakeHash makes a hash of a random password with the given parameters, so
// that checking an unknown user costs what checking a real one does.
func fakeHash(p permissions.HashParams) ([]byte, error) {
	if h, ok := fakeHashes.Load(p); ok {
		return h.([]byte), nil
	}
	pw := make([]byte, 24)
	if _, err := rand.Read(pw); err != nil {
		return nil, err
	}
	var h []byte
	switch p.Algorithm {
	case permissions.Bcrypt:
		var err error
		if h, err = bcrypt.GenerateFromPassword(pw, p.Cost); err != nil {
			return nil, fmt.Errorf("making the timing-guard hash: %w", err)
		}
	case permissions.Argon2id:
		salt := make([]byte, 16)
		if _, err := rand.Read(salt); err != nil {
			return nil, err
		}
		key := argon2.IDKey(pw, salt, p.Time, p.Memory, p.Threads, uint32(p.KeyLen))
		h = fmt.Appendf(nil, "$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version, p.Memory, p.Time, p.Threads,
			base64.RawStdEncoding.EncodeToString(salt), base64.RawStdEncoding.EncodeToString(key))
	default:
		return nil, fmt.Errorf("unknown hash algorithm %q", p.Algorithm)
	}
	fakeHashes.Store(p, h)
	return h, nil
}

package caddyauth

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"slices"
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
	// Warnings are what loading found probably not meant (logged once
	// per load, and shown by lint).
	Warnings []permissions.Finding
	users    map[string]*account
	clients  map[string]*account // roles of OAuth2 clients, for their own tokens
	fakes    *standIns           // what unknown users are checked against
	cache    *credCache
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
	params := make([]permissions.HashParams, 0, len(users.Users))
	for _, u := range users.Users {
		p, err := permissions.ParseHash(u.Hash)
		if err != nil {
			return nil, fmt.Errorf("%s: user %q: %w", u.Source, u.Name, err)
		}
		params = append(params, p)
		a := &account{name: u.Name, hash: []byte(u.Hash), params: p, roles: u.Roles, set: pol.Roles(u.Roles),
			ckey: accountKey(u.Name, []byte(u.Hash))}
		a.basic = newPrincipal(&Principal{User: u.Name, AuthMethod: "basic", Roles: u.Roles, roles: a.set, known: true})
		s.users[u.Name] = a
	}
	if s.fakes, err = newStandIns(params); err != nil {
		return nil, err
	}
	s.clients = make(map[string]*account, len(users.Clients))
	for _, c := range users.Clients {
		s.clients[c.ID] = &account{name: c.ID, roles: c.Roles, set: pol.Roles(c.Roles)}
	}
	return s, nil
}

// standIns are the hashes an unknown name is checked against, so that it
// costs what a real one costs. A store whose accounts use several hash
// settings (users moved to a higher cost over time) checks each unknown
// name against one of them, picked by a keyed hash of the name in
// proportion to how many accounts use each: a name costs the same every
// time it is tried, and the costs of unknown names are spread as those of
// real ones, so no setting marks its users as real.
type standIns struct {
	accts []*account
	upto  []int // accts[i] is picked for a name hashing below upto[i]
}

// newStandIns makes stand-ins for accounts with these hash settings (one
// entry per account); with none, one bcrypt hash at Go's default cost.
func newStandIns(params []permissions.HashParams) (*standIns, error) {
	if len(params) == 0 {
		params = []permissions.HashParams{{Algorithm: permissions.Bcrypt, Cost: bcrypt.DefaultCost}}
	}
	count := map[permissions.HashParams]int{}
	var order []permissions.HashParams
	for _, p := range params {
		if count[p] == 0 {
			order = append(order, p)
		}
		count[p]++
	}
	s := &standIns{}
	total := 0
	for _, p := range order {
		h, err := fakeHash(p)
		if err != nil {
			return nil, err
		}
		total += count[p]
		s.accts = append(s.accts, &account{hash: h, params: p})
		s.upto = append(s.upto, total)
	}
	return s, nil
}

// pick returns the stand-in for an unknown name.
func (s *standIns) pick(name string) *account {
	if len(s.accts) == 1 {
		return s.accts[0]
	}
	k := accountKey(name, nil) // keyed: which name gets which cost cannot be worked out
	n := int(binary.BigEndian.Uint64(k[:8]) % uint64(s.upto[len(s.upto)-1]))
	i, _ := slices.BinarySearch(s.upto, n+1)
	return s.accts[i]
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

// ClientRoles returns the roles the users files give an OAuth2 client id
// ([[clients]] roles), or nil: what a client's own token (client
// credentials) holds besides its scopes. A user of the same name is never
// asked.
func (s *Store) ClientRoles(id string) []string {
	if a, ok := s.clients[id]; ok {
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

package caddyauth

import (
	"context"
	"slices"

	"github.com/restauth/caddy-restauth/permissions"
)

// A Snapshot is one immutable state of a handler's policy: the compiled
// rules and roles, and the user store's view of the accounts. A reload
// builds a new Snapshot and swaps it in whole, so a request sees one
// consistent state. The pipeline hands it to authenticators.
type Snapshot struct {
	Policy *permissions.Policy
	// Users are what the users files hold: roles, users and OAuth2
	// clients (for a directory store, its accounts are not among them).
	Users *permissions.Users
	// Accounts is the user store's view for this snapshot.
	Accounts Accounts
	// Warnings are what loading found probably not meant (logged once
	// per load, and shown by lint).
	Warnings []permissions.Finding

	clientRoles map[string][]string // [[clients]] roles, by client id
	tenants     *tenancy            // nil without tenants
	pipe        *pipeCache          // what the handler's pipeline keeps for this snapshot
}

// pipeCache is what a handler's pipeline works out once per snapshot: the
// authenticators each rule allows, and the challenges of its 401s.
type pipeCache struct {
	rules      [][]int // per rule: the configured authenticators it allows (their indexes), in order
	everyone   []int   // every configured authenticator
	challenges cowMap[challengeKey, []string]
}

// newPipeCache works out which of a handler's authenticators each rule
// allows.
func newPipeCache(pol *permissions.Policy, authNames []string) *pipeCache {
	pc := &pipeCache{rules: make([][]int, pol.Len())}
	for i := range authNames {
		pc.everyone = append(pc.everyone, i)
	}
	for r := range pc.rules {
		names := pol.Rule(r).Handlers
		if len(names) == 0 {
			pc.rules[r] = pc.everyone
			continue
		}
		for i, n := range authNames {
			if slices.Contains(names, n) {
				pc.rules[r] = append(pc.rules[r], i)
			}
		}
	}
	return pc
}

// allowed returns the indexes of the authenticators rule i allows.
func (pc *pipeCache) allowed(i int) []int { return pc.rules[i] }

// NewSnapshot compiles rules and roles into a snapshot whose accounts come
// from a user store.
func NewSnapshot(rules []permissions.Rule, users *permissions.Users, opts permissions.Options, store UserStore) (*Snapshot, error) {
	if users == nil {
		users = &permissions.Users{}
	}
	pol, err := permissions.NewPolicy(rules, users.Roles, opts)
	if err != nil {
		return nil, err
	}
	accts, err := store.Accounts(users, pol)
	if err != nil {
		return nil, err
	}
	s := &Snapshot{Policy: pol, Users: users, Accounts: accts, clientRoles: map[string][]string{}}
	for _, c := range users.Clients {
		s.clientRoles[c.ID] = c.Roles
	}
	return s, nil
}

// Lookup returns a user's account from the store, nil when it has none;
// an error means the store could not tell.
func (s *Snapshot) Lookup(ctx context.Context, name string) (*Account, error) {
	return s.Accounts.Lookup(ctx, name)
}

// UserRoles returns the roles the user store gives a user name: nil when
// the store has no such user, or could not tell (fewer rights, never
// more). Use Lookup to tell the two apart.
func (s *Snapshot) UserRoles(name string) []string {
	if a, err := s.Accounts.Lookup(context.Background(), name); err == nil && a != nil {
		return a.Roles
	}
	return nil
}

// ClientRoles returns the roles the users files give an OAuth2 client id
// ([[clients]] roles), or nil: what a client's own token (client
// credentials) holds besides its scopes. A user of the same name is never
// asked.
func (s *Snapshot) ClientRoles(id string) []string { return s.clientRoles[id] }

// NewPrincipal finishes a principal for this snapshot: its roles as the
// policy's role set, the joined texts and the placeholders, made once, so
// that it can be shared by the requests of one credential.
func (s *Snapshot) NewPrincipal(p Principal) *Principal {
	p.roles, p.known = s.Policy.Roles(p.Roles), true
	if s.tenants != nil && p.Tenant == "" {
		p.Tenant = s.tenants.userTenant(p.User)
	}
	return newPrincipal(&p)
}

// Principal returns the principal of an account for an authentication
// method, built once per snapshot and kept with the account.
func (s *Snapshot) Principal(a *Account, method string) *Principal {
	if p := a.principals.Get(s, method); p != nil {
		return p
	}
	p := s.NewPrincipal(Principal{User: a.Name, AuthMethod: method, Roles: a.Roles})
	a.principals.Put(s, method, p)
	return p
}

// subjectIn builds what authorization looks at for a principal of tenant
// snapshot ts: the principal's role names in that tenant's roles.
func (s *Snapshot) subjectIn(ts *Snapshot, p *Principal) permissions.Subject {
	if ts == s {
		return s.subject(p)
	}
	return permissions.Subject{Roles: ts.Policy.Roles(p.Roles), Token: p.Token, Scopes: p.Scopes}
}

// subject builds what authorization looks at for a principal.
func (s *Snapshot) subject(p *Principal) permissions.Subject {
	set := p.roles
	if !p.known {
		set = s.Policy.Roles(p.Roles)
	}
	return permissions.Subject{Roles: set, Token: p.Token, Scopes: p.Scopes}
}

package caddyauth

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/restauth/caddy-restauth/permissions"
)

// DefaultSuperTenant is WSO2's name for the super tenant.
const DefaultSuperTenant = "carbon.super"

// A Tenant is one of WSO2's tenants in a rest_auth handler: its own users
// and roles, under the handler's rules. A request to /t/{domain}/... acts
// in the tenant, and a user named user@domain belongs to it.
type Tenant struct {
	// Domain is the tenant's name, as /t/{domain}/ paths and user@domain
	// names write it; compared without regard to case.
	Domain string `json:"domain"`
	// Users are the tenant's users.toml files: its roles, users and
	// clients.
	Users []string `json:"users,omitempty"`
	// UserStoreRaw is where the tenant's accounts come from (a module in
	// http.rest_auth.user_stores); default its users files.
	UserStoreRaw json.RawMessage `json:"user_store,omitempty"`
	// Inactive makes the tenant answer 404, as an unknown one does, and
	// its users unknown.
	Inactive bool `json:"inactive,omitempty"`

	store UserStore
}

// tenancy is a snapshot's tenants: the super tenant's name, and a
// snapshot (the same rules, the tenant's roles and accounts) per active
// tenant.
type tenancy struct {
	super  string
	active map[string]*Snapshot // by lower-case domain
	known  map[string]bool      // every configured domain, inactive ones too
}

// tenantsOn reports whether a handler has tenants (a tenant, or the super
// tenant named): only then are /t/ paths and user@tenant names read.
func (h *Handler) tenantsOn() bool { return len(h.Tenants) > 0 || h.SuperTenant != "" }

// superTenant is the super tenant's name.
func (h *Handler) superTenant() string {
	if h.SuperTenant != "" {
		return strings.ToLower(h.SuperTenant)
	}
	return DefaultSuperTenant
}

// checkTenants checks the tenants' names.
func (h *Handler) checkTenants() error {
	seen := map[string]bool{h.superTenant(): true}
	for i, t := range h.Tenants {
		d := strings.ToLower(t.Domain)
		switch {
		case d == "":
			return fmt.Errorf("tenant %d: a domain is required", i+1)
		case strings.ContainsAny(d, "/@ \t;%\\"):
			return fmt.Errorf("tenant %q: a domain cannot contain / @ ; %% \\ or spaces", t.Domain)
		case seen[d]:
			return fmt.Errorf("tenant %q: given twice (or the super tenant's name)", t.Domain)
		}
		seen[d] = true
	}
	return nil
}

// loadTenantStores loads each tenant's user store with load.
func (h *Handler) loadTenantStores(load func(json.RawMessage) (UserStore, error)) error {
	for i := range h.Tenants {
		st, err := load(h.Tenants[i].UserStoreRaw)
		if err != nil {
			return fmt.Errorf("tenant %q: %w", h.Tenants[i].Domain, err)
		}
		h.Tenants[i].store = st
	}
	return nil
}

// loadTenants builds the tenants of a snapshot, whose rules they share,
// and routes its accounts by tenant.
func (h *Handler) loadTenants(s *Snapshot, rules []permissions.Rule, opts permissions.Options) error {
	if !h.tenantsOn() {
		return nil
	}
	tn := &tenancy{super: h.superTenant(), active: map[string]*Snapshot{}, known: map[string]bool{}}
	for _, t := range h.Tenants {
		d := strings.ToLower(t.Domain)
		tn.known[d] = true
		if t.Inactive {
			continue
		}
		var users *permissions.Users
		if len(t.Users) > 0 {
			var err error
			if users, err = permissions.LoadUsers(t.Users...); err != nil {
				return fmt.Errorf("tenant %q: %w", t.Domain, err)
			}
		}
		if t.store == nil {
			return fmt.Errorf("tenant %q: its user store is not loaded", t.Domain)
		}
		ts, err := NewSnapshot(rules, users, opts, t.store)
		if err != nil {
			return fmt.Errorf("tenant %q: %w", t.Domain, err)
		}
		ts.pipe = s.pipe
		tn.active[d] = ts
	}
	s.tenants = tn
	s.Accounts = &tenantAccounts{super: s.Accounts, t: tn}
	return nil
}

// splitTenant splits user@tenant at its last @: the name and the
// tenant, lower-cased; "" for a name without one.
func splitTenant(name string) (string, string) {
	i := strings.LastIndexByte(name, '@')
	if i < 0 {
		return name, ""
	}
	return name[:i], strings.ToLower(name[i+1:])
}

// userTenant is the tenant of a principal's user name: the super tenant
// for a name without @tenant.
func (tn *tenancy) userTenant(name string) string {
	_, t := splitTenant(name)
	if t == "" {
		return tn.super
	}
	return t
}

// snapshot is the snapshot a tenant's users are authorized with: the
// super tenant's own for it, nil for a tenant that is not active.
func (s *Snapshot) tenantSnapshot(tenant string) *Snapshot {
	if s.tenants == nil || tenant == s.tenants.super {
		return s
	}
	return s.tenants.active[tenant]
}

// crossAllowed reports whether a user of userTenant may use rule in
// reqTenant: its own tenant, or a rule that says cross_tenant and, when it
// lists tenants, lists the user's.
func crossAllowed(rule *permissions.Rule, userTenant, reqTenant string) bool {
	return userTenant == reqTenant ||
		rule.CrossTenant && (len(rule.CrossTenantAllowed) == 0 || slices.Contains(rule.CrossTenantAllowed, userTenant))
}

// pathTenant reads the tenant of a canonical path: the segment after a
// leading /t/ (in any case), else the super tenant. Only a leading /t/
// counts: a /t/ further on is part of the resource's own path, and
// reading it as a tenant would let the gateway and the upstream act in
// different tenants. ok is false for a tenant that is unknown or
// inactive.
func (tn *tenancy) pathTenant(path string) (tenant string, ok bool) {
	if len(path) < 3 || path[0] != '/' || path[1]|0x20 != 't' || path[2] != '/' {
		return tn.super, true
	}
	seg := path[3:]
	if i := strings.IndexByte(seg, '/'); i >= 0 {
		seg = seg[:i]
	}
	t := strings.ToLower(seg)
	if t == tn.super {
		return t, true
	}
	_, ok = tn.active[t]
	return t, ok
}

// tenantAccounts sends user@tenant to the tenant's accounts as user, and
// every other name to the super tenant's. Accounts of a tenant are named
// user@tenant (the tenant in lower case) in principals, logs and headers.
type tenantAccounts struct {
	super Accounts
	t     *tenancy

	qualified sync.Map // *Account -> *Account named user@tenant
	n         atomic.Int32
}

// maxQualified bounds the named copies kept; beyond it they start over.
const maxQualified = 100000

// route returns the accounts a name belongs to, the name there, and its
// tenant; nil accounts for a tenant that is not active.
func (ta *tenantAccounts) route(name string) (Accounts, string, string) {
	bare, t := splitTenant(name)
	if t == "" || t == ta.t.super {
		return ta.super, bare, ta.t.super
	}
	ts := ta.t.active[t]
	if ts == nil {
		return nil, bare, t
	}
	return ts.Accounts, bare, t
}

// qualify names a tenant's account user@tenant, once per account.
func (ta *tenantAccounts) qualify(a *Account, tenant string) *Account {
	if a == nil || tenant == ta.t.super {
		return a
	}
	if q, ok := ta.qualified.Load(a); ok {
		return q.(*Account)
	}
	if ta.n.Add(1) > maxQualified {
		ta.qualified.Clear()
		ta.n.Store(1)
	}
	q := &Account{Name: a.Name + "@" + tenant, Roles: a.Roles, Tag: a.Tag}
	v, _ := ta.qualified.LoadOrStore(a, q)
	return v.(*Account)
}

// Lookup asks the accounts of the name's tenant.
func (ta *tenantAccounts) Lookup(ctx context.Context, name string) (*Account, error) {
	acc, bare, t := ta.route(name)
	if acc == nil || bare == "" {
		return nil, nil
	}
	a, err := acc.Lookup(ctx, bare)
	if err != nil {
		return nil, err
	}
	return ta.qualify(a, t), nil
}

// Verify asks the accounts of the name's tenant. A name of a tenant that
// is not active is checked against the super tenant's accounts as it is,
// so that it costs what a wrong password costs, and refused whatever the
// answer.
func (ta *tenantAccounts) Verify(ctx context.Context, name, password []byte) (*Account, error) {
	acc, bare, t := ta.route(string(name))
	if acc == nil || bare == "" {
		if _, err := ta.super.Verify(ctx, name, password); err != nil && !isBadCredential(err) {
			return nil, err
		}
		return nil, ErrBadCredential
	}
	a, err := acc.Verify(ctx, []byte(bare), password)
	if err != nil {
		return nil, err
	}
	return ta.qualify(a, t), nil
}

// VerifyCached asks the cache of the name's tenant's accounts.
func (ta *tenantAccounts) VerifyCached(name, password []byte) *Account {
	acc, bare, t := ta.route(string(name))
	cv, ok := acc.(CachedVerifier)
	if !ok || bare == "" {
		return nil
	}
	return ta.qualify(cv.VerifyCached([]byte(bare), password), t)
}

// FoldName folds the name as its tenant's accounts do, the tenant in
// lower case: alice@ACME.com and alice@acme.com are one user to the
// throttles.
func (ta *tenantAccounts) FoldName(name string) string {
	acc, bare, t := ta.route(name)
	if acc == nil {
		return name
	}
	folded := ThrottleName(acc, bare)
	if _, given := splitTenant(name); given == "" {
		return folded
	}
	return folded + "@" + t
}

// Interface guards
var (
	_ Accounts       = (*tenantAccounts)(nil)
	_ NameFolder     = (*tenantAccounts)(nil)
	_ CachedVerifier = (*tenantAccounts)(nil)
)

// tenantWarnings are the load warnings about tenants: cross_tenant
// without tenants, and with tenants a secured rule that no /t/{tenant}/
// path can reach (WSO2's lists start with (.*) for that reason).
func (h *Handler) tenantWarnings(rules []permissions.Rule) []permissions.Finding {
	var out []permissions.Finding
	for i, r := range rules {
		name := permissions.RuleName(r.Source, i+1)
		switch {
		case !h.tenantsOn() && r.CrossTenant:
			out = append(out, permissions.Finding{Source: name, Level: "warning", Code: "tenant.none",
				Message: "cross_tenant has no effect: this rest_auth has no tenants"})
		case h.tenantsOn() && r.Secured && !reachesTenantPaths(r):
			out = append(out, permissions.Finding{Source: name, Level: "warning", Code: "tenant.unprefixed",
				Message: fmt.Sprintf("%q cannot match a /t/{tenant}/ path: the rule secures the super tenant only (start it with (.*) as WSO2's lists do, or with /t/)", r.Context)})
		}
	}
	return out
}

// reachesTenantPaths reports whether a rule's pattern can match a path
// that starts with /t/{tenant}/.
func reachesTenantPaths(r permissions.Rule) bool {
	c := strings.ToLower(r.Context)
	if r.Glob {
		return strings.HasPrefix(c, "*") || strings.HasPrefix(c, "/t/")
	}
	return strings.HasPrefix(c, "(.*)") || strings.HasPrefix(c, ".*") || strings.HasPrefix(c, "/t/") || strings.HasPrefix(c, "(.+)")
}

func isBadCredential(err error) bool { return errors.Is(err, ErrBadCredential) }

package caddyauth

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/caddyserver/caddy/v2"

	"github.com/restauth/caddy-restauth/permissions"
)

// SecondaryStore is a user store for one user-store domain, as WSO2's
// secondary user stores are: a user name DOMAIN/alice goes to this store
// only, and the principal is named DOMAIN/alice. An unqualified name (or
// PRIMARY/alice) goes to the primary store.
type SecondaryStore struct {
	// Domain is the prefix of the store's user names. A user may write it
	// in any case; principals carry it as written here (WSO2 writes
	// domains in capitals). It may not contain "/" or be PRIMARY.
	Domain string `json:"domain"`
	// StoreRaw is the store, a module in http.rest_auth.user_stores that
	// can serve a domain (a DomainStore), such as ldap.
	StoreRaw json.RawMessage `json:"store" caddy:"namespace=http.rest_auth.user_stores inline_key=store"`
}

// A DomainStore is a user store that can serve a secondary domain.
type DomainStore interface {
	UserStore
	// ServeDomain is called once, before the first Accounts, with the
	// domain the store serves; its accounts are then named DOMAIN/name.
	ServeDomain(domain string)
}

// A NameFolder is an Accounts whose names match loosely (a directory's
// case-insensitive attributes, a domain written in any case). FoldName
// gives the one spelling that every variant of a name shares, and that
// names the same account; throttles count failures under it, so that
// ALICE, Alice and alice are one user to them as they are to the store.
type NameFolder interface {
	FoldName(name string) string
}

// ThrottleName is the name a throttle counts a user's failures under: the
// store's folded spelling when it matches names loosely, else the name.
func ThrottleName(a Accounts, name string) string {
	if f, ok := a.(NameFolder); ok {
		return f.FoldName(name)
	}
	return name
}

// primaryDomain is WSO2's name for the primary store's domain.
const primaryDomain = "PRIMARY"

// LoadUserStores loads the primary store (the file store when raw is
// empty) and the secondary stores; with none of the latter it is the
// primary alone.
func LoadUserStores(ctx caddy.Context, primary json.RawMessage, secondary []SecondaryStore) (UserStore, error) {
	p, err := LoadUserStore(ctx, primary)
	if err != nil || len(secondary) == 0 {
		return p, err
	}
	ds := &domainStore{primary: p}
	for i, sec := range secondary {
		d := sec.Domain
		switch {
		case d == "":
			return nil, fmt.Errorf("secondary store %d: a domain is required", i+1)
		case strings.ContainsAny(d, "/ \t"):
			return nil, fmt.Errorf("secondary store %q: a domain cannot contain / or spaces", d)
		case strings.EqualFold(d, primaryDomain):
			return nil, fmt.Errorf("secondary store %q: PRIMARY is the primary store's domain", d)
		}
		for _, prev := range ds.domains {
			if strings.EqualFold(prev.name, d) {
				return nil, fmt.Errorf("secondary store %q: the domain is given twice", d)
			}
		}
		if len(sec.StoreRaw) == 0 {
			return nil, fmt.Errorf("secondary store %q: a store is required", d)
		}
		s, err := LoadUserStore(ctx, sec.StoreRaw)
		if err != nil {
			return nil, fmt.Errorf("secondary store %q: %w", d, err)
		}
		dstore, ok := s.(DomainStore)
		if !ok {
			return nil, fmt.Errorf("secondary store %q: this store cannot serve a domain", d)
		}
		dstore.ServeDomain(d)
		ds.domains = append(ds.domains, domain{name: d, store: dstore})
	}
	return ds, nil
}

// domainStore routes names to the store of their domain.
type domainStore struct {
	primary UserStore
	domains []domain
}

type domain struct {
	name  string
	store UserStore
}

// Accounts builds every store's view for a snapshot.
func (ds *domainStore) Accounts(users *permissions.Users, pol *permissions.Policy) (Accounts, error) {
	p, err := ds.primary.Accounts(users, pol)
	if err != nil {
		return nil, err
	}
	da := &domainAccounts{primary: p}
	for _, d := range ds.domains {
		a, err := d.store.Accounts(users, pol)
		if err != nil {
			return nil, fmt.Errorf("secondary store %q: %w", d.name, err)
		}
		da.domains = append(da.domains, domainView{name: d.name, accts: a})
	}
	return da, nil
}

type domainAccounts struct {
	primary Accounts
	domains []domainView
}

type domainView struct {
	name  string
	accts Accounts
}

// route splits DOMAIN/name: the index of a configured domain (in any
// case) and the rest of the name; PRIMARY/name and every other name go
// to the primary store (-1), whole (PRIMARY/ removed).
func (da *domainAccounts) route(name string) (int, string) {
	d, rest, ok := strings.Cut(name, "/")
	if !ok {
		return -1, name
	}
	for i, v := range da.domains {
		if strings.EqualFold(v.name, d) {
			return i, rest
		}
	}
	if strings.EqualFold(d, primaryDomain) {
		return -1, rest
	}
	return -1, name
}

func (da *domainAccounts) accounts(i int) Accounts {
	if i < 0 {
		return da.primary
	}
	return da.domains[i].accts
}

// Lookup asks the store of the name's domain.
func (da *domainAccounts) Lookup(ctx context.Context, name string) (*Account, error) {
	i, rest := da.route(name)
	if rest == "" {
		return nil, nil
	}
	return da.accounts(i).Lookup(ctx, rest)
}

// Verify asks the store of the name's domain.
func (da *domainAccounts) Verify(ctx context.Context, name, password []byte) (*Account, error) {
	i, rest := da.route(string(name))
	if rest == "" {
		return nil, ErrBadCredential
	}
	return da.accounts(i).Verify(ctx, []byte(rest), password)
}

// VerifyCached asks the cache of the name's store, when it has one.
func (da *domainAccounts) VerifyCached(name, password []byte) *Account {
	i, rest := da.route(string(name))
	cv, ok := da.accounts(i).(CachedVerifier)
	if !ok || rest == "" {
		return nil
	}
	return cv.VerifyCached([]byte(rest), password)
}

// FoldName is the domain in its configured spelling (none for the
// primary store) and the rest as its store folds it.
func (da *domainAccounts) FoldName(name string) string {
	i, rest := da.route(name)
	if i < 0 {
		return ThrottleName(da.primary, rest)
	}
	return da.domains[i].name + "/" + ThrottleName(da.domains[i].accts, rest)
}

// Interface guards
var (
	_ UserStore      = (*domainStore)(nil)
	_ Accounts       = (*domainAccounts)(nil)
	_ NameFolder     = (*domainAccounts)(nil)
	_ CachedVerifier = (*domainAccounts)(nil)
)

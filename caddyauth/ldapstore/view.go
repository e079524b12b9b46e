package ldapstore

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"strings"
	"sync/atomic"
	"time"

	"github.com/go-ldap/ldap/v3"
	"go.uber.org/zap"

	"github.com/restauth/caddy-restauth/caddyauth"
	"github.com/restauth/caddy-restauth/caddyauth/passwords"
	"github.com/restauth/caddy-restauth/permissions"
)

// A userEntry is what the directory said about a user: shared by the
// caches and every snapshot's view.
type userEntry struct {
	name   string   // as the directory spells it (UserNameAttribute)
	dn     string   // the entry's DN
	groups []string // names of the groups that hold it
	tag    string   // a digest of PasswordChangedAttribute, or ""

	acct atomic.Pointer[viewAccount] // the account for the last view that asked
}

type viewAccount struct {
	v *view
	a *caddyauth.Account
}

// view is the directory seen through one snapshot's users files: which
// groups are which roles.
type view struct {
	d      *directory
	domain string
	roles  map[string][]string // lower-case group name -> roles
}

func newView(s *LDAPStore, users *permissions.Users) *view {
	v := &view{d: s.dir, domain: s.domain, roles: map[string][]string{}}
	defined := map[string]string{} // lower-case role -> as the users files write it
	for _, r := range users.Roles {
		defined[strings.ToLower(r.Name)] = r.Name
	}
	for _, r := range users.Roles {
		v.roles[strings.ToLower(r.Name)] = []string{r.Name}
	}
	for g, roles := range s.Roles {
		// an explicit mapping wins over a same-named role
		v.roles[strings.ToLower(g)] = roles
	}
	return v
}

// account is the entry's account for this view, made once per view.
func (v *view) account(e *userEntry) *caddyauth.Account {
	if va := e.acct.Load(); va != nil && va.v == v {
		return va.a
	}
	a := &caddyauth.Account{Name: e.name, Tag: e.tag}
	if v.domain != "" {
		a.Name = v.domain + "/" + e.name
	}
	seen := map[string]bool{}
	for _, g := range e.groups {
		for _, r := range v.roles[strings.ToLower(g)] {
			if !seen[r] {
				seen[r] = true
				a.Roles = append(a.Roles, r)
			}
		}
	}
	e.acct.Store(&viewAccount{v: v, a: a})
	return a
}

// FoldName is the name in lower case: directories match user names
// without regard to case, and so do the throttles and the caches.
func (v *view) FoldName(name string) string { return strings.ToLower(name) }

// validName refuses what no directory user is called and what must never
// reach a filter unescaped or a bind at all.
func validName(name []byte) bool {
	return len(name) > 0 && len(name) <= maxNameLen && bytes.IndexByte(name, 0) < 0
}

// Verify checks a password by binding as the user: a cached verified
// credential first, else one search and one bind for all concurrent
// requests with it. An empty password is refused before anything is
// sent (a bind without a password is an anonymous bind, which succeeds).
func (v *view) Verify(_ context.Context, name, password []byte) (*caddyauth.Account, error) {
	if len(password) == 0 || len(password) > passwords.MaxPassword || !validName(name) {
		return nil, caddyauth.ErrBadCredential
	}
	d := v.d
	folded := strings.ToLower(string(name))
	ak := passwords.AccountKey(folded, d.tag)
	key := passwords.CredKey(&ak, password)
	if d.cfg.CacheTTL > 0 {
		if e, ok := d.creds.get(key); ok {
			cacheHit.Inc()
			return v.account(e), nil
		}
		cacheMiss.Inc()
	}
	if ok, wait := d.health.allow(time.Now()); !ok {
		return nil, &caddyauth.Unavailable{RetryAfter: retryAfter(wait), Err: errKnownDown}
	}
	r, err, _ := d.flight.Do("v"+string(key[:]), func() (any, error) {
		return d.verify(string(name), folded, key, password)
	})
	if err != nil {
		return nil, err
	}
	return v.account(r.(*userEntry)), nil
}

// VerifyCached answers from the cache of verified credentials alone.
func (v *view) VerifyCached(name, password []byte) *caddyauth.Account {
	if len(password) == 0 || !validName(name) || v.d.cfg.CacheTTL <= 0 {
		return nil
	}
	ak := passwords.AccountKey(strings.ToLower(string(name)), v.d.tag)
	if e, ok := v.d.creds.get(passwords.CredKey(&ak, password)); ok {
		cacheHit.Inc()
		return v.account(e)
	}
	return nil
}

// Lookup finds a user by name (a bearer token's or a certificate's user)
// with its groups; nil when the directory has no such user, or more than
// one.
func (v *view) Lookup(_ context.Context, name string) (*caddyauth.Account, error) {
	if !validName([]byte(name)) {
		return nil, nil
	}
	d := v.d
	folded := strings.ToLower(name)
	if d.cfg.LookupTTL > 0 {
		if e, ok := d.users.get(folded); ok {
			lookupHit.Inc()
			if e == nil {
				return nil, nil
			}
			return v.account(e), nil
		}
		lookupMiss.Inc()
	}
	if ok, wait := d.health.allow(time.Now()); !ok {
		return nil, &caddyauth.Unavailable{RetryAfter: retryAfter(wait), Err: errKnownDown}
	}
	r, err, _ := d.flight.Do("l"+folded, func() (any, error) {
		return d.lookup(name, folded)
	})
	if err != nil {
		return nil, err
	}
	if e := r.(*userEntry); e != nil {
		return v.account(e), nil
	}
	return nil, nil
}

var errKnownDown = errors.New("the directory is down (backing off)")

func retryAfter(wait time.Duration) time.Duration {
	return max(wait.Round(time.Second), time.Second)
}

// unavailable is the error for a request the directory could not answer.
func (d *directory) unavailable(err error) error {
	return &caddyauth.Unavailable{RetryAfter: time.Second, Err: err}
}

// errNoUser and errAmbiguous are findUser's refusals.
var (
	errNoUser    = errors.New("no such user")
	errAmbiguous = errors.New("the user filter matches more than one entry")
)

// verify asks the directory: find the entry, bind as it, read its groups.
// An unknown name (or one that matches several entries) is answered by a
// bind of a made-up DN, so that it costs what a wrong password costs.
func (d *directory) verify(name, folded string, key [32]byte, password []byte) (*userEntry, error) {
	entry, err := d.findUser(name)
	switch {
	case errors.Is(err, errNoUser), errors.Is(err, errAmbiguous):
		if err := d.bindAs(d.madeUpDN(), password); transient(err) {
			return nil, d.unavailable(err)
		}
		return nil, caddyauth.ErrBadCredential
	case err != nil:
		return nil, d.unavailable(err)
	}
	if err := d.bindAs(entry.DN, password); err != nil {
		if ldap.IsErrorWithCode(err, ldap.LDAPResultInvalidCredentials) {
			return nil, caddyauth.ErrBadCredential
		}
		return nil, d.unavailable(err)
	}
	e, err := d.newEntry(entry, name)
	if err != nil {
		return nil, d.unavailable(err)
	}
	if d.cfg.CacheTTL > 0 {
		d.creds.put(key, e, time.Duration(d.cfg.CacheTTL))
	}
	if d.cfg.LookupTTL > 0 {
		d.users.put(folded, e, time.Duration(d.cfg.LookupTTL))
	}
	return e, nil
}

// lookup finds a user and its groups without a password.
func (d *directory) lookup(name, folded string) (*userEntry, error) {
	entry, err := d.findUser(name)
	switch {
	case errors.Is(err, errNoUser), errors.Is(err, errAmbiguous):
		if d.cfg.LookupTTL > 0 {
			d.users.put(folded, nil, min(time.Duration(d.cfg.LookupTTL), unknownUserLookupTTL))
		}
		return nil, nil
	case err != nil:
		return nil, d.unavailable(err)
	}
	e, err := d.newEntry(entry, name)
	if err != nil {
		return nil, d.unavailable(err)
	}
	if d.cfg.LookupTTL > 0 {
		d.users.put(folded, e, time.Duration(d.cfg.LookupTTL))
	}
	return e, nil
}

// newEntry reads a found user's name, tag and groups.
func (d *directory) newEntry(entry *ldap.Entry, asked string) (*userEntry, error) {
	e := &userEntry{dn: entry.DN, name: entry.GetEqualFoldAttributeValue(d.cfg.UserNameAttribute)}
	if e.name == "" {
		e.name = asked
	}
	if a := d.cfg.PasswordChangedAttribute; a != "" {
		if v := entry.GetEqualFoldRawAttributeValue(a); len(v) > 0 {
			sum := sha256.Sum256(v)
			e.tag = hex.EncodeToString(sum[:16])
		}
	}
	groups, err := d.groupsOf(entry, e.name)
	if err != nil {
		return nil, err
	}
	e.groups = groups
	return e, nil
}

// madeUpDN is a DN no user has, under the user base: a bind to it fails
// as a wrong password does.
func (d *directory) madeUpDN() string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	return "cn=nobody-" + hex.EncodeToString(b[:]) + "," + d.cfg.UserBaseDN
}

// findUser searches for exactly one entry with the service account.
func (d *directory) findUser(name string) (*ldap.Entry, error) {
	attrs := []string{d.cfg.UserNameAttribute}
	if d.cfg.MemberOfAttribute != "" {
		attrs = append(attrs, d.cfg.MemberOfAttribute)
	}
	if d.cfg.PasswordChangedAttribute != "" {
		attrs = append(attrs, d.cfg.PasswordChangedAttribute)
	}
	filter := userFilter(d.cfg.UserFilter, name)
	req := ldap.NewSearchRequest(d.cfg.UserBaseDN, ldap.ScopeWholeSubtree, ldap.NeverDerefAliases,
		2, int(d.timeout/time.Second)+1, false, filter, attrs, nil)
	res, err := d.searchReq(req)
	switch {
	case ldap.IsErrorWithCode(err, ldap.LDAPResultSizeLimitExceeded), err == nil && len(res.Entries) > 1:
		d.ambiguous(name)
		return nil, errAmbiguous
	case err != nil:
		return nil, err
	case len(res.Entries) == 0:
		return nil, errNoUser
	}
	return res.Entries[0], nil
}

// userFilter fills a user filter with a name escaped per RFC 4515: every
// *, (, ), \, NUL and non-ASCII byte as \XX, so that a name is only ever
// a value (FuzzUserFilter).
func userFilter(tmpl, name string) string {
	return strings.ReplaceAll(tmpl, "{username}", ldap.EscapeFilter(name))
}

// ambiguous logs, at most once a minute, that a name matched several
// entries (a refusal: the first entry is never taken).
func (d *directory) ambiguous(name string) {
	now := time.Now().Unix()
	if last := lastAmbiguous.Load(); now-last >= 60 && lastAmbiguous.CompareAndSwap(last, now) {
		d.logger.Warn("ldap: a user name matches more than one entry; refused (check user_filter)", zap.String("user", name))
	}
}

var lastAmbiguous atomic.Int64

// searchReq runs a search on a pooled service connection. Referrals are
// never followed.
func (d *directory) searchReq(req *ldap.SearchRequest) (*ldap.SearchResult, error) {
	c, err := d.search.get()
	if err != nil {
		d.observe(err)
		return nil, err
	}
	res, err := c.Search(req)
	count("search", err)
	d.search.put(c, err)
	d.observe(err)
	return res, err
}

// bindAs binds a DN with a password on a pooled connection of its own
// (never the search connections, whose identity must stay the service
// account's).
func (d *directory) bindAs(dn string, password []byte) error {
	c, err := d.bind.get()
	if err != nil {
		d.observe(err)
		return err
	}
	err = c.Bind(dn, string(password))
	count("bind", err)
	d.bind.put(c, err)
	d.observe(err)
	return err
}

// Interface guards
var (
	_ caddyauth.Accounts       = (*view)(nil)
	_ caddyauth.NameFolder     = (*view)(nil)
	_ caddyauth.CachedVerifier = (*view)(nil)
)

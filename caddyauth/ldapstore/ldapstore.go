// Package ldapstore is a user store on an LDAP v3 directory: OpenLDAP,
// 389 Directory Server or Active Directory (module
// http.rest_auth.user_stores.ldap). It plays the part of WSO2's
// ReadOnlyLDAPUserStoreManager and ActiveDirectoryUserStoreManager, as the
// primary store of rest_auth and oauth2_server or as a secondary store of
// one domain (DOMAIN/alice).
//
// A password is checked by binding as the user: a service account finds
// the user's entry (exactly one), and the user's DN and password are bound
// on a connection of their own; nothing is ever compared with a hash read
// from the directory. The user's groups, from a group search or a
// memberOf-style attribute, become roles of the users files (which keep
// the roles' permissions and scopes). Verified credentials and looked-up
// users are cached for a while, under keyed hashes, never the password; a
// directory that is down or slow answers 503 at once while it is known
// down, and is probed again after a back-off.
package ldapstore

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/go-ldap/ldap/v3"
	"go.uber.org/zap"

	"github.com/restauth/caddy-restauth/caddyauth"
	"github.com/restauth/caddy-restauth/permissions"
)

func init() {
	caddy.RegisterModule(LDAPStore{})
}

// LDAPStore is a user store on an LDAP directory. The defaults fit
// OpenLDAP with inetOrgPerson users and groupOfNames groups; README.md
// gives the values for Active Directory.
type LDAPStore struct {
	// URLs are the directory's addresses, ldap:// or ldaps://, tried in
	// order: one that cannot be reached is skipped for its back-off.
	URLs []string `json:"urls,omitempty"`
	// StartTLS upgrades ldap:// connections with the StartTLS operation
	// before anything else is sent.
	StartTLS bool `json:"start_tls,omitempty"`
	// CAFiles are PEM files with the certificates of the CAs that may sign
	// the directory's certificate. Default: the system's roots.
	CAFiles []string `json:"ca_files,omitempty"`
	// ServerName is the name the directory's certificate must hold.
	// Default: each URL's host.
	ServerName string `json:"server_name,omitempty"`
	// BindDN is the service account that searches for users and groups.
	// Empty: searches are anonymous.
	BindDN string `json:"bind_dn,omitempty"`
	// BindPassword is the service account's password; placeholders such
	// as {env.LDAP_BIND_PASSWORD} are replaced when the config loads.
	BindPassword string `json:"bind_password,omitempty"`
	// UserBaseDN is where users are searched (the whole subtree).
	UserBaseDN string `json:"user_base_dn,omitempty"`
	// UserFilter finds one user; {username} is the name as sent, escaped
	// for a filter (RFC 4515). Default
	// (&(objectClass=inetOrgPerson)(uid={username})); Active Directory:
	// (&(objectClass=user)(sAMAccountName={username})).
	UserFilter string `json:"user_filter,omitempty"`
	// UserNameAttribute holds the user name as the directory spells it;
	// principals carry that spelling. Default uid; AD: sAMAccountName.
	UserNameAttribute string `json:"user_name_attribute,omitempty"`
	// GroupBaseDN is where groups are searched. Without it (and without
	// MemberOfAttribute) users have no groups.
	GroupBaseDN string `json:"group_base_dn,omitempty"`
	// GroupFilter finds the groups that hold a user: {dn} is the user's
	// DN and {username} the user name, both escaped for a filter. Default
	// (&(objectClass=groupOfNames)(member={dn})); with nested_groups
	// in_chain, (&(objectClass=group)(member:1.2.840.113556.1.4.1941:={dn})).
	GroupFilter string `json:"group_filter,omitempty"`
	// GroupNameAttribute names a group found by the search. Default cn.
	GroupNameAttribute string `json:"group_name_attribute,omitempty"`
	// MemberOfAttribute reads the user's groups from this attribute of
	// the user's entry (memberOf: Active Directory, OpenLDAP's memberof
	// overlay) instead of a group search; a group's name is the value of
	// its DN's first part (cn=admins,ou=groups,... is admins).
	MemberOfAttribute string `json:"member_of_attribute,omitempty"`
	// NestedGroups also gives a user the groups that hold its groups:
	// "search" asks the directory level by level (any directory; up to
	// NestedDepth levels), "in_chain" lets Active Directory resolve the
	// chain in one search (LDAP_MATCHING_RULE_IN_CHAIN). Default: off.
	NestedGroups string `json:"nested_groups,omitempty"`
	// NestedDepth bounds "search" nesting. Default 5.
	NestedDepth int `json:"nested_depth,omitempty"`
	// Roles maps a group name (any case) to role names of the users
	// files. A group without an entry is the role of the same name when
	// the users files define one, and is otherwise ignored.
	Roles map[string][]string `json:"roles,omitempty"`
	// PasswordChangedAttribute is an attribute that changes with the
	// password (AD: pwdLastSet; OpenLDAP with ppolicy: pwdChangedTime).
	// With it the token service ends a user's refresh tokens when the
	// password changes, as it does for the file store. Default: none.
	PasswordChangedAttribute string `json:"password_changed_attribute,omitempty"`
	// Timeout bounds each dial, bind and search. Default 3s.
	Timeout caddy.Duration `json:"timeout,omitempty"`
	// PoolSize is the most connections of each kind (searches as the
	// service account, binds as users). Default 8.
	PoolSize int `json:"pool_size,omitempty"`
	// CacheTTL is how long a verified credential is taken without asking
	// the directory (so a changed password, a disabled account or a
	// moved user takes effect within it). Default 5m; -1 (off in the
	// Caddyfile) asks every time.
	CacheTTL caddy.Duration `json:"cache_ttl,omitempty"`
	// LookupTTL is how long a user looked up by name (a bearer token's or
	// a certificate's user) keeps its groups. Default 5m; -1 is off.
	LookupTTL caddy.Duration `json:"lookup_ttl,omitempty"`
	// CacheSize bounds each cache. Default 10000.
	CacheSize int `json:"cache_size,omitempty"`

	domain string
	dir    *directory
	key    string // the directory's key in the pool
	logger *zap.Logger
}

// CaddyModule returns the Caddy module information.
func (LDAPStore) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "http.rest_auth.user_stores.ldap",
		New: func() caddy.Module { return new(LDAPStore) },
	}
}

// Defaults.
const (
	defaultUserFilter     = "(&(objectClass=inetOrgPerson)(uid={username}))"
	defaultGroupFilter    = "(&(objectClass=groupOfNames)(member={dn}))"
	defaultInChainFilter  = "(&(objectClass=group)(member:1.2.840.113556.1.4.1941:={dn}))"
	defaultTimeout        = 3 * time.Second
	defaultPoolSize       = 8
	defaultCacheTTL       = 5 * time.Minute
	defaultCacheSize      = 10000
	defaultNestedDepth    = 5
	nestedSearch          = "search"
	nestedInChain         = "in_chain"
	maxNameLen            = 256
	unknownUserLookupTTL  = 30 * time.Second
	maxBackoff            = 30 * time.Second
	firstBackoff          = time.Second
	maxGroupsPerUser      = 1000
	directoryPoolKeyLabel = "ldap"
)

// Provision fills in defaults, checks the settings and connects to the
// directory (or takes the connections a previous config with the same
// settings left).
func (s *LDAPStore) Provision(ctx caddy.Context) error {
	s.logger = ctx.Logger()
	repl := caddy.NewReplacer()
	s.BindPassword = repl.ReplaceKnown(s.BindPassword, "")
	s.BindDN = repl.ReplaceKnown(s.BindDN, "")
	for i, u := range s.URLs {
		s.URLs[i] = repl.ReplaceKnown(u, "")
	}
	if s.UserFilter == "" {
		s.UserFilter = defaultUserFilter
	}
	if s.UserNameAttribute == "" {
		s.UserNameAttribute = "uid"
	}
	if s.GroupFilter == "" {
		s.GroupFilter = defaultGroupFilter
		if s.NestedGroups == nestedInChain {
			s.GroupFilter = defaultInChainFilter
		}
	}
	if s.GroupNameAttribute == "" {
		s.GroupNameAttribute = "cn"
	}
	if s.NestedDepth == 0 {
		s.NestedDepth = defaultNestedDepth
	}
	if s.Timeout == 0 {
		s.Timeout = caddy.Duration(defaultTimeout)
	}
	if s.PoolSize == 0 {
		s.PoolSize = defaultPoolSize
	}
	if s.CacheTTL == 0 {
		s.CacheTTL = caddy.Duration(defaultCacheTTL)
	}
	if s.LookupTTL == 0 {
		s.LookupTTL = caddy.Duration(defaultCacheTTL)
	}
	if s.CacheSize == 0 {
		s.CacheSize = defaultCacheSize
	}
	if err := caddyauth.RegisterCollectors(ctx.GetMetricsRegistry(), collectors()...); err != nil {
		return err
	}
	return nil
}

// Validate refuses settings that cannot work, or that would be unsafe: a
// service account without a password would be an unauthenticated bind,
// which a directory lets through as anonymous.
func (s *LDAPStore) Validate() error {
	if len(s.URLs) == 0 {
		return errors.New("ldap: url is required (ldap://host:389 or ldaps://host:636)")
	}
	for _, raw := range s.URLs {
		u, err := url.Parse(raw)
		if err != nil || (u.Scheme != "ldap" && u.Scheme != "ldaps") || u.Host == "" {
			return fmt.Errorf("ldap: url %q: write ldap://host[:port] or ldaps://host[:port]", raw)
		}
		if u.Scheme == "ldaps" && s.StartTLS {
			return fmt.Errorf("ldap: url %q is ldaps://, which is TLS already: start_tls is for ldap:// URLs", raw)
		}
	}
	if s.BindDN != "" && s.BindPassword == "" {
		return errors.New("ldap: bind_dn without bind_password: an empty password is an unauthenticated bind, which a directory treats as anonymous")
	}
	if s.BindDN == "" && s.BindPassword != "" {
		return errors.New("ldap: bind_password without bind_dn")
	}
	if s.UserBaseDN == "" {
		return errors.New("ldap: user_base_dn is required (where users are searched, e.g. ou=people,dc=example,dc=org)")
	}
	for _, dn := range []struct{ name, v string }{{"user_base_dn", s.UserBaseDN}, {"group_base_dn", s.GroupBaseDN}, {"bind_dn", s.BindDN}} {
		if dn.v == "" {
			continue
		}
		if _, err := ldap.ParseDN(dn.v); err != nil {
			return fmt.Errorf("ldap: %s %q is not a DN: %v", dn.name, dn.v, err)
		}
	}
	if !strings.Contains(s.UserFilter, "{username}") {
		return fmt.Errorf("ldap: user_filter %q must contain {username}", s.UserFilter)
	}
	if err := checkFilter("user_filter", s.UserFilter); err != nil {
		return err
	}
	if s.GroupBaseDN != "" {
		if !strings.Contains(s.GroupFilter, "{dn}") && !strings.Contains(s.GroupFilter, "{username}") {
			return fmt.Errorf("ldap: group_filter %q must contain {dn} or {username}", s.GroupFilter)
		}
		if err := checkFilter("group_filter", s.GroupFilter); err != nil {
			return err
		}
	}
	switch s.NestedGroups {
	case "", nestedSearch, nestedInChain:
	default:
		return fmt.Errorf("ldap: nested_groups must be search or in_chain, not %q", s.NestedGroups)
	}
	if s.NestedGroups != "" && s.GroupBaseDN == "" {
		return errors.New("ldap: nested_groups needs group_base_dn (where the groups of groups are searched)")
	}
	if s.NestedDepth < 1 || s.NestedDepth > 20 {
		return errors.New("ldap: nested_depth must be between 1 and 20")
	}
	if s.Timeout < 0 || s.PoolSize < 1 || s.CacheSize < 1 {
		return errors.New("ldap: timeout, pool_size and cache_size must be positive")
	}
	for g, roles := range s.Roles {
		if g == "" || len(roles) == 0 {
			return fmt.Errorf("ldap: roles: group %q needs at least one role", g)
		}
	}
	return nil
}

// checkFilter compiles a filter template with its placeholders filled.
func checkFilter(name, tmpl string) error {
	f := strings.NewReplacer("{username}", "x", "{dn}", "cn=x").Replace(tmpl)
	if _, err := ldap.CompileFilter(f); err != nil {
		return fmt.Errorf("ldap: %s %q is not an LDAP filter: %v", name, tmpl, err)
	}
	return nil
}

// ServeDomain makes the store a secondary store of a domain: its
// principals are named DOMAIN/name.
func (s *LDAPStore) ServeDomain(domain string) { s.domain = domain }

// Accounts returns the directory's view for a snapshot: the users files'
// roles decide which groups are roles.
func (s *LDAPStore) Accounts(users *permissions.Users, _ *permissions.Policy) (caddyauth.Accounts, error) {
	if s.dir == nil {
		if err := s.open(); err != nil {
			return nil, err
		}
	}
	return newView(s, users), nil
}

// open takes the shared directory for these settings, or makes it.
func (s *LDAPStore) open() error {
	cfg, err := json.Marshal(s)
	if err != nil {
		return err
	}
	s.key = directoryPoolKeyLabel + "\x00" + s.domain + "\x00" + string(cfg)
	v, _, err := directories.LoadOrNew(s.key, func() (caddy.Destructor, error) {
		return newDirectory(s)
	})
	if err != nil {
		return fmt.Errorf("ldap: %w", err)
	}
	s.dir = v.(*directory)
	return nil
}

// Cleanup lets go of the shared directory; the last config to use it
// closes its connections.
func (s *LDAPStore) Cleanup() error {
	if s.key != "" {
		_, _ = directories.Delete(s.key)
		s.key, s.dir = "", nil
	}
	return nil
}

// directories are shared across config reloads with the same settings, so
// a reload keeps the connections and the caches (clients do not pay a
// round trip again).
var directories = caddy.NewUsagePool()

// tlsConfig is the TLS configuration for the directory's certificate.
func (s *LDAPStore) tlsConfig(host string) (*tls.Config, error) {
	cfg := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: s.ServerName}
	if cfg.ServerName == "" {
		cfg.ServerName = host
	}
	if len(s.CAFiles) > 0 {
		pool := x509.NewCertPool()
		for _, f := range s.CAFiles {
			pem, err := os.ReadFile(f)
			if err != nil {
				return nil, fmt.Errorf("ca_files: %w", err)
			}
			if !pool.AppendCertsFromPEM(pem) {
				return nil, fmt.Errorf("ca_files: %s holds no PEM certificate", f)
			}
		}
		cfg.RootCAs = pool
	}
	return cfg, nil
}

// Interface guards
var (
	_ caddyauth.UserStore   = (*LDAPStore)(nil)
	_ caddyauth.DomainStore = (*LDAPStore)(nil)
	_ caddy.Provisioner     = (*LDAPStore)(nil)
	_ caddy.Validator       = (*LDAPStore)(nil)
	_ caddy.CleanerUpper    = (*LDAPStore)(nil)
)

package caddyauth

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.uber.org/zap"

	"github.com/restauth/caddy-restauth/permissions"
)

func init() {
	caddy.RegisterModule(Handler{})
}

// Handler authenticates and authorizes REST API requests the way WSO2
// Identity Server does: the first resource rule whose context pattern and
// method match the request decides whether credentials are needed and which
// permissions or scopes the caller must hold.
//
// Requests that are denied never reach the next handler: they get a JSON
// body with 400, 401, 403, 429 or 503.
type Handler struct {
	// Name identifies this handler in the admin API and in logs.
	Name string `json:"name,omitempty"`
	// Users are users.toml files: roles with permissions and scopes, and
	// users with password hashes and roles.
	Users []string `json:"users,omitempty"`
	// Resources are files in WSO2's deployment.toml form
	// ([[resource.access_control]] entries). Their rules come after Rules.
	Resources []string `json:"resources,omitempty"`
	// DefaultAccess is "deny" (the default) or "allow": what happens to a
	// request no rule matches. It wins over the files' default_access.
	DefaultAccess string `json:"default_access,omitempty"`
	// PermissionMatch is "all" (the default) or "any": whether a rule with
	// several permissions needs all of them or one.
	PermissionMatch string `json:"permission_match,omitempty"`
	// CORSPreflight passes CORS preflight requests (OPTIONS with Origin and
	// Access-Control-Request-Method) on unauthenticated. Default true.
	CORSPreflight *bool `json:"cors_preflight,omitempty"`
	// ForwardIdentity sets X-Restauth-User, X-Restauth-Roles,
	// X-Restauth-Scopes and X-Restauth-Auth-Method on the request for the
	// upstream. Client-sent copies are deleted whether or not it is set.
	ForwardIdentity bool `json:"forward_identity,omitempty"`
	// Rules are resource rules written in the Caddyfile. They are tried
	// before the rules of Resources files, in order.
	Rules []RuleConfig `json:"rules,omitempty"`
	// Watch reloads the users and resources files when they change
	// (checked every WatchInterval, default 1s; a change is applied once
	// the file has stayed the same for one more interval). A bad file is
	// logged and the running policy stays.
	Watch bool `json:"watch,omitempty"`
	// WatchInterval is how often watched files are looked at.
	WatchInterval caddy.Duration `json:"watch_interval,omitempty"`
	// Tenants are WSO2 tenants: each its own users and roles under these
	// rules. With tenants (or SuperTenant set), a request to /t/{tenant}/
	// acts in that tenant and user@tenant names a tenant's user; an
	// unknown or inactive tenant gets 404, and a user acting in another
	// tenant is refused unless the rule allows it (cross_tenant). The top
	// level's users and user store are the super tenant's.
	Tenants []Tenant `json:"tenants,omitempty"`
	// SuperTenant is the super tenant's name. Default carbon.super.
	SuperTenant string `json:"super_tenant,omitempty"`
	// AuthenticatorsRaw are the authentication handlers, tried in this
	// order. Default: basic alone.
	AuthenticatorsRaw []json.RawMessage `json:"authenticators,omitempty" caddy:"namespace=http.rest_auth.authenticators inline_key=handler"`
	// AuthorizersRaw are extra authorizers that run after the permission
	// check on secured rules; all that apply must allow. A rule may name
	// the ones that apply to it.
	AuthorizersRaw []json.RawMessage `json:"authorizers,omitempty" caddy:"namespace=http.rest_auth.authorizers inline_key=authorizer"`
	// LogDenials is how denied requests are logged: "sampled" (the
	// default: per reason, the first LogDenialsFirst a second in full,
	// then one in LogDenialsThereafter, and a summary line each second
	// with the exact count of the others), "all" (a line each) or "off".
	// The metrics count every denial in every mode.
	LogDenials string `json:"log_denials,omitempty"`
	// LogDenialsFirst is how many denials of a reason a second are logged
	// in full. Default 10.
	LogDenialsFirst int `json:"log_denials_first,omitempty"`
	// LogDenialsThereafter: beyond the first, one denial in this many is
	// logged. Default 1000.
	LogDenialsThereafter int `json:"log_denials_thereafter,omitempty"`
	// UserStoreRaw is where accounts come from, a module in
	// http.rest_auth.user_stores. Default: file (the users files' own
	// [[users]]).
	UserStoreRaw json.RawMessage `json:"user_store,omitempty" caddy:"namespace=http.rest_auth.user_stores inline_key=store"`
	// SecondaryStores are WSO2's secondary user stores: DOMAIN/alice is
	// looked up in the store of DOMAIN only; other names in UserStoreRaw.
	SecondaryStores []SecondaryStore `json:"secondary_stores,omitempty"`

	authenticators  []Authenticator
	authorizers     []Authorizer
	authorizerNames []string          // from the config, before loading (offline tools too)
	authNames       []string          // their names, in order
	authJSON        []json.RawMessage // the configs, kept for the admin listing
	authorizerJSON  []json.RawMessage
	stripFields     []string // request fields an authenticator reads that must not go upstream
	removers        []CredentialRemover
	reloadMu        *sync.Mutex
	metrics         *handlerMetrics
	denials         *denialLog
	watcher         *watcher
	store           *atomic.Pointer[Snapshot]
	userStore       UserStore
	defaultAccess   *permissions.Access
	logger          *zap.Logger
}

// RuleConfig is a resource rule written in the Caddyfile or JSON config.
type RuleConfig struct {
	// Path is a Caddy path-matcher pattern such as /api/* (case-insensitive,
	// whole path).
	Path string `json:"path"`
	// Methods the rule covers; empty means all. GET also covers HEAD.
	Methods []string `json:"methods,omitempty"`
	// Secured: whether the rule needs an authenticated caller. Default true.
	Secured *bool `json:"secured,omitempty"`
	// Permissions needed, such as /permission/admin/login, or none.
	Permissions []string `json:"permissions,omitempty"`
	// Scopes needed.
	Scopes []string `json:"scopes,omitempty"`
	// AuthHandlers are the authentication handlers allowed on the rule
	// (basic, bearer, client_cert or WSO2's names); empty means all.
	AuthHandlers []string `json:"auth_handlers,omitempty"`
	// Authorizers names the configured authorizers that apply to this
	// rule; empty means all of them.
	Authorizers []string `json:"authorizers,omitempty"`
	// CrossTenant lets users of other tenants than the request's use the
	// rule: those of CrossTenantAllowed, or of every tenant when it is
	// empty (WSO2's cross_tenant and cross_access_allowed_tenants).
	CrossTenant        bool     `json:"cross_tenant,omitempty"`
	CrossTenantAllowed []string `json:"cross_tenant_allowed,omitempty"`
	// RequireBinding makes tokens on this rule sender-constrained: "mtls"
	// (bound to the client certificate), "dpop" (to a DPoP key) or "any".
	RequireBinding string `json:"require_binding,omitempty"`
	// Source is where the rule was written ("Caddyfile:12"), for errors,
	// lint, logs and the admin API; the Caddyfile adapter fills it.
	Source string `json:"source,omitempty"`
}

// CaddyModule returns the Caddy module information.
func (Handler) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "http.handlers.rest_auth",
		New: func() caddy.Module { return new(Handler) },
	}
}

// A HeaderStripper is an authenticator that reads request fields which
// must never reach the upstream (an API key, client_cert's header-mode
// user). rest_auth deletes them, in any case and with '_' for '-', from
// every request it passes on. Implementing it is optional.
type HeaderStripper interface {
	StripHeaders() []string
}

// A CredentialRemover takes its credential out of a request before the
// request goes on (a token in a cookie or a query parameter), beyond the
// header fields a HeaderStripper names; like those, on every request the
// handler passes on. RemovesCredentials is asked once, when the handler is
// provisioned: false means there is nothing to remove.
type CredentialRemover interface {
	RemovesCredentials() bool
	RemoveCredentials(r *http.Request)
}

// Provision loads the authenticators and the files and compiles the policy.
func (h *Handler) Provision(ctx caddy.Context) error {
	h.logger = ctx.Logger()
	h.store = new(atomic.Pointer[Snapshot])
	if err := h.settle(); err != nil {
		return err
	}
	if len(h.AuthenticatorsRaw) == 0 {
		h.AuthenticatorsRaw = []json.RawMessage{json.RawMessage(`{"handler":"basic"}`)}
	}
	h.authJSON = append([]json.RawMessage(nil), h.AuthenticatorsRaw...) // LoadModule clears the field
	mods, err := ctx.LoadModule(h, "AuthenticatorsRaw")
	if err != nil {
		return fmt.Errorf("loading authenticators: %w", err)
	}
	seen := map[string]bool{}
	for _, m := range mods.([]any) {
		a := m.(Authenticator)
		if seen[a.Name()] {
			return fmt.Errorf("authenticator %q configured twice", a.Name())
		}
		seen[a.Name()] = true
		h.authenticators = append(h.authenticators, a)
		h.authNames = append(h.authNames, a.Name())
		if hs, ok := a.(HeaderStripper); ok {
			h.stripFields = append(h.stripFields, hs.StripHeaders()...)
		}
		if cr, ok := a.(CredentialRemover); ok && cr.RemovesCredentials() {
			h.removers = append(h.removers, cr)
		}
	}
	if len(h.AuthorizersRaw) > 0 {
		h.authorizerJSON = append([]json.RawMessage(nil), h.AuthorizersRaw...)
		mods, err := ctx.LoadModule(h, "AuthorizersRaw")
		if err != nil {
			return fmt.Errorf("loading authorizers: %w", err)
		}
		h.authorizerNames = nil
		for _, m := range mods.([]any) {
			h.authorizers = append(h.authorizers, m.(Authorizer))
			h.authorizerNames = append(h.authorizerNames, m.(Authorizer).Name())
		}
	}
	if h.userStore, err = LoadUserStores(ctx, h.UserStoreRaw, h.SecondaryStores); err != nil {
		return err
	}
	if err := h.checkTenants(); err != nil {
		return err
	}
	if err := h.loadTenantStores(func(raw json.RawMessage) (UserStore, error) { return LoadUserStore(ctx, raw) }); err != nil {
		return err
	}
	s, err := h.load()
	if err != nil {
		return err
	}
	h.store.Store(s)
	h.logWarnings(s)
	h.reloadMu = new(sync.Mutex)
	if err := RegisterMetrics(ctx.GetMetricsRegistry()); err != nil {
		return fmt.Errorf("registering metrics: %w", err)
	}
	h.metrics = newHandlerMetrics(h.Name, h.authNames)
	h.denials = newDenialLog(h.logger, h.Name, h.LogDenials, h.LogDenialsFirst, h.LogDenialsThereafter)
	if h.Watch {
		h.watcher = startWatcher(h, time.Duration(h.WatchInterval))
	}
	register(h)
	return nil
}

// settle reads the settings that need parsing.
func (h *Handler) settle() error {
	// offline tools see the configs only: a "name" field, else the module
	h.authorizerNames = nil
	for i, n := range moduleNames(h.AuthorizersRaw, "name") {
		if n == "" {
			n = moduleNames(h.AuthorizersRaw[i:i+1], "authorizer")[0]
		}
		h.authorizerNames = append(h.authorizerNames, n)
	}
	if h.DefaultAccess != "" {
		a, err := permissions.ParseAccess(h.DefaultAccess)
		if err != nil {
			return err
		}
		h.defaultAccess = &a
	}
	return nil
}

// Reload re-reads the users and resources files and swaps the new policy
// in whole. On any error the running policy stays and the error is
// returned. Concurrent reloads of one handler run one at a time.
func (h *Handler) Reload() (ReloadResult, error) {
	h.reloadMu.Lock()
	defer h.reloadMu.Unlock()
	s, err := h.load()
	if err != nil {
		CountReload(false)
		h.logger.Error("reload refused; the running policy stays", zap.String("handler", h.Name), zap.Error(err))
		return ReloadResult{}, err
	}
	CountReload(true)
	h.store.Store(s)
	h.logWarnings(s)
	res := ReloadResult{Rules: s.Policy.Len(), Roles: len(s.Users.Roles), Users: len(s.Users.Users)}
	h.logger.Info("policy reloaded", zap.String("handler", h.Name),
		zap.Int("rules", res.Rules), zap.Int("roles", res.Roles), zap.Int("users", res.Users))
	return res, nil
}

// load reads the users and resources files and compiles a new Store. It
// changes nothing: the caller swaps the result in.
func (h *Handler) load() (*Snapshot, error) {
	var rules []permissions.Rule
	var warnings []permissions.Finding
	for i, rc := range h.Rules {
		r, err := rc.rule()
		if err != nil {
			return nil, fmt.Errorf("%s: %w", permissions.RuleName(rc.Source, i+1), err)
		}
		rules = append(rules, r)
	}
	var fileDefault *permissions.Access
	var fileDefaultFrom string
	for _, path := range h.Resources {
		res, err := permissions.LoadResources(path)
		if err != nil {
			return nil, err
		}
		warnings = append(warnings, res.Warnings...)
		if res.Default != nil {
			if fileDefault != nil && *fileDefault != *res.Default && h.defaultAccess == nil {
				return nil, fmt.Errorf("%s: default_access %s disagrees with %s (%s); set default_access in the Caddyfile",
					path, res.Default, fileDefaultFrom, fileDefault)
			}
			fileDefault, fileDefaultFrom = res.Default, path
		}
		rules = append(rules, res.Rules...)
	}
	opts := permissions.Options{Default: permissions.Deny}
	switch {
	case h.defaultAccess != nil:
		opts.Default = *h.defaultAccess
	case fileDefault != nil:
		opts.Default = *fileDefault
	}
	switch strings.ToLower(h.PermissionMatch) {
	case "", "all":
	case "any":
		opts.AnyPermission = true
	default:
		return nil, fmt.Errorf("permission_match must be all or any, not %q", h.PermissionMatch)
	}
	for i := range rules {
		rules[i].Handlers = canonicalHandlers(rules[i].Handlers)
		for _, n := range rules[i].Authorizers {
			if !slices.Contains(h.authorizerNames, n) {
				return nil, fmt.Errorf("%s: names authorizer %q, which is not configured%s", permissions.RuleName(rules[i].Source, i+1),
					n, permissions.DidYouMean(n, h.authorizerNames))
			}
		}
	}
	if len(rules) == 0 {
		what := "every request gets 401 (default_access deny)"
		if opts.Default == permissions.Allow {
			what = "every request passes unauthenticated (default_access allow)"
		}
		warnings = append(warnings, permissions.Finding{Source: h.where(), Level: "warning", Code: "rest_auth.empty",
			Message: "rest_auth has no rule (no resource line, no resources file with entries): " + what})
	}
	var users *permissions.Users
	if len(h.Users) > 0 {
		var err error
		if users, err = permissions.LoadUsers(h.Users...); err != nil {
			return nil, err
		}
	}
	s, err := NewSnapshot(rules, users, opts, h.userStore)
	if err != nil {
		return nil, err
	}
	s.pipe = newPipeCache(s.Policy, h.authNames)
	if err := h.loadTenants(s, rules, opts); err != nil {
		return nil, err
	}
	s.Warnings = append(warnings, h.tenantWarnings(rules)...)
	return s, nil
}

// configuredAuthenticators are the authenticators' names, from the
// modules once loaded, else from the config (offline tools).
func (h *Handler) configuredAuthenticators() []string {
	if h.authNames != nil {
		return h.authNames
	}
	return authenticatorNames(h.AuthenticatorsRaw)
}

// where names the handler in a warning about it as a whole.
func (h *Handler) where() string {
	if h.Name != "" {
		return "rest_auth " + h.Name
	}
	return "rest_auth"
}

// logWarnings logs what a load found probably not meant: one line each.
func (h *Handler) logWarnings(s *Snapshot) {
	if h.logger == nil {
		return
	}
	for _, f := range append(slices.Clone(s.Warnings), s.Policy.LoadLint(h.configuredAuthenticators())...) {
		h.logger.Warn("policy warning", zap.String("handler", h.Name), zap.String("where", f.String()), zap.String("code", f.Code))
	}
}

func (rc RuleConfig) rule() (permissions.Rule, error) {
	if rc.Path == "" || rc.Path[0] != '/' && rc.Path[0] != '*' {
		return permissions.Rule{}, errors.New("path must start with / or *")
	}
	r := permissions.Rule{
		Context:     rc.Path,
		Glob:        true,
		Secured:     rc.Secured == nil || *rc.Secured,
		Permissions: rc.Permissions,
		Scopes:      rc.Scopes,
		Source:      rc.Source,
	}
	for _, m := range rc.Methods {
		r.Methods = append(r.Methods, permissions.SplitMethods(m)...)
	}
	r.Handlers = permissions.HandlerNames(rc.AuthHandlers)
	r.Authorizers = rc.Authorizers
	switch rc.RequireBinding {
	case "", "mtls", "dpop", "any":
		r.Binding = rc.RequireBinding
	default:
		return permissions.Rule{}, fmt.Errorf("require_binding must be mtls, dpop or any, not %q", rc.RequireBinding)
	}
	r.CrossTenant = rc.CrossTenant
	for _, t := range rc.CrossTenantAllowed {
		r.CrossTenantAllowed = append(r.CrossTenantAllowed, strings.ToLower(t))
	}
	return r, nil
}

// Validate checks the configuration.
func (h *Handler) Validate() error {
	if h.store == nil || h.store.Load() == nil {
		return errors.New("rest_auth: not provisioned")
	}
	switch h.LogDenials {
	case "", logDenialsSampled, logDenialsAll, logDenialsOff:
	default:
		return fmt.Errorf("rest_auth: log_denials must be sampled, all or off, not %q", h.LogDenials)
	}
	if h.LogDenialsFirst < 0 || h.LogDenialsThereafter < 0 {
		return errors.New("rest_auth: log_denials numbers must be positive")
	}
	return nil
}

// Cleanup stops watching files and leaves the admin API's registry.
func (h *Handler) Cleanup() error {
	if h.watcher != nil {
		h.watcher.stop()
	}
	if h.denials != nil {
		h.denials.close()
	}
	unregister(h)
	return nil
}

// Interface guards
var (
	_ caddy.Provisioner           = (*Handler)(nil)
	_ caddy.Validator             = (*Handler)(nil)
	_ caddy.CleanerUpper          = (*Handler)(nil)
	_ caddyhttp.MiddlewareHandler = (*Handler)(nil)
)

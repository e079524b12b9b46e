package caddyauth

import (
	"context"
	"net/http"
	"slices"
	"strings"

	"github.com/restauth/caddy-restauth/permissions"
)

// A CheckRequest asks what rest_auth would decide for a request, without
// sending one. Give a user (roles from the users files) and/or roles, and
// for a bearer token its scopes.
type CheckRequest struct {
	Handler    string   `json:"handler,omitempty"`
	Method     string   `json:"method"`
	Path       string   `json:"path"`
	User       string   `json:"user,omitempty"`
	Roles      []string `json:"roles,omitempty"`
	Scopes     []string `json:"scopes,omitempty"`
	AuthMethod string   `json:"auth_method,omitempty"` // basic (default), bearer (default with scopes), client_cert, ...
	// Claims are a token's claims, for claim conditions (bearer only).
	Claims map[string]any `json:"claims,omitempty"`
	// Tenant is the principal's tenant, with tenants configured. Default:
	// the user's @tenant, else the request's tenant.
	Tenant string `json:"tenant,omitempty"`
}

// A Decision is the answer and why.
type Decision struct {
	Allowed bool   `json:"allowed"`
	Status  int    `json:"status"`
	Reason  string `json:"reason"` // a reason code, as in the logs
	Detail  string `json:"detail"` // the same in words
	// Path is the canonical path the rules saw.
	Path string `json:"path,omitempty"`
	// Tenant is the request's tenant and UserTenant the principal's, with
	// tenants configured.
	Tenant     string    `json:"tenant,omitempty"`
	UserTenant string    `json:"user_tenant,omitempty"`
	Rule       *RuleInfo `json:"rule"`
	Requires   *Requires `json:"requires,omitempty"`
	// NotEvaluated are the rule's authorizers that need the request itself
	// (a client address, a header): they were not run.
	NotEvaluated []string `json:"not_evaluated,omitempty"`
}

// RuleInfo describes a rule and where it was written.
type RuleInfo struct {
	// Index is the rule's place in the policy, counted from 1, as in
	// errors, lint and logs.
	Index        int      `json:"index"`
	Context      string   `json:"context"`
	Glob         bool     `json:"glob,omitempty"`
	Methods      []string `json:"methods"`
	Secured      bool     `json:"secured"`
	Permissions  []string `json:"permissions,omitempty"`
	Scopes       []string `json:"scopes,omitempty"`
	AuthHandlers []string `json:"auth_handlers,omitempty"`
	Authorizers  []string `json:"authorizers,omitempty"`
	Source       string   `json:"source"`
	Ignored      []string `json:"ignored,omitempty"`
}

// Requires is what a rule asks of a principal.
type Requires struct {
	Permissions []string `json:"permissions"`
	Scopes      []string `json:"scopes"`
	Match       string   `json:"permission_match"`
}

func ruleInfo(i int, r *permissions.Rule) *RuleInfo {
	methods := r.Methods
	if len(methods) == 0 {
		methods = []string{"all"}
	}
	return &RuleInfo{Index: i + 1, Context: r.Context, Glob: r.Glob, Methods: methods, Secured: r.Secured,
		Permissions: r.Permissions, Scopes: r.Scopes, AuthHandlers: r.Handlers, Authorizers: r.Authorizers, Source: r.Source, Ignored: r.Ignored}
}

// explain runs the pipeline's decisions for a described request against a
// store; authNames are the configured authenticators, in order.
func explain(s *Snapshot, authNames []string, azs []Authorizer, q CheckRequest) Decision {
	d := func(status int, reason, detail string) Decision {
		return Decision{Allowed: status == http.StatusOK, Status: status, Reason: reason, Detail: detail}
	}
	path, err := permissions.Canonicalize(q.Path)
	if err != nil {
		return d(http.StatusBadRequest, "path.noncanonical", err.Error())
	}
	method := q.Method
	if method == "" {
		method = http.MethodGet
	}
	var reqTenant string
	if s.tenants != nil {
		t, ok := s.tenants.pathTenant(path)
		if !ok {
			out := d(http.StatusNotFound, "tenant.invalid", "no active tenant "+t)
			out.Path = path
			return out
		}
		reqTenant = t
	}
	i := s.Policy.Match(method, path)
	if i < 0 {
		out := d(http.StatusUnauthorized, "authz.no_rule", "no rule matches and default_access is deny")
		if s.Policy.Default == permissions.Allow {
			out = d(http.StatusOK, "authz.default_allow", "no rule matches and default_access is allow")
		}
		out.Path = path
		return out
	}
	rule := s.Policy.Rule(i)
	var userTenant string
	withRule := func(out Decision) Decision {
		out.Path, out.Rule, out.Tenant, out.UserTenant = path, ruleInfo(i, rule), reqTenant, userTenant
		if rule.Secured {
			match := "all"
			if s.Policy.AnyPermission {
				match = "any"
			}
			out.Requires = &Requires{Permissions: nonNil(rule.Permissions), Scopes: nonNil(rule.Scopes), Match: match}
		}
		return out
	}
	if !rule.Secured {
		return withRule(d(http.StatusOK, "rule.unsecured", "the rule is not secured: no credentials are read"))
	}
	auth := q.AuthMethod
	if auth == "" {
		auth = "basic"
		if len(q.Scopes) > 0 || len(q.Claims) > 0 {
			auth = "bearer"
		}
	}
	auth = canonicalHandler(auth)
	if !slices.Contains(authNames, auth) {
		return withRule(d(http.StatusUnauthorized, "cred.missing", "the handler "+auth+" is not configured on this rest_auth"))
	}
	if len(rule.Handlers) > 0 && !slices.Contains(rule.Handlers, auth) {
		return withRule(d(http.StatusUnauthorized, "cred.missing", "the rule does not allow the handler "+auth))
	}
	if q.User == "" && len(q.Roles) == 0 && len(q.Scopes) == 0 && len(q.Claims) == 0 {
		return withRule(d(http.StatusUnauthorized, "cred.missing", "no user, roles, scopes or claims given"))
	}
	ts := s
	if s.tenants != nil {
		switch {
		case q.Tenant != "":
			userTenant = strings.ToLower(q.Tenant)
		case q.User != "" && strings.Contains(q.User, "@"):
			userTenant = s.tenants.userTenant(q.User)
		case q.User != "":
			userTenant = s.tenants.super
		default:
			userTenant = reqTenant
		}
		if !crossAllowed(rule, userTenant, reqTenant) {
			return withRule(d(http.StatusUnauthorized, "authz.cross_tenant", "a user of "+userTenant+" acting in "+reqTenant+", and the rule does not allow it (cross_tenant)"))
		}
		if ts = s.tenantSnapshot(userTenant); ts == nil {
			return withRule(d(http.StatusUnauthorized, "auth.unknown_tenant", "no active tenant "+userTenant))
		}
		if q.User != "" && !strings.Contains(q.User, "@") && userTenant != s.tenants.super {
			q.User += "@" + userTenant
		}
	}
	roles := append([]string(nil), q.Roles...)
	if q.User != "" {
		a, err := s.Lookup(context.Background(), q.User)
		if err != nil {
			return withRule(d(http.StatusServiceUnavailable, "store.unavailable", "the user store could not be asked: "+err.Error()))
		}
		if a == nil && auth == "basic" {
			return withRule(d(http.StatusUnauthorized, "basic.invalid", "the user store has no user "+q.User))
		}
		if a != nil {
			roles = append(roles, a.Roles...)
		}
	}
	sub := permissions.Subject{Roles: ts.Policy.Roles(roles), Token: auth == "bearer", Scopes: q.Scopes}
	switch ts.Policy.Authorize(i, &sub) {
	case permissions.Granted:
		p := &Principal{User: q.User, AuthMethod: auth, Roles: roles, Scopes: q.Scopes, Token: auth == "bearer"}
		if p.Token {
			p.Claims = q.Claims
		}
		var skipped []string
		for _, az := range pick(azs, rule.Authorizers) {
			pa, ok := az.(PrincipalAuthorizer)
			if !ok {
				skipped = append(skipped, az.Name())
				continue
			}
			if err := pa.Check(p); err != nil {
				reason := "authz." + az.Name()
				if den, ok := err.(*Denial); ok && den.Reason != "" {
					reason = den.Reason
				}
				return withRule(d(http.StatusForbidden, reason, "the authorizer "+az.Name()+" refused: "+reason))
			}
		}
		out := withRule(d(http.StatusOK, "authz.granted", "granted"))
		out.NotEvaluated = skipped
		return out
	case permissions.MissingScope:
		return withRule(d(http.StatusForbidden, "authz.denied", "a required scope is missing"))
	default:
		return withRule(d(http.StatusForbidden, "authz.denied", "a required permission is missing"))
	}
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

package caddyauth

import (
	"context"
	"strings"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"

	"github.com/restauth/caddy-restauth/permissions"
)

// A Principal is an authenticated caller: who it is, how it proved it, and
// what it holds. The rest_auth handler puts it in the request context, where
// handlers after it find it with PrincipalFrom. Unlike placeholders, it
// cannot be forged by configuration. A Principal may be shared between
// requests: treat it as read-only.
type Principal struct {
	// User is the user name (Basic, a client certificate) or a token's subject.
	User string
	// AuthMethod is the name of the handler that authenticated the request:
	// basic, bearer, client_cert or a third-party handler's name.
	AuthMethod string
	// Roles are the principal's role names.
	Roles []string
	// Scopes are a bearer token's scopes; empty for other methods.
	Scopes []string
	// Token marks a bearer-token principal: rules' scopes are checked
	// against Scopes instead of its roles' permissions.
	Token bool
	// Client marks a client's own token (client credentials): User is the
	// client id, and its roles are its own, never those of a user with
	// the same name.
	Client bool
	// Claims are a bearer token's verified claims: a JWT's payload, an
	// introspection answer, or the built-in token service's claims (iss,
	// sub, aud, exp, jti, client_id, scope, sid). Nil for other methods.
	// Shared between requests: read-only.
	Claims map[string]any
	// Tenant is the user's tenant (WSO2's tenant domain), with tenants
	// configured; "" without.
	Tenant string
	// Binding says how a token is bound to its holder: "mtls" (a client
	// certificate, RFC 8705), "dpop" (a DPoP key, RFC 9449) or "".
	Binding string

	roles permissions.RoleSet // set by the store for known users
	known bool                // roles was computed for the current store

	rolesText, scopesText string // joined once, for placeholders and headers
	joined                bool
	provide               caddy.ReplacerFunc // the placeholders, for a shared principal
}

// newPrincipal finishes a principal that will be shared between requests.
func newPrincipal(p *Principal) *Principal {
	p.rolesText, p.scopesText, p.joined = strings.Join(p.Roles, ","), strings.Join(p.Scopes, " "), true
	p.provide = placeholders([6]any{p.User, p.rolesText, p.scopesText, p.AuthMethod, p.Tenant, p.Binding})
	return p
}

// placeholders answers the http.auth.user.* placeholders from v (user,
// roles, scopes, method). The rest_auth handler adds it to a request's
// replacer: one provider for the four, asked only when one is used.
func placeholders(v [6]any) caddy.ReplacerFunc {
	return func(key string) (any, bool) {
		rest, ok := strings.CutPrefix(key, "http.auth.user.")
		if !ok {
			return nil, false
		}
		switch rest {
		case "id":
			return v[0], true
		case "roles":
			return v[1], true
		case "scopes":
			return v[2], true
		case "auth_method":
			return v[3], true
		case "tenant":
			return v[4], true
		case "binding":
			return v[5], true
		}
		return nil, false
	}
}

// texts returns the joined roles and scopes.
func (p *Principal) texts() (string, string) {
	if p.joined {
		return p.rolesText, p.scopesText
	}
	return strings.Join(p.Roles, ","), strings.Join(p.Scopes, " ")
}

// principalVar is the Caddy request variable that holds the principal. It
// lives among Caddy's per-request vars (no copy of the request is needed to
// add it); only a *Principal value counts, which configuration cannot make.
const principalVar = "rest_auth.principal"

// PrincipalFrom returns the principal that rest_auth authenticated for this
// request, if any.
func PrincipalFrom(ctx context.Context) (*Principal, bool) {
	p, ok := caddyhttp.GetVar(ctx, principalVar).(*Principal)
	return p, ok
}

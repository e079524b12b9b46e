package caddyauth

import (
	"context"

	"github.com/restauth/caddy-restauth/permissions"
)

// A Principal is an authenticated caller: who it is, how it proved it, and
// what it holds. The rest_auth handler puts it in the request context, where
// handlers after it find it with PrincipalFrom. Unlike placeholders, it
// cannot be forged by configuration.
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

	roles permissions.RoleSet // set by the store for known users
	known bool                // roles was computed for the current store
}

type principalKey struct{}

// PrincipalFrom returns the principal that rest_auth authenticated for this
// request, if any.
func PrincipalFrom(ctx context.Context) (*Principal, bool) {
	p, ok := ctx.Value(principalKey{}).(*Principal)
	return p, ok
}

func withPrincipal(ctx context.Context, p *Principal) context.Context {
	return context.WithValue(ctx, principalKey{}, p)
}

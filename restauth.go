// Package restauth plugs caddy-restauth into Caddy. Build it in with
//
//	xcaddy build --with github.com/restauth/caddy-restauth
//
// The modules live in the caddyauth package; the policy engine, which does
// not depend on Caddy, in permissions.
package restauth

import (
	// the rest_auth handler, its directive and the built-in authenticators
	_ "github.com/restauth/caddy-restauth/caddyauth"
)

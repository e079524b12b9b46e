// Package extensions holds two example third-party modules for rest_auth,
// each its own package: apikey (an authenticator) and netallow (an
// authorizer). Building Caddy with this module path plugs in both:
//
//	xcaddy build --with github.com/restauth/caddy-restauth --with github.com/restauth/caddy-restauth/extensions
package extensions

import (
	_ "github.com/restauth/caddy-restauth/extensions/apikey"
	_ "github.com/restauth/caddy-restauth/extensions/netallow"
)

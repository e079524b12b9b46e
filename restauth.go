// Package restauth plugs caddy-restauth into Caddy. Build it in with
//
//	xcaddy build --with github.com/restauth/caddy-restauth
//
// which brings every module: the rest_auth handler (package caddyauth),
// the built-in authenticators basic, bearer and client_cert with the
// cert_cn TLS verifier, the oauth2_server token service, and the users.toml
// and LDAP user stores, and the Redis throttle store for fleets. Each built-in is a package of its own on caddyauth's public
// API, as a third party's module would be; this package only imports them.
package restauth

import (
	// the rest_auth handler, its directive, admin API and CLI
	_ "github.com/restauth/caddy-restauth/caddyauth"
	// the built-in modules
	_ "github.com/restauth/caddy-restauth/caddyauth/basic"
	_ "github.com/restauth/caddy-restauth/caddyauth/bearer"
	_ "github.com/restauth/caddy-restauth/caddyauth/claims"
	_ "github.com/restauth/caddy-restauth/caddyauth/clientcert"
	_ "github.com/restauth/caddy-restauth/caddyauth/filestore"
	_ "github.com/restauth/caddy-restauth/caddyauth/ldapstore"
	_ "github.com/restauth/caddy-restauth/caddyauth/oauth2server"
	_ "github.com/restauth/caddy-restauth/caddyauth/redisstore"
)

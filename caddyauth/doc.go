// Package caddyauth is caddy-restauth's pipeline and its extension API:
// the rest_auth HTTP handler (http.handlers.rest_auth), its Caddyfile
// directive, the admin API (admin.api.rest_auth), the caddy rest-auth
// CLI and the metrics; and the interfaces every authentication module,
// authorizer and user store implements, built-in or a third party's.
//
// # Packages
//
//	caddyauth                the pipeline and the extension API (this package)
//	caddyauth/basic          Basic (http.rest_auth.authenticators.basic, rest_basic)
//	caddyauth/bearer         bearer tokens: JWT, JWK sets, introspection, token cache
//	caddyauth/clientcert     client certificates, and the cert_cn TLS verifier
//	caddyauth/oauth2server   the oauth2_server token service
//	caddyauth/filestore      the users.toml user store (http.rest_auth.user_stores.file)
//	caddyauth/passwords      hash comparison, hashing slots, stand-ins, credential cache
//	caddyauth/throttle       brute-force limits shared by every password path
//	permissions              the policy engine: rules, patterns, permission tree (no Caddy)
//	certcn                   the identity of a verified client certificate (no Caddy)
//
// The dependency rule: this package depends on permissions (and Caddy);
// the built-in modules depend on this package and the helper packages;
// nothing depends on a built-in module except the root package
// (github.com/restauth/caddy-restauth), which imports them all so that
// one xcaddy --with brings every module. A built-in uses only what this
// package exports, exactly as a third party's module does: package basic
// is the reference for an authenticator, package filestore for a user
// store.
//
// # A request's path
//
// ServeHTTP loads the handler's current Snapshot (the compiled policy,
// the users files' roles, the user store's Accounts view), canonicalizes
// the path and finds the first matching rule (permissions.Policy.Decide).
// An unsecured rule, or no rule under default_access allow, passes the
// request on. Otherwise the first Authenticator the rule allows whose
// credential is Present authenticates it into a Principal, asking the
// snapshot's Accounts (a user store) and Issuers (a token service of the
// same Caddy, for bearer) as it needs; the policy authorizes the
// principal's roles or scopes; every Authorizer that applies must allow.
// The principal then goes to the next handler in the request's context
// (PrincipalFrom) and the placeholders. Any refusal is a Denial with a
// status and a reason code, answered with a fixed JSON body and one log
// line.
//
// A reload (the admin API, watch, a config load) builds a new Snapshot
// and swaps it in whole; the user store builds a new view for it.
package caddyauth

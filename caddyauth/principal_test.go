package caddyauth_test

import (
	"net/http"
	"testing"

	"github.com/caddyserver/caddy/v2"

	"github.com/restauth/caddy-restauth/caddyauth"
)

func init() {
	caddy.RegisterModule(sharedAuth{})
}

// nextFunc is a next handler for ServeHTTP in tests.
type nextFunc func(http.ResponseWriter, *http.Request) error

func (f nextFunc) ServeHTTP(w http.ResponseWriter, r *http.Request) error { return f(w, r) }

// sharedPrincipal is what sharedAuth hands out.
var sharedPrincipal *caddyauth.Principal

// sharedAuth is a third-party authenticator (a module of the tests) that
// hands out one principal without an AuthMethod to every request.
type sharedAuth struct{}

func (sharedAuth) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{ID: "http.rest_auth.authenticators.shared", New: func() caddy.Module { return new(sharedAuth) }}
}
func (sharedAuth) Name() string               { return "shared" }
func (sharedAuth) WSO2Name() string           { return "" }
func (sharedAuth) Present(*http.Request) bool { return true }
func (sharedAuth) Challenge(error) string     { return "" }
func (sharedAuth) Authenticate(*http.Request, *caddyauth.Snapshot) (*caddyauth.Principal, error) {
	return sharedPrincipal, nil
}

// TestPrincipalFrom: a handler after rest_auth finds the principal with
// PrincipalFrom and the placeholders; the handler fills a missing
// AuthMethod on a copy, never on a principal that its authenticator may
// share between requests, and the copy's placeholders name the method too
// (a finished principal carries a ready provider).
func TestPrincipalFrom(t *testing.T) {
	for _, c := range []struct {
		name   string
		shared *caddyauth.Principal
	}{
		{"plain", &caddyauth.Principal{User: "alice", Roles: []string{"r"}}},
		{"finished", caddyauth.FinishPrincipal(&caddyauth.Principal{User: "alice", Roles: []string{"r"}})},
	} {
		t.Run(c.name, func(t *testing.T) {
			sharedPrincipal = c.shared
			h := benchHandler(t, `{"handler":"shared"}`)
			var got *caddyauth.Principal
			var placeholders string
			next := nextFunc(func(_ http.ResponseWriter, r *http.Request) error {
				got, _ = caddyauth.PrincipalFrom(r.Context())
				repl := r.Context().Value(caddy.ReplacerCtxKey).(*caddy.Replacer)
				placeholders = repl.ReplaceAll("{http.auth.user.id}|{http.auth.user.roles}|{http.auth.user.auth_method}", "?")
				return nil
			})
			if err := h.ServeHTTP(&discardWriter{h: http.Header{}}, benchRequest("/api/identity/user/v1.0/me", ""), next); err != nil {
				t.Fatal(err)
			}
			if got == nil || got.User != "alice" || got.AuthMethod != "shared" {
				t.Fatalf("PrincipalFrom: %+v", got)
			}
			if placeholders != "alice|r|shared" {
				t.Errorf("placeholders: %q", placeholders)
			}
			if c.shared.AuthMethod != "" {
				t.Errorf("the authenticator's shared principal was changed: %+v", c.shared)
			}
		})
	}
	if p, ok := caddyauth.PrincipalFrom(benchRequest("/", "").Context()); ok || p != nil {
		t.Errorf("a request rest_auth did not grant has a principal: %+v", p)
	}
}

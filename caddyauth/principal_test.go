package caddyauth

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2"
)

// nextFunc is a next handler for ServeHTTP in tests.
type nextFunc func(http.ResponseWriter, *http.Request) error

func (f nextFunc) ServeHTTP(w http.ResponseWriter, r *http.Request) error { return f(w, r) }

// sharedAuth is a third-party authenticator that hands out one principal
// without an AuthMethod to every request.
type sharedAuth struct{ p *Principal }

func (sharedAuth) Name() string                                             { return "shared" }
func (sharedAuth) WSO2Name() string                                         { return "" }
func (sharedAuth) Present(*http.Request) bool                               { return true }
func (sharedAuth) Challenge(error) string                                   { return "" }
func (a sharedAuth) Authenticate(*http.Request, *Store) (*Principal, error) { return a.p, nil }

// TestPrincipalFrom: a handler after rest_auth finds the principal with
// PrincipalFrom and the placeholders; the handler fills a missing
// AuthMethod on a copy, never on a principal that its authenticator may
// share between requests, and the copy's placeholders name the method too
// (a principal finished by newPrincipal carries a ready provider).
func TestPrincipalFrom(t *testing.T) {
	for _, c := range []struct {
		name   string
		shared *Principal
	}{
		{"plain", &Principal{User: "alice", Roles: []string{"r"}}},
		{"newPrincipal", newPrincipal(&Principal{User: "alice", Roles: []string{"r"}})},
	} {
		t.Run(c.name, func(t *testing.T) {
			h, _ := benchHandler(t, sharedAuth{c.shared})
			var got *Principal
			var placeholders string
			next := nextFunc(func(_ http.ResponseWriter, r *http.Request) error {
				got, _ = PrincipalFrom(r.Context())
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
	if p, ok := PrincipalFrom(benchRequest("/", "").Context()); ok || p != nil {
		t.Errorf("a request rest_auth did not grant has a principal: %+v", p)
	}
}

// TestSettingsListing: the admin listing shows authenticators and
// authorizers apart, with secrets redacted.
func TestSettingsListing(t *testing.T) {
	h := &Handler{Name: "x",
		authJSON:       []json.RawMessage{json.RawMessage(`{"handler":"bearer","introspect":{"client_secret":"s3cret"}}`)},
		authorizerJSON: []json.RawMessage{json.RawMessage(`{"authorizer":"client_networks","ranges":["10.0.0.0/8"]}`)},
		Rules:          []RuleConfig{{Path: "/x"}},
	}
	var s struct {
		Authenticators []map[string]any `json:"authenticators"`
		Authorizers    []map[string]any `json:"authorizers"`
		Rules          any              `json:"rules"`
	}
	raw := h.settings()
	if err := json.Unmarshal(raw, &s); err != nil {
		t.Fatal(err)
	}
	if len(s.Authenticators) != 1 || len(s.Authorizers) != 1 || s.Authorizers[0]["authorizer"] != "client_networks" || s.Rules != nil {
		t.Errorf("settings %s", raw)
	}
	if strings.Contains(string(raw), "s3cret") {
		t.Errorf("a secret in the listing: %s", raw)
	}
}

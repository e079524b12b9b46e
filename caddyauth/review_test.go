package caddyauth_test

import (
	"strings"
	"testing"

	"github.com/restauth/caddy-restauth/internal/testkit"
)

// TestReview15Challenges: every 401 carries a challenge (RFC 7235 section
// 3.1): client_cert has one, and a refused credential on a rule that
// allows several handlers gets one per handler.
func TestReview15Challenges(t *testing.T) {
	h := testkit.StartCaddy(t, `
		users USERS
		resources RESOURCES
		resource /cert-only/* all {
			auth_handlers client_cert
		}
		client_cert {
			realm gateway
		}
		bearer {
			jwt {
				audience any
				secret 0123456789abcdef0123456789abcdef-test
				algorithms HS256
			}
		}
		basic
`)
	check := func(name string, want []string, headers ...string) {
		t.Helper()
		before := h.Up.Hits.Load()
		resp, _ := h.Do("GET", headers[0], headers[1:]...)
		if got := resp.Header.Values("WWW-Authenticate"); resp.StatusCode != 401 || strings.Join(got, "|") != strings.Join(want, "|") {
			t.Errorf("%s: %d, challenges %q, want %q", name, resp.StatusCode, got, want)
		}
		if h.Up.Hits.Load() != before {
			t.Errorf("%s: the upstream was reached", name)
		}
	}
	cert := `ClientCertificate realm="gateway"`
	bearerC, basicC := `Bearer realm="restricted"`, `Basic realm="restricted", charset="UTF-8"`
	check("a rule that allows only client_cert", []string{cert}, "/cert-only/x")
	check("a rule that allows only client_cert, with Basic", []string{cert}, "/cert-only/x", "Authorization", testkit.Basic("alice", "alice-pw"))
	check("no credential", []string{cert, bearerC, basicC}, "/scim2/Users")
	check("a refused token", []string{cert, `Bearer realm="restricted", error="invalid_token"`, basicC}, "/scim2/Users", "Authorization", testkit.Bearer("a.b.c"))
	check("a wrong password", []string{cert, bearerC, basicC}, "/scim2/Users", "Authorization", testkit.Basic("alice", "nope"))
}

package claims_test

import (
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	_ "github.com/restauth/caddy-restauth"
	"github.com/restauth/caddy-restauth/internal/testkit"
)

const secret = "0123456789abcdef0123456789abcdef-claims"

func token(t *testing.T, sub string, extra map[string]any) string {
	t.Helper()
	c := jwt.MapClaims{"iss": "https://idp.test", "aud": "api", "sub": sub, "exp": time.Now().Add(time.Hour).Unix()}
	for k, v := range extra {
		c[k] = v
	}
	s, err := jwt.NewWithClaims(jwt.SigningMethodHS256, c).SignedString([]byte(secret))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestClaimsThroughCaddy: claim conditions on rules, through a real Caddy:
// flat, nested, array and numeric claims, a Basic principal, tokens_only,
// and the check API answering for described claims.
func TestClaimsThroughCaddy(t *testing.T) {
	h := testkit.StartCaddy(t, `
		name claims-test
		users USERS
		resources RESOURCES
		bearer {
			jwt {
				issuer https://idp.test
				audience api
				secret `+secret+`
				algorithms HS256
			}
		}
		basic
		authorizer claims {
			name sales
			claim department equals sales marketing
			claim realm_access.roles contains reporting
			claim level ge 3
		}
		authorizer claims {
			name verified
			claim email_verified equals true
			tokens_only
		}
		resource /reports/* {
			secured true
			authorizers sales
		}
		resource /profile/* {
			secured true
			authorizers verified
		}`)
	A := "Authorization"
	good := map[string]any{"department": "sales", "realm_access": map[string]any{"roles": []any{"reporting"}}, "level": 3}
	with := func(k string, v any) map[string]any {
		m := map[string]any{}
		for a, b := range good {
			m[a] = b
		}
		if v == nil {
			delete(m, k)
		} else {
			m[k] = v
		}
		return m
	}
	cases := []struct {
		name   string
		path   string
		auth   string
		status int
	}{
		{"every condition holds", "/reports/q3", testkit.Bearer(token(t, "alice", good)), 200},
		{"another department", "/reports/q3", testkit.Bearer(token(t, "alice", with("department", "hr"))), 403},
		{"a nested array without the role", "/reports/q3", testkit.Bearer(token(t, "alice", with("realm_access", map[string]any{"roles": []any{"user"}}))), 403},
		{"a level below", "/reports/q3", testkit.Bearer(token(t, "alice", with("level", 2))), 403},
		{"a level as a string is not a number", "/reports/q3", testkit.Bearer(token(t, "alice", with("level", "3"))), 403},
		{"a claim missing", "/reports/q3", testkit.Bearer(token(t, "alice", with("department", nil))), 403},
		{"a Basic principal fails a claim condition", "/reports/q3", testkit.Basic("admin", "admin-pw"), 403},
		{"tokens_only: a Basic principal passes", "/profile/x", testkit.Basic("admin", "admin-pw"), 200},
		{"tokens_only: a token must hold it", "/profile/x", testkit.Bearer(token(t, "alice", nil)), 403},
		{"tokens_only: a token that holds it", "/profile/x", testkit.Bearer(token(t, "alice", map[string]any{"email_verified": true})), 200},
	}
	for _, c := range cases {
		h.Expect(c.name, c.status, c.status == 200, h.Status("GET", c.path, A, c.auth))
	}
	resp, body := h.Do("GET", "/reports/q3", A, testkit.Bearer(token(t, "alice", with("department", "hr"))))
	if resp.StatusCode != 403 || strings.Contains(body, "department") {
		t.Errorf("a claims refusal names its condition in the response: %d %s", resp.StatusCode, body)
	}

	for _, c := range []struct {
		body, want string
	}{
		{`{"handler":"claims-test","method":"GET","path":"/reports/q3","user":"alice","claims":{"department":"sales","realm_access":{"roles":["reporting"]},"level":4}}`, `"allowed": true`},
		{`{"handler":"claims-test","method":"GET","path":"/reports/q3","user":"alice","claims":{"department":"hr","realm_access":{"roles":["reporting"]},"level":4}}`, `"reason": "claims.equals:department"`},
		{`{"handler":"claims-test","method":"GET","path":"/reports/q3","user":"admin","auth_method":"basic"}`, `"reason": "claims.no_token:department"`},
	} {
		code, out := testkit.AdminCall(t, "POST", "/rest-auth/check", c.body)
		if code != 200 || !strings.Contains(out, c.want) {
			t.Errorf("check %s: %d %s, want %s", c.body, code, out, c.want)
		}
	}
}

// TestReadmeClaimsExample: the README's claims block adapts and loads.
func TestReadmeClaimsExample(t *testing.T) {
	body := testkit.ReadmeRestAuth(t, "../../README.md", "### Claim conditions", "bearer { ... }", "bearer")
	out, err := testkit.AdaptRestAuth(t, body)
	if err != nil {
		t.Fatalf("%v\n%s", err, body)
	}
	for _, w := range []string{`"authorizer":"claims"`, `"name":"sales"`, `"op":"contains"`, `"tokens_only":true`, `"authorizers":["sales"]`} {
		if !strings.Contains(out, w) {
			t.Errorf("%s not in %s", w, out)
		}
	}
}

package caddyauth_test

import (
	"encoding/base64"
	"encoding/json"
	"strings"
	"testing"

	_ "github.com/restauth/caddy-restauth/caddyauth"
	"github.com/restauth/caddy-restauth/internal/testkit"
)

const defaultBody = `
		name test
		users USERS
		resources RESOURCES
		resource /first/* GET /permission/admin/login
		resource /(.*)/looks-like-regex GET
		forward_identity
`

func TestIntegration(t *testing.T) {
	h := testkit.StartCaddy(t, defaultBody)
	admin := testkit.Basic("admin", "admin-pw")
	alice := testkit.Basic("alice", "alice-pw")
	bob := testkit.Basic("bob", "bob-pw")
	dave := testkit.Basic("dave", "dave-pw")
	A := "Authorization"

	cases := []struct {
		name    string
		method  string
		path    string
		headers []string
		status  int
	}{
		{"good user", "GET", "/scim2/Users", []string{A, alice}, 200},
		{"bad password", "GET", "/scim2/Users", []string{A, testkit.Basic("alice", "nope")}, 401},
		{"unknown user", "GET", "/scim2/Users", []string{A, testkit.Basic("mallory", "alice-pw")}, 401},
		{"username case differs", "GET", "/scim2/Users", []string{A, testkit.Basic("Alice", "alice-pw")}, 401},
		{"bad base64", "GET", "/scim2/Users", []string{A, "Basic !!!notbase64"}, 401},
		{"unpadded base64", "GET", "/scim2/Users", []string{A, "Basic YWxpY2U6YWxpY2UtcHc"}, 401},
		{"two spaces", "GET", "/scim2/Users", []string{A, "Basic  " + alice[6:]}, 401},
		{"no colon", "GET", "/scim2/Users", []string{A, "Basic " + base64.StdEncoding.EncodeToString([]byte("alice"))}, 401},
		{"empty user", "GET", "/scim2/Users", []string{A, testkit.Basic("", "alice-pw")}, 401},
		{"empty password", "GET", "/scim2/Users", []string{A, testkit.Basic("alice", "")}, 401},
		{"non-UTF-8", "GET", "/scim2/Users", []string{A, "Basic " + base64.StdEncoding.EncodeToString([]byte("\xffalice:alice-pw"))}, 401},
		{"colon inside password", "GET", "/login-only", []string{A, testkit.Basic("a", "b:c")}, 200},
		{"scheme in lower case", "GET", "/scim2/Users", []string{A, "basic " + alice[6:]}, 200},
		{"bcrypt 72-byte password works", "GET", "/login-only", []string{A, testkit.Basic("long", strings.Repeat("a", 72))}, 200},
		{"bcrypt 73rd byte never matches", "GET", "/login-only", []string{A, testkit.Basic("long", strings.Repeat("a", 72)+"X")}, 401},
		{"two Authorization headers", "GET", "/scim2/Users", []string{A, alice, A, admin}, 400},
		{"Basic and Bearer together", "GET", "/scim2/Users", []string{A, alice, A, "Bearer x.y.z"}, 400},
		{"12 KiB header: refused before hashing", "GET", "/scim2/Users", []string{A, "Basic " + strings.Repeat("QUFB", 12*1024/4)}, 401},
		{"64 KiB header: Caddy refuses it first", "GET", "/scim2/Users", []string{A, "Basic " + strings.Repeat("QUFB", 64*1024/4)}, 431},
		{"no credentials", "GET", "/scim2/Users", nil, 401},
		{"unsecured rule with bad credentials passes", "GET", "/public/x", []string{A, testkit.Basic("alice", "wrong")}, 200},
		{"unsecured rule with garbage credentials passes", "GET", "/public/x", []string{A, "Basic !!"}, 200},
		{"unmatched path, admin, deny", "GET", "/unmatched", []string{A, admin}, 401},
		{"ancestor grants", "GET", "/scim2/Users", []string{A, admin}, 200},
		{"sibling prefix does not grant", "GET", "/admin-tree", []string{A, dave}, 403},
		{"descendant-only does not grant", "GET", "/scim2/Users", []string{A, dave}, 403},
		{"wrong permission", "GET", "/scim2/Users", []string{A, bob}, 403},
		{"ALL: both held", "GET", "/both", []string{A, alice}, 200},
		{"ALL: one held", "GET", "/both", []string{A, bob}, 403},
		{"basic principal on scope-only rule: role scopes", "GET", "/scoped", []string{A, alice}, 200},
		{"basic principal on scope-only rule: no scope", "GET", "/scoped", []string{A, bob}, 403},
		{"secured rule without permissions: any user", "GET", "/api/identity/user/v1.0/me", []string{A, bob}, 200},
		{"method not in rule", "PUT", "/api/identity/user/v1.0/me", []string{A, admin}, 401},
		{"HEAD via GET", "HEAD", "/scim2/Users", []string{A, alice}, 200},
		{"HEAD denied like GET", "HEAD", "/scim2/Users", []string{A, bob}, 403},
		{"Caddyfile rule before file rules", "GET", "/first/scim2/Users", []string{A, bob}, 200},
		{"Caddyfile glob is not a regex", "GET", "/x/looks-like-regex", []string{A, bob}, 401},
		{"Caddyfile glob matches its literal text", "GET", "/(.anything)/looks-like-regex", []string{A, bob}, 200},
		{"trailing slash (/?)", "GET", "/scim2/Users/", []string{A, alice}, 200},
		{"case-insensitive path", "GET", "/SCIM2/users", []string{A, alice}, 200},
		{"CORS preflight passes", "OPTIONS", "/scim2/Users", []string{"Origin", "https://app.example", "Access-Control-Request-Method", "GET"}, 200},
		{"OPTIONS without preflight headers is a request", "OPTIONS", "/scim2/Users", nil, 401},
		{"collapsed slashes", "GET", "//scim2//Users", []string{A, alice}, 200},
		{"encoded letter", "GET", "/scim2/%55sers", []string{A, alice}, 200},
	}
	for _, c := range cases {
		h.Expect(c.name, c.status, c.status == 200, h.Status(c.method, c.path, c.headers...))
	}

	t.Run("denial body and challenge", func(t *testing.T) {
		resp, body := h.Do("GET", "/scim2/Users", A, testkit.Basic("mallory", "secret"))
		if resp.StatusCode != 401 || !strings.HasPrefix(resp.Header.Get("WWW-Authenticate"), `Basic realm="`) {
			t.Fatalf("status %d, challenge %q", resp.StatusCode, resp.Header.Get("WWW-Authenticate"))
		}
		if !strings.Contains(body, `"code":401`) || strings.Contains(body, "mallory") || resp.Header.Get("Content-Type") != "application/json" {
			t.Errorf("body %q", body)
		}
		resp, body = h.Do("GET", "/scim2/Users", A, bob)
		if resp.StatusCode != 403 || !strings.Contains(body, `"message":"Forbidden"`) || resp.Header.Get("WWW-Authenticate") != "" {
			t.Errorf("403: %d %q %q", resp.StatusCode, body, resp.Header.Get("WWW-Authenticate"))
		}
	})

	t.Run("identity headers", func(t *testing.T) {
		h.Expect("spoofed headers", 200, true, h.Status("GET", "/scim2/Users", A, alice,
			"X-Restauth-User", "admin", "x-restauth-roles", "admin", "X_Restauth_Scopes", "all"))
		last, _ := h.Up.Last()
		if got := last.Get("X-Restauth-User"); got != "alice" {
			t.Errorf("X-Restauth-User = %q", got)
		}
		if got := last.Values("X-Restauth-Roles"); len(got) != 1 || got[0] != "usermgt" {
			t.Errorf("X-Restauth-Roles = %q", got)
		}
		for name := range last {
			if strings.Contains(strings.ToLower(name), "restauth_") {
				t.Errorf("spoofed header %q reached the upstream", name)
			}
		}
		if got := last.Get("X-Restauth-Auth-Method"); got != "basic" {
			t.Errorf("auth method %q", got)
		}
	})

	t.Run("spoofed headers are stripped on unsecured rules too", func(t *testing.T) {
		h.Do("GET", "/public/x", "X-Restauth-User", "admin")
		last, _ := h.Up.Last()
		if got := last.Get("X-Restauth-User"); got != "" {
			t.Errorf("X-Restauth-User = %q reached the upstream", got)
		}
	})

	t.Run("upstream receives the canonical path", func(t *testing.T) {
		h.Expect("//scim2//Users", 200, true, func() int { return h.Raw("GET //scim2//Users HTTP/1.1", "Authorization: "+alice) })
		if _, path := h.Up.Last(); path != "/scim2/Users" {
			t.Errorf("upstream path %q", path)
		}
	})

	t.Run("ambiguous paths are 400", func(t *testing.T) {
		for _, target := range []string{
			"/scim2/./Users", "/scim2/x/../Users", "/scim2/%2e%2e/Users", "/scim2/%2E/Users", "/scim2/.%2e/Users",
			"/scim2%2fUsers", "/scim2%2FUsers", "/scim2%5cUsers", "/scim2\\Users",
			"/scim2/Users%00", "/scim2/Users%0a", "/scim2/Users%7f",
			"/scim2/Users;jsessionid=1", "/scim2;x/Users", "/scim2/Users%3bx",
			"/scim2/%252e%252e/Users", "/scim2/Users%25",
			"/scim2/%C0%AE%C0%AE/Users",
		} {
			h.Expect("path "+target, 400, false, func() int { return h.Raw("GET "+target+" HTTP/1.1", "Authorization: "+admin) })
		}
		// Go itself refuses invalid escapes before any handler runs; still 400.
		h.Expect("invalid escape", 400, false, func() int { return h.Raw("GET /scim2/%zzUsers HTTP/1.1", "Authorization: "+admin) })
		h.Expect("trailing dot-dot", 400, false, func() int { return h.Raw("GET /scim2/Users/.. HTTP/1.1", "Authorization: "+admin) })
	})

	t.Run("method tricks", func(t *testing.T) {
		h.Expect("lower-case get", 200, true, func() int { return h.Raw("get /scim2/Users HTTP/1.1", "Authorization: "+alice) })
		h.Expect("ET is not GET", 401, false, func() int { return h.Raw("ET /scim2/Users HTTP/1.1", "Authorization: "+admin) })
		h.Expect("method override header ignored", 401, false, h.Status("POST", "/scim2/Users", A, admin, "X-HTTP-Method-Override", "GET"))
	})
}

func TestDefaultAllow(t *testing.T) {
	h := testkit.StartCaddy(t, `
		users USERS
		resources RESOURCES
		default_access allow
`)
	h.Expect("unmatched passes under allow", 200, true, h.Status("GET", "/unmatched"))
	h.Expect("matched still secured", 401, false, h.Status("GET", "/scim2/Users"))
}

func TestPermissionMatchAny(t *testing.T) {
	h := testkit.StartCaddy(t, `
		users USERS
		resources RESOURCES
		permission_match any
		cors_preflight off
`)
	h.Expect("ANY: one held", 200, true, h.Status("GET", "/both", "Authorization", testkit.Basic("bob", "bob-pw")))
	h.Expect("ANY: none held", 403, false, h.Status("GET", "/both", "Authorization", testkit.Basic("dave", "dave-pw")))
	h.Expect("preflight off: OPTIONS is authenticated", 401, false,
		h.Status("OPTIONS", "/scim2/Users", "Origin", "https://a.example", "Access-Control-Request-Method", "GET"))
}

// TestDenialDescriptions: a denial's description says what happened
// (valid credentials on a path no rule covers do not read "not valid"),
// never echoes the request, and never tells an unknown user from a wrong
// password.
func TestDenialDescriptions(t *testing.T) {
	h := testkit.StartCaddy(t, defaultBody)
	A := "Authorization"
	for _, c := range []struct {
		name    string
		path    string
		headers []string
		status  int
		desc    string
	}{
		{"no rule, good credentials", "/no/rule/here", []string{A, testkit.Basic("alice", "alice-pw")}, 401, "No rule allows this request."},
		{"no credentials", "/scim2/Users", nil, 401, "Authentication is required."},
		{"wrong password", "/scim2/Users", []string{A, testkit.Basic("alice", "nope")}, 401, "The user name or password is not valid."},
		{"unknown user", "/scim2/Users", []string{A, testkit.Basic("mallory-x", "nope")}, 401, "The user name or password is not valid."},
		{"malformed", "/scim2/Users", []string{A, "Basic !!!"}, 401, "The credentials are malformed."},
		{"lacks the permission", "/scim2/Users", []string{A, testkit.Basic("bob", "bob-pw")}, 403, "The caller lacks a permission or scope this resource requires."},
	} {
		before := h.Up.Hits.Load()
		resp, body := h.Do("GET", c.path, c.headers...)
		var d struct {
			Code        int
			Message     string
			Description string
		}
		json.Unmarshal([]byte(body), &d)
		if resp.StatusCode != c.status || d.Code != c.status || d.Description != c.desc {
			t.Errorf("%s: %d %s, want %d %q", c.name, resp.StatusCode, body, c.status, c.desc)
		}
		if strings.Contains(body, "mallory") || strings.Contains(body, "no/rule") {
			t.Errorf("%s: the body echoes the request: %s", c.name, body)
		}
		if h.Up.Hits.Load() != before {
			t.Errorf("%s: the upstream was reached", c.name)
		}
	}
}

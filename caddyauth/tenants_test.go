package caddyauth_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/restauth/caddy-restauth/internal/testkit"
)

const tenantSecret = "0123456789abcdef0123456789abcdef-tenants"

// tenantUsers is a tenant's users file: alice with a password and a role
// (roles the super tenant does not have: a tenant's users hold its own).
func tenantUsers(pw, role string) string {
	return fmt.Sprintf(`
[[roles]]
name = "tenant-admin"
permissions = ["/permission"]

[[roles]]
name = "tenant-login"
permissions = ["/permission/admin/login"]

[[users]]
username = "alice"
password = %q
roles = [%q]
`, testkit.Hashes()[pw], role)
}

// TestTenants: two tenants and the super tenant through a real Caddy.
func TestTenants(t *testing.T) {
	dir := t.TempDir()
	aUsers := testkit.WriteFile(t, dir, "a.toml", tenantUsers("admin-pw", "tenant-admin"))
	bUsers := testkit.WriteFile(t, dir, "b.toml", tenantUsers("bob-pw", "tenant-login"))
	h := testkit.StartCaddy(t, fmt.Sprintf(`
		name tenants
		users USERS
		resources RESOURCES
		forward_identity
		basic
		bearer {
			jwt {
				audience api
				secret %s
				algorithms HS256
				tenant_claim tenant_domain
			}
		}
		tenant a.com {
			users %s
		}
		tenant B.com {
			users %s
		}
		tenant gone.com {
			users %s
			inactive
		}
		resource */cross-any/* {
			secured true
			cross_tenant
		}
		resource */cross-a/* {
			secured true
			cross_tenant A.com
		}
		resource */cross-c/* {
			secured true
			cross_tenant c.com
		}`, tenantSecret, aUsers, bUsers, aUsers))
	A := "Authorization"
	aliceA := testkit.Basic("alice@a.com", "admin-pw")
	aliceB := testkit.Basic("alice@b.com", "bob-pw")
	token := func(sub string, extra ...string) string {
		c := jwt.MapClaims{"sub": sub, "aud": "api", "exp": time.Now().Add(time.Hour).Unix()}
		for i := 0; i+1 < len(extra); i += 2 {
			c[extra[i]] = extra[i+1]
		}
		s, err := jwt.NewWithClaims(jwt.SigningMethodHS256, c).SignedString([]byte(tenantSecret))
		if err != nil {
			t.Fatal(err)
		}
		return testkit.Bearer(s)
	}
	cases := []struct {
		name   string
		path   string
		auth   string
		status int
	}{
		{"a super-tenant user in the super tenant", "/scim2/Users", testkit.Basic("alice", "alice-pw"), 200},
		{"@carbon.super names the super tenant", "/scim2/Users", testkit.Basic("alice@carbon.super", "alice-pw"), 200},
		{"a.com's alice in a.com (its own password and role)", "/t/a.com/scim2/Users", aliceA, 200},
		{"b.com's alice in b.com: a role without the permission", "/t/b.com/scim2/Users", aliceB, 403},
		{"b.com's alice with a.com's password", "/t/b.com/scim2/Users", testkit.Basic("alice@b.com", "admin-pw"), 401},
		{"a.com's admin in b.com", "/t/b.com/scim2/Users", aliceA, 401},
		{"a.com's admin in the super tenant", "/scim2/Users", aliceA, 401},
		{"the super tenant's alice in a.com", "/t/a.com/scim2/Users", testkit.Basic("alice", "alice-pw"), 401},
		{"the tenant in the name in any case", "/t/a.com/scim2/Users", testkit.Basic("alice@A.COM", "admin-pw"), 200},
		{"cross_tenant: any tenant", "/t/b.com/cross-any/x", aliceA, 200},
		{"cross_tenant: listed a.com", "/t/b.com/cross-a/x", aliceA, 200},
		{"cross_tenant: lists only c.com", "/t/b.com/cross-c/x", aliceA, 401},
		{"unknown tenant, unsecured rule", "/t/nope.com/public/x", "", 404},
		{"unknown tenant with credentials", "/t/nope.com/scim2/Users", aliceA, 404},
		{"inactive tenant, unsecured rule", "/t/gone.com/public/x", "", 404},
		{"a user of an inactive tenant", "/t/a.com/scim2/Users", testkit.Basic("alice@gone.com", "admin-pw"), 401},
		{"a user of an unknown tenant", "/scim2/Users", testkit.Basic("alice@nope.com", "alice-pw"), 401},
		{"/T/ is a tenant prefix too", "/T/b.com/scim2/Users", aliceA, 401},
		{"/T/ into its own tenant", "/T/A.com/scim2/Users", aliceA, 200},
		{"/t//scim2: an empty tenant is no tenant", "/t//scim2/Users", aliceA, 404},
		{"a /t/ later in the path is not a tenant", "/x/t/b.com/public/y", "", 200},
		{"an encoded @ is not a tenant", "/scim2/Users", testkit.Basic("alice%40a.com", "admin-pw"), 401},
		{"a token of a.com's alice in a.com", "/t/a.com/scim2/Users", token("alice@a.com"), 200},
		{"the same token in b.com", "/t/b.com/scim2/Users", token("alice@a.com"), 401},
		{"a token of b.com's alice in b.com: b.com's roles", "/t/b.com/scim2/Users", token("alice@b.com"), 403},
		{"tenant_claim names the tenant", "/t/a.com/scim2/Users", token("alice", "tenant_domain", "a.com"), 200},
		{"tenant_claim: the same token in the super tenant", "/scim2/Users", token("alice", "tenant_domain", "a.com"), 401},
	}
	for _, c := range cases {
		var hdr []string
		if c.auth != "" {
			hdr = []string{A, c.auth}
		}
		h.Expect(c.name, c.status, c.status == 200, h.Status("GET", c.path, hdr...))
	}
	resp, body := h.Do("GET", "/t/nope.com/public/x")
	if resp.StatusCode != 404 || !strings.Contains(body, `"code":404`) || strings.Contains(body, "nope") {
		t.Errorf("unknown tenant: %d %s", resp.StatusCode, body)
	}
	h.Expect("a.com's admin forwarded", 200, true, h.Status("GET", "/t/a.com/scim2/Users", A, aliceA, "X-Restauth-Tenant", "b.com"))
	if hd, _ := h.Up.Last(); hd.Get("X-Restauth-Tenant") != "a.com" || hd.Get("X-Restauth-User") != "alice@a.com" {
		t.Errorf("forwarded tenant %q, user %q", hd.Get("X-Restauth-Tenant"), hd.Get("X-Restauth-User"))
	}
	for _, raw := range []string{"GET /t/a.com/../b.com/scim2/Users HTTP/1.1", "GET /t/b.com%2fx/scim2/Users HTTP/1.1"} {
		h.Expect(raw, 400, false, func() int { return h.Raw(raw, A+": "+aliceA) })
	}

	// throttles count per tenant-qualified name
	for i := range 10 {
		h.Expect("wrong password for a.com's alice", 401, false, h.Status("GET", "/t/a.com/scim2/Users", A, testkit.Basic("alice@a.com", fmt.Sprint("wrong", i))))
	}
	h.Expect("a.com's alice now throttled", 429, false, h.Status("GET", "/t/a.com/scim2/Users", A, aliceA))
	h.Expect("b.com's alice is another user", 403, false, h.Status("GET", "/t/b.com/scim2/Users", A, aliceB))

	for _, c := range []struct{ body, want string }{
		{`{"handler":"tenants","path":"/t/b.com/scim2/Users","user":"alice@a.com"}`, `"reason": "authz.cross_tenant"`},
		{`{"handler":"tenants","path":"/t/a.com/scim2/Users","user":"alice@a.com"}`, `"allowed": true`},
		{`{"handler":"tenants","path":"/t/b.com/scim2/Users","user":"alice@b.com"}`, `"reason": "authz.denied"`},
		{`{"handler":"tenants","path":"/t/b.com/scim2/Users","roles":["tenant-admin"]}`, `"user_tenant": "b.com"`},
		{`{"handler":"tenants","path":"/t/nope.com/scim2/Users","user":"alice"}`, `"status": 404`},
	} {
		code, out := testkit.AdminCall(t, "POST", "/rest-auth/check", c.body)
		if code != 200 || !strings.Contains(out, c.want) {
			t.Errorf("check %s: %d %s, want %s", c.body, code, out, c.want)
		}
	}
}

// TestTenantConfig: the Caddyfile form, and mistakes refused with what
// is wrong.
func TestTenantConfig(t *testing.T) {
	dir := t.TempDir()
	users := testkit.WriteFile(t, dir, "u.toml", testkit.UsersTOML())
	got, err := testkit.AdaptRestAuth(t, `
		super_tenant root.org
		tenant a.com {
			users a.toml
		}
		tenant b.com {
			user_store file
			inactive
		}
		resource /x/* {
			cross_tenant a.com b.com
		}`)
	if err != nil {
		t.Fatal(err)
	}
	for _, w := range []string{`"super_tenant":"root.org"`, `"tenants":[{"domain":"a.com","users":["a.toml"]},{"domain":"b.com","inactive":true,"user_store":{"store":"file"}}]`,
		`"cross_tenant":true,"cross_tenant_allowed":["a.com","b.com"]`} {
		if !strings.Contains(got, w) {
			t.Errorf("%s not in %s", w, got)
		}
	}
	for _, c := range []struct{ body, want string }{
		{"users " + users + "\ntenant a.com {\nusers " + users + "\n}\ntenant A.COM {\nusers " + users + "\n}", `tenant "A.COM": given twice`},
		{"users " + users + "\ntenant carbon.super {\nusers " + users + "\n}", "given twice (or the super tenant's name)"},
		{"users " + users + "\ntenant a/b {\nusers " + users + "\n}", "cannot contain"},
		{"users " + users + "\ntenant a.com {\nuser " + users + "\n}", "did you mean users"},
		{"users " + users + "\ntenant {\n}", "tenant <domain>"},
		{"users " + users + "\ntenant a.com {\nusers /nonexistent.toml\n}", "nonexistent.toml"},
	} {
		err := testkit.ValidateRestAuth(t, c.body)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q: %v, want %q", c.body, err, c.want)
		}
	}
}

// TestReadmeTenantsExample: the README's tenants block adapts (the
// directory's settings left out, as the README leaves them out).
func TestReadmeTenantsExample(t *testing.T) {
	body := testkit.ReadmeRestAuth(t, "../README.md", "### Tenants", "user_store ldap { ... }", "user_store file")
	out, err := testkit.AdaptRestAuth(t, body)
	if err != nil {
		t.Fatal(err)
	}
	for _, w := range []string{`"domain":"acme.com"`, `"inactive":true`, `"cross_tenant":true,"cross_tenant_allowed":["acme.com"]`, `"user_store":{"store":"file"}`} {
		if !strings.Contains(out, w) {
			t.Errorf("%s not in %s", w, out)
		}
	}
}

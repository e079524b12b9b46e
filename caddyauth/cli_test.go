package caddyauth_test

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/restauth/caddy-restauth/caddyauth"
	"golang.org/x/crypto/bcrypt"
)

func writeTemp(t *testing.T, dir, name, content string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func cliFixture(t *testing.T, extra string) string {
	dir := t.TempDir()
	hash, _ := bcrypt.GenerateFromPassword([]byte("pw"), 4)
	users := writeTemp(t, dir, "users.toml", `
[[roles]]
name = "usermgt"
permissions = ["/permission/admin/manage/identity/usermgt"]
scopes = ["internal_user_mgt_list"]

[[roles]]
name = "unused"
permissions = ["/permission/x"]

[[users]]
username = "alice"
password = "`+string(hash)+`"
roles = ["usermgt"]
`)
	corpus, _ := filepath.Abs("../permissions/testdata/corpus/wso2-is-access-control.toml")
	return writeTemp(t, dir, "Caddyfile", `:8080 {
	rest_auth {
		name api
		users `+users+`
		resources `+corpus+`
`+extra+`
	}
	respond ok
}
`)
}

func TestCLICheck(t *testing.T) {
	cfg := cliFixture(t, "")
	cases := []struct {
		q      caddyauth.CheckRequest
		code   int
		status int
		reason string
	}{
		{caddyauth.CheckRequest{Method: "GET", Path: "/scim2/Users", User: "alice"}, 0, 200, "authz.granted"},
		{caddyauth.CheckRequest{Method: "DELETE", Path: "/scim2/Users/123", User: "alice"}, 0, 200, "authz.granted"}, // usermgt is an ancestor of usermgt/delete
		{caddyauth.CheckRequest{Method: "DELETE", Path: "/scim2/Users/123", Roles: []string{"unused"}}, 1, 403, "authz.denied"},
		{caddyauth.CheckRequest{Method: "GET", Path: "/scim2/Users", Scopes: []string{"internal_user_mgt_list"}, AuthMethod: "bearer"}, 1, 401, "cred.missing"}, // bearer not configured
		{caddyauth.CheckRequest{Handler: "api", Method: "GET", Path: "/nowhere", User: "alice"}, 1, 401, "authz.no_rule"},
	}
	for _, c := range cases {
		var out bytes.Buffer
		code, _ := caddyauth.RunCheck(cfg, "", c.q, &out)
		var d caddyauth.Decision
		if err := json.Unmarshal(out.Bytes(), &d); err != nil {
			t.Fatalf("%+v: %v\n%s", c.q, err, out.String())
		}
		if code != c.code || d.Status != c.status || d.Reason != c.reason {
			t.Errorf("%+v: exit %d, %s", c.q, code, out.String())
		}
	}
	if code, err := caddyauth.RunCheck(cfg, "", caddyauth.CheckRequest{Handler: "other", Path: "/"}, &bytes.Buffer{}); code != 2 || err == nil {
		t.Errorf("unknown handler: %d %v", code, err)
	}
	if code, err := caddyauth.RunCheck(filepath.Join(t.TempDir(), "missing"), "", caddyauth.CheckRequest{Path: "/"}, &bytes.Buffer{}); code != 2 || err == nil {
		t.Errorf("missing config: %d %v", code, err)
	}
}

func TestCLILint(t *testing.T) {
	var out bytes.Buffer
	code, err := caddyauth.RunLint(cliFixture(t, ""), "", "", &out)
	if code != 0 || err != nil {
		t.Fatalf("lint: %d %v\n%s", code, err, out.String())
	}
	text := out.String()
	for _, want := range []string{"rule.unreachable", "role.unused", "wso2-is-access-control.toml:1088: rule 162: warning", "users.toml:7: warning"} {
		if !strings.Contains(text, want) {
			t.Errorf("lint output lacks %q:\n%s", want, text)
		}
	}
	out.Reset()
	code, err = caddyauth.RunLint(cliFixture(t, "\t\tresource /x/* {\n\t\t\tauth_handlers OAuthAuthentication\n\t\t}\n"), "", "", &out)
	if code != 1 || err == nil || !strings.Contains(out.String(), `Caddyfile:6: rule 1: error: allowed handler "bearer" is not configured`) {
		t.Errorf("lint with an unknown handler: %d %v\n%s", code, err, out.String())
	}
}

// TestCLILintMistakes: a clean policy says "no findings"; the mistakes of
// issue 14 are found, with their lines.
func TestCLILintMistakes(t *testing.T) {
	dir := t.TempDir()
	hash, _ := bcrypt.GenerateFromPassword([]byte("pw"), 4)
	users := writeTemp(t, dir, "users.toml", "[[roles]]\nname = \"r\"\npermissions = [\"/permission/a\"]\n\n[[users]]\nusername = \"u\"\npassword = \""+string(hash)+"\"\nroles = [\"r\"]\n")
	clean := writeTemp(t, dir, "clean.toml", "[[resource.access_control]]\ncontext = \"/a(.*)\"\nhttp_method = \"GET\"\npermissions = [\"/permission/a\"]\n")
	typo := writeTemp(t, dir, "typo.toml", "[[resource.access_control]]\ncontext = \"/a(.*)\"\nhttp_method = \"GET\"\n\n[[resource.acess_control]]\ncontext = \"/b\"\nhttp_method = \"all\"\n")
	gte := writeTemp(t, dir, "gte.toml", "[[resource.access_control]]\ncontext = \"/a(.*)\"\nhttp_method = \"GTE\"\npermissions = [\"/permission/a\"]\n")
	caddyfile := func(body string) string {
		return writeTemp(t, dir, "Caddyfile", ":8080 {\n\trest_auth {\n\t\tusers "+users+"\n"+body+"\t}\n\trespond ok\n}\n")
	}
	for _, c := range []struct {
		name, body string
		code       int
		want       string
	}{
		{"clean", "\t\tresources " + clean + "\n", 0, "no findings\n"},
		{"a misspelled table", "\t\tresources " + typo + "\n", 1, typo + ":5: resource.acess_control: no such table: did you mean resource.access_control?"},
		{"GTE", "\t\tresources " + gte + "\n", 0, gte + ":2: rule 1: warning: method GTE is not a registered HTTP method: no ordinary client sends it (did you mean GET?) [method.unknown]"},
		{"a Caddyfile path written as a regex", "\t\tresource /api/(.*) GET /permission/a\n", 0, "Caddyfile:4: rule 1: warning: resource path \"/api/(.*)\" is a path pattern"},
		{"no rule", "", 0, "rest_auth: warning: rest_auth has no rule"},
	} {
		var out bytes.Buffer
		code, _ := caddyauth.RunLint(caddyfile(c.body), "", "", &out)
		if code != c.code || !strings.Contains(out.String(), c.want) {
			t.Errorf("%s: exit %d\n%s\nwant exit %d and %q", c.name, code, out.String(), c.code, c.want)
		}
	}
}

// TestCLICheckClaims: the offline check runs a claims authorizer on the
// claims it is given, and lists an authorizer that needs the request as
// not evaluated.
func TestCLICheckClaims(t *testing.T) {
	cfg := cliFixture(t, `
		bearer {
			jwt {
				audience api
				secret 0123456789abcdef0123456789abcdef-cli
				algorithms HS256
			}
		}
		basic
		authorizer claims {
			name sales
			claim department equals sales
		}
		resource /reports/* {
			secured true
			authorizers sales
		}`)
	cases := []struct {
		q      caddyauth.CheckRequest
		code   int
		reason string
	}{
		{caddyauth.CheckRequest{Path: "/reports/q3", User: "alice", Claims: map[string]any{"department": "sales"}}, 0, "authz.granted"},
		{caddyauth.CheckRequest{Path: "/reports/q3", User: "alice", Claims: map[string]any{"department": "hr"}}, 1, "claims.equals:department"},
		{caddyauth.CheckRequest{Path: "/reports/q3", User: "alice"}, 1, "claims.no_token:department"},
	}
	for _, c := range cases {
		var out bytes.Buffer
		code, _ := caddyauth.RunCheck(cfg, "", c.q, &out)
		var d caddyauth.Decision
		if err := json.Unmarshal(out.Bytes(), &d); err != nil {
			t.Fatalf("%+v: %v\n%s", c.q, err, out.String())
		}
		if code != c.code || d.Reason != c.reason {
			t.Errorf("%+v: exit %d, %s", c.q, code, out.String())
		}
	}
}

// TestCLITenants: the offline check acts in tenants; lint reports rules a
// /t/ path cannot reach when tenants are configured.
func TestCLITenants(t *testing.T) {
	dir := t.TempDir()
	hash, _ := bcrypt.GenerateFromPassword([]byte("pw"), 4)
	aUsers := writeTemp(t, dir, "a.toml", `
[[roles]]
name = "a-admin"
permissions = ["/permission"]

[[users]]
username = "carol"
password = "`+string(hash)+`"
roles = ["a-admin"]
`)
	cfg := cliFixture(t, `
		tenant a.com {
			users `+aUsers+`
		}
		resource /only-root/* {
			secured true
		}`)
	for _, c := range []struct {
		q      caddyauth.CheckRequest
		code   int
		reason string
	}{
		{caddyauth.CheckRequest{Path: "/t/a.com/scim2/Users", User: "carol@a.com"}, 0, "authz.granted"},
		{caddyauth.CheckRequest{Path: "/t/a.com/scim2/Users", User: "carol", Tenant: "a.com"}, 0, "authz.granted"},
		{caddyauth.CheckRequest{Path: "/scim2/Users", User: "carol@a.com"}, 1, "authz.cross_tenant"},
		{caddyauth.CheckRequest{Path: "/t/a.com/scim2/Users", User: "alice"}, 1, "authz.cross_tenant"},
		{caddyauth.CheckRequest{Path: "/t/z.com/scim2/Users", User: "alice"}, 1, "tenant.invalid"},
	} {
		var out bytes.Buffer
		code, _ := caddyauth.RunCheck(cfg, "", c.q, &out)
		var d caddyauth.Decision
		if err := json.Unmarshal(out.Bytes(), &d); err != nil {
			t.Fatalf("%+v: %v\n%s", c.q, err, out.String())
		}
		if code != c.code || d.Reason != c.reason {
			t.Errorf("%+v: exit %d, %s", c.q, code, out.String())
		}
	}
	var out bytes.Buffer
	caddyauth.RunLint(cfg, "", "", &out)
	if !strings.Contains(out.String(), `"/only-root/*" cannot match a /t/{tenant}/ path`) || !strings.Contains(out.String(), "[tenant.unprefixed]") {
		t.Errorf("lint:\n%s", out.String())
	}
}

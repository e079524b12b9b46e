package permissions

import (
	"strings"
	"testing"
)

func TestGrants(t *testing.T) {
	cases := []struct {
		held, want string
		ok         bool
	}{
		{"/permission", "/permission/admin/login", true},
		{"/permission/admin", "/permission/admin/login", true},
		{"/permission/admin/login", "/permission/admin/login", true},
		{"/permission/admin/", "/permission/admin/login", true},
		{"/permission/admin", "/permission/admin/login/", true},
		{"/permission/admin", "/permission/administrator", false},
		{"/permission/admin/login/x", "/permission/admin/login", false},
		{"/permission/other", "/permission/admin", false},
	}
	for _, c := range cases {
		if got := Grants(c.held, c.want); got != c.ok {
			t.Errorf("Grants(%q, %q) = %v", c.held, c.want, got)
		}
	}
	if EffectivePermission("/a/b//c") != "/a/b" || EffectivePermission("/a/b/") != "/a/b" {
		t.Error("EffectivePermission")
	}
}

func TestAuthorizeNoAllocation(t *testing.T) {
	p, err := NewPolicy([]Rule{{Context: "/x", Secured: true, Permissions: []string{"/permission/a", "none"}}},
		[]Role{{Name: "r", Permissions: []string{"/permission"}}}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	s := &Subject{Roles: p.Roles([]string{"r"})}
	if n := testing.AllocsPerRun(100, func() { p.Authorize(0, s) }); n != 0 {
		t.Errorf("%v allocations", n)
	}
	if p.Authorize(0, s) != Granted || p.Authorize(0, &Subject{}) != MissingPermission {
		t.Error("wrong verdicts")
	}
}

func TestMethods(t *testing.T) {
	p, err := NewPolicy([]Rule{
		{Context: "/a", Methods: []string{"GET"}},
		{Context: "/b", Methods: []string{"post", "Put"}},
		{Context: "/c", Methods: []string{"PURGE"}},
		{Context: "/d", Methods: []string{"ALL"}},
	}, nil, Options{})
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		m, path string
		want    int
	}{
		{"GET", "/a", 0}, {"head", "/a", 0}, {"POST", "/a", -1}, {"ET", "/a", -1},
		{"POST", "/b", 1}, {"put", "/b", 1}, {"GET", "/b", -1},
		{"purge", "/c", 2}, {"PURGEX", "/c", -1},
		{"ANYTHING", "/d", 3},
	}
	for _, c := range cases {
		if got := p.Match(c.m, c.path); got != c.want {
			t.Errorf("%s %s = %d, want %d", c.m, c.path, got, c.want)
		}
	}
}

func TestPatterns(t *testing.T) {
	cases := []struct {
		pat  string
		glob bool
		path string
		ok   bool
	}{
		{"(.*)/scim2/Me", false, "/scim2/Me", true},
		{"(.*)/scim2/Me", false, "/scim2/Me/", false},
		{"(.*)/scim2/Me", false, "/t/x/scim2/me", true},
		{"/api/identity/*", false, "/api/identity/foo", false}, // a regex, not a glob
		{"/api/identity/*", false, "/api/identity//", true},
		{"/api/identity/*", true, "/api/identity/foo", true},
		{"/api/identity/*", true, "/api/identity", false},
		{"^(?!.*/t/).*/x", false, "/a/x", true},
		{"^(?!.*/t/).*/x", false, "/t/a/x", false},
		{"(.*)/v1/(?!(a|b))(.*)", false, "/v1/c", true},
		{"(.*)/v1/(?!(a|b))(.*)", false, "/v1/a", false},
		{"(.*)/v1/(?=a)(.*)", false, "/v1/abc", true},
		{"(.*)/v1/(?=a)(.*)", false, "/v1/bc", false},
		{"/[A-Z]+", false, "/abc", true},
		{"(.+)/x", false, "/x", false},
		{"(.+)/x", false, "a/x", true},
		{"(.*)/scim2/Users(/?)", false, "/scim2/users/", true},
		{"(.*)/scim2/Users(/?)", false, "/scim2/users", true},
		{"(.*)/scim2/Users(/?)", false, "/scim2/users//", false},
		{"/(.+)(.+)", false, "/\u00e9", false}, // one rune, two bytes
		{"/(.+)(.+)", false, "/\u00e9a", true},
		{"(.*)/a/(.*)/b", false, "/a/a/a/b", true},
		{"(.*)/a/(.*)/b", false, "/a/b", false},
		// many stars on a long path: linear, not exponential, work
		{"(.*)a(.*)a(.*)a(.*)a(.*)a(.*)a(.*)a(.*)a(.*)b", false, "/" + strings.Repeat("a", 5000), false},
		{"(.*)a(.*)a(.*)a(.*)a(.*)a(.*)a(.*)a(.*)a(.*)b", false, "/" + strings.Repeat("a", 5000) + "b", true},
	}
	for _, c := range cases {
		var p *Pattern
		var err error
		if c.glob {
			p, err = CompileGlob(c.pat)
		} else {
			p, err = CompileRegexp(c.pat)
		}
		if err != nil {
			t.Fatalf("%q: %v", c.pat, err)
		}
		if got := p.Match(LowerASCII(c.path)); got != c.ok {
			t.Errorf("%q on %q = %v", c.pat, c.path, got)
		}
		if got := p.matchRE(LowerASCII(c.path)); got != c.ok {
			t.Errorf("%q on %q (RE2) = %v", c.pat, c.path, got)
		}
	}
	for _, bad := range []string{"", "(a", "(?<=x)y", "((?!x))", "a**", "(?!a)(?!b)(?!c)x"} {
		if _, err := CompileRegexp(bad); err == nil {
			t.Errorf("%q compiled", bad)
		}
	}
}

func TestLoadErrors(t *testing.T) {
	cases := []struct {
		name, data, want string
	}{
		{"users.toml", "[[users]]\nusername = \"a\"\npasword = \"x\"\n", "users.toml:3:1: users[1].pasword: unknown key (did you mean password?)"},
		{"users.toml", "[[users]]\nusername = \"a\"\npassword = \"plain\"\n", "users.toml:3: users[1].password: not a bcrypt or argon2id hash"},
		{"users.toml", "[[users]]\nusername = \"a:b\"\npassword = \"x\"\n", "users.toml:2: users[1].username: contains ':'"},
		{"users.toml", "[[users]]\nusername = \"a\"\npassword = \"$2a$10$ZfPjv9Dc6areQN3W1oASBuh6GX92t5nEB5IHJ9UxRNIkjXj5IKoLy\"\n\n[[users]]\nroles = []\npassword = \"plain\"\nusername = \"b\"\n", "users.toml:7: users[2].password: not a bcrypt or argon2id hash"},
		{"users.toml", "[[roles]]\nname = \"r\"\npermissions = [\"admin\"]\n", "users.toml:3: roles[1].permissions: entry 1: permission \"admin\" must start with /"},
		{"users.toml", "[[users]]\nusername = \"a\"\npassword = \"$2a$31$abcdefghijklmnopqrstuuabcdefghijklmnopqrstuvwxyz01234\"\n", "bcrypt cost must be 4 to 16"},
		{"users.toml", "[[users]\n", "users.toml"},
		{"deployment.toml", "[[resource.access_control]]\ncontext = \"/a\"\nsecure = true\n", "deployment.toml:1: resource.access_control[1].http_method: missing"},
		{"deployment.toml", "[[resource.access_control]]\ncontext = \"/a\"\nhttp_method = \"all\"\nsecure = \"yes\"\n", "deployment.toml:4: resource.access_control[1].secure: want true or false, got a string"},
		{"deployment.toml", "[[resource.access_control]]\ncontext = \"/a\"\nhttp_method = \"all\"\npermisions = [\"/p\"]\n", "deployment.toml:4: resource.access_control[1].permisions: unknown key"},
		{"deployment.toml", "[resource_access_control]\ndefault_access = \"maybe\"\n", "deployment.toml:2: resource_access_control.default_access: default_access must be deny or allow"},
	}
	for _, c := range cases {
		var err error
		if c.name == "users.toml" {
			_, err = ParseUsers(c.name, []byte(c.data))
		} else {
			_, err = ParseResources(c.name, []byte(c.data))
		}
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q: error %v, want %q", c.data, err, c.want)
		}
	}
	// a bad pattern is reported with its file and line when compiled
	r, err := ParseResources("d.toml", []byte("[[resource.access_control]]\ncontext = \"(a\"\nhttp_method = \"all\"\n"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := NewPolicy(r.Rules, nil, Options{}); err == nil || !strings.Contains(err.Error(), "d.toml:2") {
		t.Errorf("bad pattern: %v", err)
	}
	// cross_tenant and its allowed tenants (a list, or WSO2's comma-separated text)
	for _, c := range []struct {
		toml    string
		cross   bool
		allowed string
		err     string
	}{
		{"cross_tenant = true\n", true, "", ""},
		{"cross_tenant = \"true\"\ncross_access_allowed_tenants = \"A.com, b.com\"\n", true, "a.com,b.com", ""},
		{"cross_tenant = false\ncross_access_allowed_tenants = [\"c.com\"]\n", false, "c.com", ""},
		{"cross_tenant = \"yes\"\n", false, "", "want true or false"},
		{"cross_tenant = 1\n", false, "", "want true or false"},
	} {
		r, err = ParseResources("d.toml", []byte("[[resource.access_control]]\ncontext = \"/a\"\nhttp_method = \"all\"\n"+c.toml))
		if c.err != "" {
			if err == nil || !strings.Contains(err.Error(), c.err) {
				t.Errorf("%q: %v, want %q", c.toml, err, c.err)
			}
			continue
		}
		if err != nil || r.Rules[0].CrossTenant != c.cross || strings.Join(r.Rules[0].CrossTenantAllowed, ",") != c.allowed || len(r.Rules[0].Ignored) != 0 {
			t.Errorf("%q: %v %+v", c.toml, err, r)
		}
	}
}

func FuzzParseResources(f *testing.F) {
	f.Add([]byte("[[resource.access_control]]\ncontext = \"(.*)/a(.*)\"\nhttp_method = \"GET, POST\"\nsecure = true\npermissions = \"/p/a,/p/b\"\n"))
	f.Add([]byte("[resource_access_control]\ndefault_access = \"allow\"\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := ParseResources("f.toml", data)
		if err != nil {
			return
		}
		p, err := NewPolicy(r.Rules, nil, Options{})
		if err != nil {
			return
		}
		for _, path := range []string{"/", "/a", "/t/x/a/b"} {
			if p.Match("GET", path) != p.MatchNaive("GET", path) {
				t.Fatalf("index and scan disagree on %q", path)
			}
		}
	})
}

func FuzzParseUsers(f *testing.F) {
	f.Add([]byte("[[roles]]\nname = \"r\"\npermissions = [\"/p\"]\n[[users]]\nusername = \"u\"\npassword = \"$2a$04$abcdefghijklmnopqrstuuabcdefghijklmnopqrstuvwxyz01234\"\nroles = [\"r\"]\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		ParseUsers("f.toml", data)
	})
}

func FuzzCompileRegexp(f *testing.F) {
	for _, s := range []string{"(.*)/a(.*)", "^(?!.*/t/).*/x", "(.*)/v1/(?!(a|b))(.*)", "/[A-Z]+"} {
		f.Add(s, "/t/a/x")
	}
	f.Fuzz(func(t *testing.T, pat, path string) {
		p, err := CompileRegexp(pat)
		if err != nil {
			return
		}
		if c, err := Canonicalize(path); err != nil || c != path {
			return // rules only ever see canonical paths
		}
		lower := LowerASCII(path)
		if p.Match(lower) != p.matchRE(lower) {
			t.Fatalf("fast form and RE2 disagree: %q on %q", pat, path)
		}
	})
}

// TestCertificateClients: clients that authenticate with certificates
// (RFC 8705 section 2) and their mistakes.
func TestCertificateClients(t *testing.T) {
	const thumb = "q1MqZ0Rqk8V7mQ8u0m6d3Uj8Yp4hQYy2vN2r7tXk1yE"
	u, err := ParseUsers("u.toml", []byte(`
[[clients]]
client_id = "a"
token_endpoint_auth_method = "tls_client_auth"
tls_client_auth_subject_dn = "CN=a,O=Example"
grant_types = ["client_credentials"]

[[clients]]
client_id = "b"
token_endpoint_auth_method = "self_signed_tls_client_auth"
tls_client_certificate_sha256 = "`+thumb+`"
grant_types = ["client_credentials"]
`))
	if err != nil || len(u.Clients) != 2 || u.Clients[0].AuthMethod != "tls_client_auth" || u.Clients[0].TLSSubjectDN != "CN=a,O=Example" ||
		u.Clients[1].TLSCertSHA256 != thumb {
		t.Fatalf("%v %+v", err, u)
	}
	for _, c := range []struct{ entry, want string }{
		{`token_endpoint_auth_method = "tls_client_auth"`, "needs one of tls_client_auth_subject_dn and tls_client_auth_san_dns"},
		{"token_endpoint_auth_method = \"tls_client_auth\"\ntls_client_auth_subject_dn = \"CN=a\"\ntls_client_auth_san_dns = \"a.example\"", "needs one of"},
		{"token_endpoint_auth_method = \"self_signed_tls_client_auth\"\ntls_client_certificate_sha256 = \"abc\"", "want the certificate's SHA-256"},
		{`token_endpoint_auth_method = "private_key_jwt"`, `unknown method "private_key_jwt"`},
		{"token_endpoint_auth_method = \"tls_client_auth\"\ntls_client_auth_subject_dn = \"CN=a\"\nsecret = \"$2a$04$abcdefghijklmnopqrstuu5Ia7lT4PKg/iX8OI3aBtrAa4O0oA1Cy\"", "has no secret"},
	} {
		_, err := ParseUsers("u.toml", []byte("[[clients]]\nclient_id = \"x\"\ngrant_types = [\"client_credentials\"]\n"+c.entry+"\n"))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q: %v, want %q", c.entry, err, c.want)
		}
	}
}

package caddyauth_test

import (
	"bufio"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2/caddytest"
	"golang.org/x/crypto/bcrypt"

	_ "github.com/restauth/caddy-restauth/caddyauth"
)

// upstream is a real HTTP server behind Caddy that counts what reaches it
// and remembers the last request's headers.
type upstream struct {
	srv  *httptest.Server
	hits atomic.Int64
	mu   sync.Mutex
	last http.Header
	path string
}

func newUpstream(t *testing.T) *upstream {
	u := &upstream{}
	u.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u.hits.Add(1)
		u.mu.Lock()
		u.last = r.Header.Clone()
		u.path = r.URL.EscapedPath()
		u.mu.Unlock()
		io.WriteString(w, "upstream")
	}))
	t.Cleanup(u.srv.Close)
	return u
}

func (u *upstream) addr() string { return strings.TrimPrefix(u.srv.URL, "http://") }

var (
	hashOnce sync.Once
	hashes   map[string]string
)

// testHashes makes low-cost bcrypt hashes once for the whole run.
func testHashes() map[string]string {
	hashOnce.Do(func() {
		hashes = map[string]string{}
		for _, pw := range []string{"admin-pw", "alice-pw", "bob-pw", "dave-pw", "b:c", strings.Repeat("a", 72)} {
			h, err := bcrypt.GenerateFromPassword([]byte(pw), 4)
			if err != nil {
				panic(err)
			}
			hashes[pw] = string(h)
		}
	})
	return hashes
}

func writeFile(t *testing.T, dir, name, content string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func usersTOML() string {
	h := testHashes()
	return fmt.Sprintf(`
[[roles]]
name = "admin"
permissions = ["/permission"]

[[roles]]
name = "usermgt"
permissions = ["/permission/admin/manage/identity/usermgt/list", "/permission/admin/login"]
scopes = ["internal_user_mgt_list"]

[[roles]]
name = "login"
permissions = ["/permission/admin/login"]

[[roles]]
name = "descendant"
permissions = ["/permission/admin/manage/identity/usermgt/list/extra"]

[[roles]]
name = "administrator"
permissions = ["/permission/administrator"]

[[users]]
username = "admin"
password = %q
roles = ["admin"]

[[users]]
username = "alice"
password = %q
roles = ["usermgt"]

[[users]]
username = "bob"
password = %q
roles = ["login"]

[[users]]
username = "dave"
password = %q
roles = ["descendant", "administrator"]

[[users]]
username = "a"
password = %q
roles = ["login"]

[[users]]
username = "long"
password = %q
roles = ["login"]
`, h["admin-pw"], h["alice-pw"], h["bob-pw"], h["dave-pw"], h["b:c"], h[strings.Repeat("a", 72)])
}

const resourcesTOML = `
[resource_access_control]
default_access = "deny"

[[resource.access_control]]
context = "(.*)/public(.*)"
secure = false
http_method = "all"

[[resource.access_control]]
context = "(.*)/scim2/Users(/?)"
secure = true
http_method = "GET"
permissions = ["/permission/admin/manage/identity/usermgt/list"]

[[resource.access_control]]
context = "(.*)/scim2/Users/(.+)"
secure = true
http_method = "all"
permissions = ["/permission/admin/manage/identity/usermgt"]

[[resource.access_control]]
context = "(.*)/api/identity/user/v1.0/me(.*)"
secure = true
http_method = "GET, POST"

[[resource.access_control]]
context = "/both(.*)"
secure = true
http_method = "all"
permissions = ["/permission/admin/login", "/permission/admin/manage/identity/usermgt/list"]

[[resource.access_control]]
context = "/login-only(.*)"
secure = true
http_method = "all"
permissions = ["/permission/admin/login"]

[[resource.access_control]]
context = "/admin-tree(.*)"
secure = true
http_method = "all"
permissions = ["/permission/admin/login"]

[[resource.access_control]]
context = "/scoped(.*)"
secure = true
http_method = "all"
scopes = ["internal_user_mgt_list"]
`

// harness is a real Caddy (in this process, through caddytest) serving
// plain HTTP on 127.0.0.1:9080 in front of a counting upstream.
type harness struct {
	t  *testing.T
	up *upstream
}

// caddyfile starts Caddy with a rest_auth block (its body given) in front
// of a fresh upstream.
func startCaddy(t *testing.T, restAuthBody string) *harness {
	t.Helper()
	dir := t.TempDir()
	users := writeFile(t, dir, "users.toml", usersTOML())
	res := writeFile(t, dir, "deployment.toml", resourcesTOML)
	up := newUpstream(t)
	body := strings.NewReplacer("USERS", users, "RESOURCES", res).Replace(restAuthBody)
	cfg := fmt.Sprintf(`{
	skip_install_trust
	admin localhost:2999
	http_port 9080
	https_port 9443
	grace_period 1ns
}
http://127.0.0.1:9080 {
	rest_auth {
%s
	}
	reverse_proxy %s
}
`, body, up.addr())
	tester := caddytest.NewTester(t)
	tester.InitServer(cfg, "caddyfile")
	return &harness{t: t, up: up}
}

const defaultBody = `
		name test
		users USERS
		resources RESOURCES
		resource /first/* GET /permission/admin/login
		resource /(.*)/looks-like-regex GET
		forward_identity
`

func basic(user, pass string) string {
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+pass))
}

// do sends a request with net/http (for well-formed requests).
func (h *harness) do(method, path string, headers ...string) (*http.Response, string) {
	h.t.Helper()
	req, err := http.NewRequest(method, "http://127.0.0.1:9080"+path, nil)
	if err != nil {
		h.t.Fatal(err)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Add(headers[i], headers[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		h.t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	return resp, string(b)
}

// raw sends a request line and headers as written, for paths that a client
// library would rewrite.
func (h *harness) raw(requestLine string, headers ...string) int {
	h.t.Helper()
	c, err := net.DialTimeout("tcp", "127.0.0.1:9080", 5*time.Second)
	if err != nil {
		h.t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	fmt.Fprintf(c, "%s\r\nHost: 127.0.0.1:9080\r\nConnection: close\r\n", requestLine)
	for _, hd := range headers {
		fmt.Fprintf(c, "%s\r\n", hd)
	}
	fmt.Fprintf(c, "\r\n")
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		h.t.Fatalf("%q: %v", requestLine, err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// expect checks the status and whether the upstream was reached.
func (h *harness) expect(name string, status int, reached bool, send func() int) {
	h.t.Helper()
	before := h.up.hits.Load()
	got := send()
	after := h.up.hits.Load()
	if got != status {
		h.t.Errorf("%s: status %d, want %d", name, got, status)
	}
	if reached && after != before+1 {
		h.t.Errorf("%s: upstream reached %d times, want 1", name, after-before)
	}
	if !reached && after != before {
		h.t.Errorf("%s: denied but the upstream was reached %d times", name, after-before)
	}
}

func (h *harness) status(method, path string, headers ...string) func() int {
	return func() int {
		resp, _ := h.do(method, path, headers...)
		return resp.StatusCode
	}
}

func TestIntegration(t *testing.T) {
	h := startCaddy(t, defaultBody)
	admin := basic("admin", "admin-pw")
	alice := basic("alice", "alice-pw")
	bob := basic("bob", "bob-pw")
	dave := basic("dave", "dave-pw")
	A := "Authorization"

	cases := []struct {
		name    string
		method  string
		path    string
		headers []string
		status  int
	}{
		{"good user", "GET", "/scim2/Users", []string{A, alice}, 200},
		{"bad password", "GET", "/scim2/Users", []string{A, basic("alice", "nope")}, 401},
		{"unknown user", "GET", "/scim2/Users", []string{A, basic("mallory", "alice-pw")}, 401},
		{"username case differs", "GET", "/scim2/Users", []string{A, basic("Alice", "alice-pw")}, 401},
		{"bad base64", "GET", "/scim2/Users", []string{A, "Basic !!!notbase64"}, 401},
		{"unpadded base64", "GET", "/scim2/Users", []string{A, "Basic YWxpY2U6YWxpY2UtcHc"}, 401},
		{"two spaces", "GET", "/scim2/Users", []string{A, "Basic  " + alice[6:]}, 401},
		{"no colon", "GET", "/scim2/Users", []string{A, "Basic " + base64.StdEncoding.EncodeToString([]byte("alice"))}, 401},
		{"empty user", "GET", "/scim2/Users", []string{A, basic("", "alice-pw")}, 401},
		{"empty password", "GET", "/scim2/Users", []string{A, basic("alice", "")}, 401},
		{"non-UTF-8", "GET", "/scim2/Users", []string{A, "Basic " + base64.StdEncoding.EncodeToString([]byte("\xffalice:alice-pw"))}, 401},
		{"colon inside password", "GET", "/login-only", []string{A, basic("a", "b:c")}, 200},
		{"scheme in lower case", "GET", "/scim2/Users", []string{A, "basic " + alice[6:]}, 200},
		{"bcrypt 72-byte password works", "GET", "/login-only", []string{A, basic("long", strings.Repeat("a", 72))}, 200},
		{"bcrypt 73rd byte never matches", "GET", "/login-only", []string{A, basic("long", strings.Repeat("a", 72)+"X")}, 401},
		{"two Authorization headers", "GET", "/scim2/Users", []string{A, alice, A, admin}, 400},
		{"Basic and Bearer together", "GET", "/scim2/Users", []string{A, alice, A, "Bearer x.y.z"}, 400},
		{"12 KiB header: refused before hashing", "GET", "/scim2/Users", []string{A, "Basic " + strings.Repeat("QUFB", 12*1024/4)}, 401},
		{"64 KiB header: Caddy refuses it first", "GET", "/scim2/Users", []string{A, "Basic " + strings.Repeat("QUFB", 64*1024/4)}, 431},
		{"no credentials", "GET", "/scim2/Users", nil, 401},
		{"unsecured rule with bad credentials passes", "GET", "/public/x", []string{A, basic("alice", "wrong")}, 200},
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
		h.expect(c.name, c.status, c.status == 200, h.status(c.method, c.path, c.headers...))
	}

	t.Run("denial body and challenge", func(t *testing.T) {
		resp, body := h.do("GET", "/scim2/Users", A, basic("mallory", "secret"))
		if resp.StatusCode != 401 || !strings.HasPrefix(resp.Header.Get("WWW-Authenticate"), `Basic realm="`) {
			t.Fatalf("status %d, challenge %q", resp.StatusCode, resp.Header.Get("WWW-Authenticate"))
		}
		if !strings.Contains(body, `"code":401`) || strings.Contains(body, "mallory") || resp.Header.Get("Content-Type") != "application/json" {
			t.Errorf("body %q", body)
		}
		resp, body = h.do("GET", "/scim2/Users", A, bob)
		if resp.StatusCode != 403 || !strings.Contains(body, `"message":"Forbidden"`) || resp.Header.Get("WWW-Authenticate") != "" {
			t.Errorf("403: %d %q %q", resp.StatusCode, body, resp.Header.Get("WWW-Authenticate"))
		}
	})

	t.Run("identity headers", func(t *testing.T) {
		h.expect("spoofed headers", 200, true, h.status("GET", "/scim2/Users", A, alice,
			"X-Restauth-User", "admin", "x-restauth-roles", "admin", "X_Restauth_Scopes", "all"))
		h.up.mu.Lock()
		defer h.up.mu.Unlock()
		if got := h.up.last.Get("X-Restauth-User"); got != "alice" {
			t.Errorf("X-Restauth-User = %q", got)
		}
		if got := h.up.last.Values("X-Restauth-Roles"); len(got) != 1 || got[0] != "usermgt" {
			t.Errorf("X-Restauth-Roles = %q", got)
		}
		for name := range h.up.last {
			if strings.Contains(strings.ToLower(name), "restauth_") {
				t.Errorf("spoofed header %q reached the upstream", name)
			}
		}
		if got := h.up.last.Get("X-Restauth-Auth-Method"); got != "basic" {
			t.Errorf("auth method %q", got)
		}
	})

	t.Run("spoofed headers are stripped on unsecured rules too", func(t *testing.T) {
		h.do("GET", "/public/x", "X-Restauth-User", "admin")
		h.up.mu.Lock()
		defer h.up.mu.Unlock()
		if got := h.up.last.Get("X-Restauth-User"); got != "" {
			t.Errorf("X-Restauth-User = %q reached the upstream", got)
		}
	})

	t.Run("upstream receives the canonical path", func(t *testing.T) {
		h.expect("//scim2//Users", 200, true, func() int { return h.raw("GET //scim2//Users HTTP/1.1", "Authorization: "+alice) })
		h.up.mu.Lock()
		defer h.up.mu.Unlock()
		if h.up.path != "/scim2/Users" {
			t.Errorf("upstream path %q", h.up.path)
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
			h.expect("path "+target, 400, false, func() int { return h.raw("GET "+target+" HTTP/1.1", "Authorization: "+admin) })
		}
		// Go itself refuses invalid escapes before any handler runs; still 400.
		h.expect("invalid escape", 400, false, func() int { return h.raw("GET /scim2/%zzUsers HTTP/1.1", "Authorization: "+admin) })
		h.expect("trailing dot-dot", 400, false, func() int { return h.raw("GET /scim2/Users/.. HTTP/1.1", "Authorization: "+admin) })
	})

	t.Run("method tricks", func(t *testing.T) {
		h.expect("lower-case get", 200, true, func() int { return h.raw("get /scim2/Users HTTP/1.1", "Authorization: "+alice) })
		h.expect("ET is not GET", 401, false, func() int { return h.raw("ET /scim2/Users HTTP/1.1", "Authorization: "+admin) })
		h.expect("method override header ignored", 401, false, h.status("POST", "/scim2/Users", A, admin, "X-HTTP-Method-Override", "GET"))
	})
}

func TestDefaultAllow(t *testing.T) {
	h := startCaddy(t, `
		users USERS
		resources RESOURCES
		default_access allow
`)
	h.expect("unmatched passes under allow", 200, true, h.status("GET", "/unmatched"))
	h.expect("matched still secured", 401, false, h.status("GET", "/scim2/Users"))
}

func TestPermissionMatchAny(t *testing.T) {
	h := startCaddy(t, `
		users USERS
		resources RESOURCES
		permission_match any
		cors_preflight off
`)
	h.expect("ANY: one held", 200, true, h.status("GET", "/both", "Authorization", basic("bob", "bob-pw")))
	h.expect("ANY: none held", 403, false, h.status("GET", "/both", "Authorization", basic("dave", "dave-pw")))
	h.expect("preflight off: OPTIONS is authenticated", 401, false,
		h.status("OPTIONS", "/scim2/Users", "Origin", "https://a.example", "Access-Control-Request-Method", "GET"))
}

func TestThrottle(t *testing.T) {
	h := startCaddy(t, `
		users USERS
		resources RESOURCES
		basic {
			# a window of its own: counters live as long as the process,
			# and earlier tests' failures in a 1m window would count here
			throttle 3 61s
		}
`)
	for i := 0; i < 3; i++ {
		h.expect("wrong password", 401, false, h.status("GET", "/scim2/Users", "Authorization", basic("alice", "wrong")))
	}
	resp, _ := h.do("GET", "/scim2/Users", "Authorization", basic("alice", "alice-pw"))
	if resp.StatusCode != 429 || resp.Header.Get("Retry-After") == "" {
		t.Fatalf("after 3 failures: %d, Retry-After %q", resp.StatusCode, resp.Header.Get("Retry-After"))
	}
	if code, body := adminCall(t, "POST", "/rest-auth/reload", "{}"); code != 200 {
		t.Fatalf("reload: %d %s", code, body)
	}
	h.expect("a reload does not forget failures", 429, false, h.status("GET", "/scim2/Users", "Authorization", basic("alice", "alice-pw")))
	for i := 0; i < 4; i++ {
		h.do("GET", "/scim2/Users", "Authorization", basic("ghost", "x"))
	}
	h.expect("unknown users are throttled alike", 429, false, h.status("GET", "/scim2/Users", "Authorization", basic("ghost", "x")))
	h.expect("another user is not throttled", 200, true, h.status("GET", "/scim2/Users", "Authorization", basic("admin", "admin-pw")))
}

// TestThrottleSpraying: many user names from one address, and one user name
// from many guesses, are bounded too.
func TestThrottleSpraying(t *testing.T) {
	h := startCaddy(t, `
		users USERS
		resources RESOURCES
		basic {
			throttle 100 2m
			throttle_address 5
			throttle_user off
		}
`)
	for i := 0; i < 5; i++ {
		h.expect("spraying", 401, false, h.status("GET", "/scim2/Users", "Authorization", basic(fmt.Sprint("user", i), "guess")))
	}
	resp, _ := h.do("GET", "/scim2/Users", "Authorization", basic("admin", "admin-pw"))
	if resp.StatusCode != 429 || resp.Header.Get("Retry-After") == "" {
		t.Errorf("after 5 failures from one address for 5 users: %d", resp.StatusCode)
	}
}

// TestDenialDescriptions: a denial's description says what happened
// (valid credentials on a path no rule covers do not read "not valid"),
// never echoes the request, and never tells an unknown user from a wrong
// password.
func TestDenialDescriptions(t *testing.T) {
	h := startCaddy(t, defaultBody)
	A := "Authorization"
	for _, c := range []struct {
		name    string
		path    string
		headers []string
		status  int
		desc    string
	}{
		{"no rule, good credentials", "/no/rule/here", []string{A, basic("alice", "alice-pw")}, 401, "No rule allows this request."},
		{"no credentials", "/scim2/Users", nil, 401, "Authentication is required."},
		{"wrong password", "/scim2/Users", []string{A, basic("alice", "nope")}, 401, "The user name or password is not valid."},
		{"unknown user", "/scim2/Users", []string{A, basic("mallory-x", "nope")}, 401, "The user name or password is not valid."},
		{"malformed", "/scim2/Users", []string{A, "Basic !!!"}, 401, "The credentials are malformed."},
		{"lacks the permission", "/scim2/Users", []string{A, basic("bob", "bob-pw")}, 403, "The caller lacks a permission or scope this resource requires."},
	} {
		before := h.up.hits.Load()
		resp, body := h.do("GET", c.path, c.headers...)
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
		if h.up.hits.Load() != before {
			t.Errorf("%s: the upstream was reached", c.name)
		}
	}
}

package caddyauth_test

import (
	"fmt"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2/caddytest"
	"github.com/restauth/caddy-restauth/internal/testkit"
	"golang.org/x/crypto/bcrypt"
)

// TestSecuritySuite is the regression suite for the attacks in
// shared/research/security.md that reach rest_auth over HTTP: each case is a
// real request to a real Caddy, and every denial also checks that the
// upstream was not reached.
func TestSecuritySuite(t *testing.T) {
	h := testkit.StartCaddy(t, defaultBody+`
		basic {
			throttle off
		}
`)
	alice := testkit.Basic("alice", "alice-pw")
	bob := testkit.Basic("bob", "bob-pw")
	type tc struct {
		name    string
		send    func() int
		status  int
		reached bool
	}
	raw := func(line string, headers ...string) func() int { return func() int { return h.Raw(line, headers...) } }
	cases := []tc{
		// path confusion: the rule for /scim2/Users must not be dodged or borrowed
		{"dot-dot into a protected path", raw("GET /public/../scim2/Users HTTP/1.1", "Authorization: "+bob), 400, false},
		{"encoded dot-dot", raw("GET /public/%2e%2e/scim2/Users HTTP/1.1", "Authorization: "+bob), 400, false},
		{"double-encoded dot-dot", raw("GET /public/%252e%252e/scim2/Users HTTP/1.1", "Authorization: "+bob), 400, false},
		{"encoded slash", raw("GET /scim2%2fUsers HTTP/1.1", "Authorization: "+bob), 400, false},
		{"backslash", raw("GET /public\\..\\scim2/Users HTTP/1.1", "Authorization: "+bob), 400, false},
		{"matrix parameter", raw("GET /scim2/Users;x=1 HTTP/1.1", "Authorization: "+bob), 400, false},
		{"encoded semicolon", raw("GET /scim2/Users%3bx HTTP/1.1", "Authorization: "+bob), 400, false},
		{"NUL byte", raw("GET /scim2/Users%00 HTTP/1.1", "Authorization: "+bob), 400, false},
		{"dot segment", raw("GET /scim2/./Users HTTP/1.1", "Authorization: "+bob), 400, false},
		{"upper case path takes the same rule", raw("GET /SCIM2/USERS HTTP/1.1", "Authorization: "+bob), 403, false},
		{"doubled slashes take the same rule", raw("GET //scim2//Users HTTP/1.1", "Authorization: "+bob), 403, false},
		{"absolute-form target", raw("GET http://127.0.0.1:9080/scim2/Users HTTP/1.1", "Authorization: "+bob), 403, false},
		{"unsecured prefix does not cover a protected sibling", raw("GET /publicX/../scim2/Users HTTP/1.1"), 400, false},
		// method tricks
		{"lower-case method is the same method", raw("get /scim2/Users HTTP/1.1", "Authorization: "+bob), 403, false},
		{"HEAD is authorized like GET", raw("HEAD /scim2/Users HTTP/1.1", "Authorization: "+bob), 403, false},
		{"method override header does not change the rule", raw("GET /scim2/Users HTTP/1.1", "Authorization: "+bob, "X-HTTP-Method-Override: GET"), 403, false},
		{"unknown method matches no rule", raw("FOO /scim2/Users HTTP/1.1", "Authorization: "+alice), 401, false},
		// credential smuggling
		{"two Authorization headers", raw("GET /scim2/Users HTTP/1.1", "Authorization: "+bob, "Authorization: "+alice), 400, false},
		{"Basic and Bearer together", raw("GET /scim2/Users HTTP/1.1", "Authorization: "+alice, "Authorization: Bearer x.y.z"), 400, false},
		{"credentials in the URL are not credentials", raw("GET http://alice:alice-pw@127.0.0.1:9080/scim2/Users HTTP/1.1"), 401, false},
		{"scheme without a space", raw("GET /scim2/Users HTTP/1.1", "Authorization: Basic"+alice[6:]), 401, false},
		{"tab instead of space", raw("GET /scim2/Users HTTP/1.1", "Authorization: Basic\t"+alice[6:]), 401, false},
		{"a bad credential is not skipped for none", raw("GET /public/x HTTP/1.1", "Authorization: Basic !!"), 200, true},
	}
	for _, c := range cases {
		h.Expect(c.name, c.status, c.reached, c.send)
	}

	t.Run("identity and override headers never reach the upstream", func(t *testing.T) {
		spoofed := []string{
			"X-Restauth-User: admin", "x-restauth-roles: admin", "X_Restauth_User: admin", "X-RESTAUTH-AUTH-METHOD: basic",
			"X_RESTAUTH_SCOPES: all", "X-HTTP-Method-Override: DELETE", "X-Http-Method: DELETE", "X-Method-Override: DELETE",
			"X_HTTP_Method_Override: DELETE",
		}
		for _, path := range []string{"/scim2/Users", "/public/x"} {
			auth := []string{"Authorization: " + alice}
			h.Expect("spoofed headers on "+path, 200, true, raw("GET "+path+" HTTP/1.1", append(auth, spoofed...)...))
			last, _ := h.Up.Last()
			for name, vals := range last {
				n := strings.ToLower(strings.ReplaceAll(name, "_", "-"))
				if (strings.Contains(n, "method") && n != "x-restauth-auth-method") || (strings.HasPrefix(n, "x-restauth-") && strings.Contains(strings.Join(vals, ","), "admin")) ||
					(strings.HasPrefix(n, "x-restauth-") && path == "/public/x") {
					t.Errorf("%s: the upstream received %s: %q", path, name, vals)
				}
			}
			if path == "/scim2/Users" && last.Get("X-Restauth-User") != "alice" {
				t.Errorf("forwarded user %q", last.Get("X-Restauth-User"))
			}
		}
	})
}

// TestClientAddressIsCaddys: throttling keys on Caddy's client IP. A raw
// X-Forwarded-For changes nothing unless the peer is a trusted proxy.
func TestClientAddressIsCaddys(t *testing.T) {
	run := func(trusted bool) (statuses []int) {
		dir := t.TempDir()
		users := testkit.WriteFile(t, dir, "users.toml", testkit.UsersTOML())
		res := testkit.WriteFile(t, dir, "deployment.toml", testkit.ResourcesTOML)
		up := testkit.NewUpstream(t)
		servers := ""
		if trusted {
			servers = "servers {\n\t\ttrusted_proxies static 127.0.0.1/32\n\t}"
		}
		cfg := fmt.Sprintf(`{
	skip_install_trust
	admin localhost:2999
	http_port 9080
	grace_period 1ns
	%s
}
http://127.0.0.1:9080 {
	rest_auth {
		users %s
		resources %s
		basic {
			throttle 2 3m
			throttle_address off
			throttle_user off
		}
	}
	reverse_proxy %s
}`, servers, users, res, up.Addr())
		caddytest.NewTester(t).InitServer(cfg, "caddyfile")
		h := &testkit.Harness{T: t, Up: up}
		user := fmt.Sprintf("xff-%v", trusted)
		for i := 0; i < 4; i++ {
			resp, _ := h.Do("GET", "/scim2/Users", "Authorization", testkit.Basic(user, "guess"), "X-Forwarded-For", fmt.Sprintf("203.0.113.%d", i))
			statuses = append(statuses, resp.StatusCode)
		}
		return statuses
	}
	if got := fmt.Sprint(run(false)); got != "[401 401 429 429]" {
		t.Errorf("untrusted X-Forwarded-For escaped the throttle: %s", got)
	}
	if got := fmt.Sprint(run(true)); got != "[401 401 401 401]" {
		t.Errorf("a trusted proxy's X-Forwarded-For should name the client: %s", got)
	}
}

// TestBoundedHashing: 200 concurrent new wrong passwords do not queue
// without end: beyond the hashing slots they get a quick 503 with
// Retry-After, and a client with cached credentials keeps being served.
func TestBoundedHashing(t *testing.T) {
	hash, err := bcrypt.GenerateFromPassword([]byte("alice-pw"), bcrypt.DefaultCost) // a real cost
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	users := testkit.WriteFile(t, dir, "users10.toml", fmt.Sprintf("[[roles]]\nname = \"usermgt\"\npermissions = [\"/permission\"]\n\n[[users]]\nusername = \"alice\"\npassword = %q\nroles = [\"usermgt\"]\n", hash))
	h := testkit.StartCaddy(t, `
		users `+users+`
		resources RESOURCES
		basic {
			throttle off
		}
`)
	h.Expect("warm the cache", 200, true, h.Status("GET", "/scim2/Users", "Authorization", testkit.Basic("alice", "alice-pw")))
	var wg sync.WaitGroup
	var s401, s503, other atomic.Int64
	start := make(chan struct{})
	for i := 0; i < 200; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			<-start
			req, _ := http.NewRequest("GET", "http://127.0.0.1:9080/scim2/Users", nil)
			req.Header.Set("Authorization", testkit.Basic(fmt.Sprint("nobody", i), fmt.Sprint("guess", i)))
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				other.Add(1)
				return
			}
			resp.Body.Close()
			switch {
			case resp.StatusCode == 401:
				s401.Add(1)
			case resp.StatusCode == 503 && resp.Header.Get("Retry-After") != "":
				s503.Add(1)
			default:
				other.Add(1)
			}
		}(i)
	}
	close(start)
	time.Sleep(20 * time.Millisecond)
	h.Expect("cached credentials during the flood", 200, true, h.Status("GET", "/scim2/Users", "Authorization", testkit.Basic("alice", "alice-pw")))
	wg.Wait()
	t.Logf("200 concurrent wrong passwords: %d checked (401), %d refused at once (503)", s401.Load(), s503.Load())
	if s401.Load()+s503.Load() != 200 || other.Load() != 0 || s401.Load() == 0 {
		t.Errorf("401: %d, 503: %d, other: %d", s401.Load(), s503.Load(), other.Load())
	}
}

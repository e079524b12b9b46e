package ldapstore_test

import (
	"bufio"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2/caddytest"
	"github.com/go-ldap/ldap/v3"

	"github.com/restauth/caddy-restauth/internal/slapdtest"
	"github.com/restauth/caddy-restauth/internal/testkit"
)

// metric reads one sample from the test Caddy's /metrics (0 when absent).
func metric(t *testing.T, series string) float64 {
	t.Helper()
	resp, err := http.Get(testkit.AdminURL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), series+" "); ok {
			v, err := strconv.ParseFloat(rest, 64)
			if err != nil {
				t.Fatal(err)
			}
			return v
		}
	}
	return 0
}

const (
	binds      = `caddy_rest_auth_directory_requests_total{op="bind",result="ok"}`
	badBinds   = `caddy_rest_auth_directory_requests_total{op="bind",result="invalid_credentials"}`
	searchesOK = `caddy_rest_auth_directory_requests_total{op="search",result="ok"}`
)

// bindCount is every user bind and refused bind so far.
func bindCount(t *testing.T) float64 { return metric(t, binds) + metric(t, badBinds) }

// TestLDAPStore: Basic against a real slapd through a real Caddy.
func TestLDAPStore(t *testing.T) {
	dir := startPrimary(t, slapdtest.Options{})
	h := testkit.StartCaddy(t, `
		users USERS
		resources RESOURCES
		forward_identity
		`+storeBlock("user_store", dir.URL, "nested_groups search", "role superusers admin", "cache_ttl 2s", "lookup_ttl 2s")+`
		basic`)
	get := func(path, user, pass string) func() int {
		return h.Status("GET", path, "Authorization", testkit.Basic(user, pass))
	}

	h.Expect("alice, good password, role from her group", 200, true, get("/scim2/Users", "alice", pw["alice"]))
	if got := lastUser(h); got != "alice" {
		t.Errorf("principal %q, want alice", got)
	}
	h.Expect("alice, wrong password", 401, false, get("/scim2/Users", "alice", "wrong"))
	h.Expect("alice, the users file's password is not the directory's", 401, false, get("/scim2/Users", "alice", "alice-pw"))
	h.Expect("unknown user", 401, false, get("/scim2/Users", "nobody", "x"))
	h.Expect("carol, in usermgt and login: a rule needing both", 200, true, get("/both/x", "carol", pw["carol"]))
	h.Expect("dave, in login only: no usermgt", 403, false, get("/scim2/Users", "dave", pw["dave"]))
	h.Expect("erin, in ops, which superusers holds (nested): admin", 200, true, get("/scim2/Users", "erin", pw["erin"]))
	h.Expect("a generated user, in staff (no role of that name)", 403, false, get("/login-only/x", "user0500", pw["user0500"]))
	h.Expect("a name with filter characters, its own password", 200, true, get("/login-only/x", starName, pw[starName]))
	h.Expect("ALICE: the directory's spelling is the principal", 200, true, get("/scim2/Users", "ALICE", pw["alice"]))
	if got := lastUser(h); got != "alice" {
		t.Errorf("principal %q for ALICE, want alice", got)
	}

	t.Run("no bind without a password", func(t *testing.T) {
		before := bindCount(t)
		// Basic with an empty password does not parse (401 cred.malformed);
		// the store refuses it too when asked directly (the token service)
		h.Expect("empty password", 401, false, get("/scim2/Users", "alice", ""))
		if after := bindCount(t); after != before {
			t.Errorf("%v binds for an empty password", after-before)
		}
	})

	t.Run("filter injection", func(t *testing.T) {
		for _, name := range []string{"*", "alice)(uid=*", "*)(|(uid=*", "al*", "alice\\2a", "(uid=alice)", "star*", "alice\x00"} {
			h.Expect("name "+strconv.Quote(name), 401, false, get("/scim2/Users", name, pw["alice"]))
		}
	})

	t.Run("two entries share a name: refused, not the first", func(t *testing.T) {
		h.Expect("twin", 401, false, get("/login-only/x", "twin", pw["twin"]))
	})

	t.Run("moved between groups: effective after the cache TTL", func(t *testing.T) {
		h.Expect("dave before", 403, false, get("/scim2/Users", "dave", pw["dave"]))
		c := dir.Conn()
		defer c.Close()
		mod := ldap.NewModifyRequest("cn=usermgt,"+groups, nil)
		mod.Add("member", []string{userDN("dave")})
		if err := c.Modify(mod); err != nil {
			t.Fatal(err)
		}
		h.Expect("dave at once (cached)", 403, false, get("/scim2/Users", "dave", pw["dave"]))
		time.Sleep(2100 * time.Millisecond)
		h.Expect("dave after the TTL", 200, true, get("/scim2/Users", "dave", pw["dave"]))
	})

	t.Run("a cached credential costs no round trip", func(t *testing.T) {
		h.Expect("carol", 200, true, get("/both/x", "carol", pw["carol"]))
		before := bindCount(t) + metric(t, searchesOK)
		for range 20 {
			h.Expect("carol again", 200, true, get("/both/x", "carol", pw["carol"]))
		}
		if after := bindCount(t) + metric(t, searchesOK); after != before {
			t.Errorf("%v directory requests for 20 cached requests", after-before)
		}
	})

	t.Run("32 first requests of one credential: one bind", func(t *testing.T) {
		before := bindCount(t)
		var wg sync.WaitGroup
		codes := make(chan int, 32)
		for range 32 {
			wg.Go(func() { codes <- get("/login-only/x", "user0123", "pw-user0123")() })
		}
		wg.Wait()
		close(codes)
		for c := range codes {
			if c != 403 { // user0123 is in staff only: authenticated, no role
				t.Errorf("status %d, want 403", c)
			}
		}
		if n := bindCount(t) - before; n != 1 {
			t.Errorf("%v binds, want 1", n)
		}
	})

	t.Run("throttled as one user in any case", func(t *testing.T) {
		for i := range 10 {
			name := []string{"user0007", "USER0007", "User0007"}[i%3]
			h.Expect("wrong password "+name, 401, false, get("/scim2/Users", name, "wrong"))
		}
		h.Expect("the eleventh, another spelling", 429, false, get("/scim2/Users", "uSeR0007", "wrong"))
	})

	t.Run("admin API: check looks the user's roles up", func(t *testing.T) {
		code, body := testkit.AdminCall(t, "POST", "/rest-auth/check", `{"method":"GET","path":"/scim2/Users","user":"carol"}`)
		if code != 200 || !regexp.MustCompile(`"allowed":\s*true`).MatchString(body) {
			t.Errorf("check carol: %d %s", code, body)
		}
		code, body = testkit.AdminCall(t, "GET", "/rest-auth/", "")
		if code != 200 || strings.Contains(body, readerPW) || !regexp.MustCompile(`"bind_password":\s*"\[redacted\]"`).MatchString(body) {
			t.Errorf("listing: %d %s", code, body)
		}
		if strings.Contains(body, "user0500") {
			t.Error("the listing shows directory users")
		}
	})

	t.Run("directory down: 503 at once, no throttle counted, cached still served; then back", func(t *testing.T) {
		h.Expect("carol cached", 200, true, get("/both/x", "carol", pw["carol"]))
		dir.Stop()
		for i := range 12 {
			start := time.Now()
			resp, _ := h.Do("GET", "/scim2/Users", "Authorization", testkit.Basic("user0042", "wrong-"+strconv.Itoa(i)))
			if resp.StatusCode != 503 || resp.Header.Get("Retry-After") == "" {
				t.Errorf("down, request %d: %d (Retry-After %q), want 503 with Retry-After", i, resp.StatusCode, resp.Header.Get("Retry-After"))
			}
			if d := time.Since(start); i > 0 && d > 500*time.Millisecond {
				t.Errorf("down, request %d took %v: not answered at once", i, d)
			}
		}
		h.Expect("carol cached while down", 200, true, get("/both/x", "carol", pw["carol"]))
		dir.Restart()
		testkit.WaitFor(t, func() bool { return get("/login-only/x", "user0042", "pw-user0042")() == 403 })
		// the twelve 503s counted nothing: a wrong password is a 401 again
		h.Expect("after recovery, a wrong password", 401, false, get("/scim2/Users", "user0042", "wrong"))
	})
}

// TestLDAPSlowDirectory: a directory slower than the timeout gives 503,
// never a 401, and the requests after it are answered at once.
func TestLDAPSlowDirectory(t *testing.T) {
	dir := startPrimary(t, slapdtest.Options{})
	proxy := slapdtest.NewProxy(t, dir.Addr)
	h := testkit.StartCaddy(t, `
		users USERS
		resources RESOURCES
		`+storeBlock("user_store", "ldap://"+proxy.Addr, "timeout 300ms")+`
		basic`)
	get := func(user, pass string) func() int {
		return h.Status("GET", "/scim2/Users", "Authorization", testkit.Basic(user, pass))
	}
	h.Expect("fast", 200, true, get("alice", pw["alice"]))
	proxy.SetDelay(time.Second)
	start := time.Now()
	h.Expect("slow: 503", 503, false, get("carol", pw["carol"]))
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("a slow directory held the request %v", d)
	}
	start = time.Now()
	h.Expect("while known slow: 503 at once", 503, false, get("carol", "wrong"))
	if d := time.Since(start); d > 200*time.Millisecond {
		t.Errorf("the next request took %v", d)
	}
	proxy.SetDelay(0)
	testkit.WaitFor(t, func() bool { return get("carol", pw["carol"])() == 200 })
}

// TestLDAPStartTLS: StartTLS with the directory's CA; without it the
// certificate is refused (503, nothing granted).
func TestLDAPStartTLS(t *testing.T) {
	dir := startPrimary(t, slapdtest.Options{TLS: true})
	h := testkit.StartCaddy(t, `
		users USERS
		resources RESOURCES
		`+storeBlock("user_store", dir.URL, "start_tls", "ca_file "+dir.CAFile)+`
		basic`)
	h.Expect("alice over StartTLS", 200, true, h.Status("GET", "/scim2/Users", "Authorization", testkit.Basic("alice", pw["alice"])))
	h.Expect("wrong password over StartTLS", 401, false, h.Status("GET", "/scim2/Users", "Authorization", testkit.Basic("alice", "x")))

	h = testkit.StartCaddy(t, `
		users USERS
		resources RESOURCES
		`+storeBlock("user_store", dir.URL, "start_tls")+`
		basic`)
	h.Expect("a certificate no configured CA signed", 503, false, h.Status("GET", "/scim2/Users", "Authorization", testkit.Basic("alice", pw["alice"])))
}

// TestLDAPSecondaryStore: SECONDARY/bob goes to the second directory only,
// in any case, and the principal carries the domain; bob alone goes to
// the primary store, which has no bob.
func TestLDAPSecondaryStore(t *testing.T) {
	primary := startPrimary(t, slapdtest.Options{})
	secondary := slapdtest.Start(t, slapdtest.Options{LDIF: secondaryLDIF()})
	h := testkit.StartCaddy(t, `
		users USERS
		resources RESOURCES
		forward_identity
		`+storeBlock("user_store", primary.URL)+`
		`+storeBlock("secondary_store SECONDARY", secondary.URL, "role developers login")+`
		basic`)
	get := func(user, pass string) func() int {
		return h.Status("GET", "/login-only/x", "Authorization", testkit.Basic(user, pass))
	}
	h.Expect("SECONDARY/bob", 200, true, get("SECONDARY/bob", pw["bob"]))
	if got := lastUser(h); got != "SECONDARY/bob" {
		t.Errorf("principal %q, want SECONDARY/bob", got)
	}
	h.Expect("secondary/bob (the domain in any case)", 200, true, get("secondary/bob", pw["bob"]))
	if got := lastUser(h); got != "SECONDARY/bob" {
		t.Errorf("principal %q, want SECONDARY/bob", got)
	}
	h.Expect("bob unqualified: the primary store has no bob", 401, false, get("bob", pw["bob"]))
	h.Expect("SECONDARY/alice: alice is in the primary store only", 401, false, get("SECONDARY/alice", pw["alice"]))
	h.Expect("PRIMARY/carol", 200, true, get("PRIMARY/carol", pw["carol"]))
	if got := lastUser(h); got != "carol" {
		t.Errorf("principal %q, want carol", got)
	}
	h.Expect("OTHER/bob: no such domain, so the primary store's (none)", 401, false, get("OTHER/bob", pw["bob"]))
}

// TestLDAPMemberOf: groups read from the memberOf attribute that OpenLDAP's
// memberof overlay keeps.
func TestLDAPMemberOf(t *testing.T) {
	dir := startPrimary(t, slapdtest.Options{MemberOf: true})
	c := dir.Conn()
	add := ldap.NewAddRequest("cn=auditors,"+groups, nil)
	add.Attribute("objectClass", []string{"groupOfNames"})
	add.Attribute("cn", []string{"auditors"})
	add.Attribute("member", []string{userDN("dave")})
	if err := c.Add(add); err != nil {
		t.Fatal(err)
	}
	c.Close()
	h := testkit.StartCaddy(t, `
		users USERS
		resources RESOURCES
		`+storeBlock("user_store", dir.URL, "member_of_attribute memberOf", "role auditors usermgt")+`
		basic`)
	h.Expect("dave, auditors through memberOf", 200, true, h.Status("GET", "/scim2/Users", "Authorization", testkit.Basic("dave", pw["dave"])))
	h.Expect("carol: her groups were loaded before the overlay saw them, so no memberOf", 403, false,
		h.Status("GET", "/scim2/Users", "Authorization", testkit.Basic("carol", pw["carol"])))
}

// TestLDAPTokenService: the password grant checks the directory, a
// secondary store's user gets a token in its qualified name, and the
// token's roles are looked up in the directory.
func TestLDAPTokenService(t *testing.T) {
	primary := startPrimary(t, slapdtest.Options{})
	secondary := slapdtest.Start(t, slapdtest.Options{LDIF: secondaryLDIF()})
	tmp := t.TempDir()
	users := testkit.WriteFile(t, tmp, "users.toml", testkit.UsersTOML()+testkit.ClientsTOML())
	res := testkit.WriteFile(t, tmp, "deployment.toml", testkit.ResourcesTOML)
	up := testkit.NewUpstream(t)
	stores := storeBlock("user_store", primary.URL) + "\n\t\t" + storeBlock("secondary_store SECONDARY", secondary.URL, "role developers login")
	cfg := `{
	skip_install_trust
	admin localhost:2999
	http_port 9080
	grace_period 1ns
}
http://127.0.0.1:9080 {
	oauth2_server {
		issuer https://issuer.test
		users ` + users + `
		` + stores + `
	}
	rest_auth {
		users ` + users + `
		resources ` + res + `
		` + stores + `
		forward_identity
		bearer
	}
	reverse_proxy ` + up.Addr() + `
}
`
	caddytest.NewTester(t).InitServer(cfg, "caddyfile")
	h := &testkit.Harness{T: t, Up: up}
	grant := func(user, pass string) (int, string) {
		code, _, tr, _ := testkit.OAuthPost(t, "token", testkit.Form("grant_type", "password", "username", user, "password", pass), "app", "app secret/+&")
		return code, tr.AccessToken
	}
	code, tok := grant("alice", pw["alice"])
	if code != 200 || tok == "" {
		t.Fatalf("password grant for alice: %d", code)
	}
	h.Expect("alice's token, roles from her directory groups", 200, true, h.Status("GET", "/scim2/Users", "Authorization", testkit.Bearer(tok)))
	if code, _ := grant("alice", "wrong"); code != 400 {
		t.Errorf("wrong password: %d, want 400", code)
	}
	code, tok = grant("SECONDARY/bob", pw["bob"])
	if code != 200 || tok == "" {
		t.Fatalf("password grant for SECONDARY/bob: %d", code)
	}
	h.Expect("SECONDARY/bob's token", 200, true, h.Status("GET", "/login-only/x", "Authorization", testkit.Bearer(tok)))
	if got := lastUser(h); got != "SECONDARY/bob" {
		t.Errorf("principal %q, want SECONDARY/bob", got)
	}
	h.Expect("SECONDARY/bob's token, a rule his roles miss", 403, false, h.Status("GET", "/scim2/Users", "Authorization", testkit.Bearer(tok)))
}

// lastUser is the user rest_auth named to the upstream last.
func lastUser(h *testkit.Harness) string {
	hdr, _ := h.Up.Last()
	return hdr.Get("X-Restauth-User")
}

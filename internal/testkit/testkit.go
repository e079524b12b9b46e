// Package testkit is what the tests of caddy-restauth's packages share: a
// real Caddy (through caddytest) on 127.0.0.1:9080 with its admin API on
// localhost:2999, in front of a real upstream that counts what reaches
// it; users, rules and clients files; and helpers for the admin API, the
// token service and the Caddyfile adapter. It imports every module.
package testkit

import (
	"bufio"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig"
	"github.com/caddyserver/caddy/v2/caddytest"
	"golang.org/x/crypto/bcrypt"

	_ "github.com/restauth/caddy-restauth" // every module
)

// lockAddr is bound by the test process that may start Caddy: the
// packages whose tests do use the same ports (admin 2999, sites on 9080
// and up), and go test runs packages in parallel processes, so they take
// turns. A bound port is released when its process ends, however it
// ends.
const lockAddr = "127.0.0.1:2998"

// Main runs a package's tests holding the test lock; call it from the
// TestMain of every package whose tests start Caddy. A fuzzing run starts
// no Caddy and takes no lock: its workers are this same binary, and would
// wait for the lock their coordinator holds.
func Main(m *testing.M) {
	for _, a := range os.Args[1:] {
		if strings.HasPrefix(a, "-test.fuzz") {
			os.Exit(m.Run())
		}
	}
	var l net.Listener
	for {
		var err error
		if l, err = net.Listen("tcp", lockAddr); err == nil {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	code := m.Run()
	// not closed: the process's exit releases the lock, after Caddy's own
	// ports, so that the next package cannot find this Caddy still
	// answering on the admin port (and load its config into it)
	runtime.KeepAlive(l)
	os.Exit(code)
}

// Upstream is a real HTTP server behind Caddy that counts what reaches it
// and remembers the last request's headers and path.
type Upstream struct {
	srv   *httptest.Server
	Hits  atomic.Int64
	mu    sync.Mutex
	last  http.Header
	path  string
	query string
	body  string
}

// NewUpstream starts an upstream for the test.
func NewUpstream(t testing.TB) *Upstream {
	u := &Upstream{}
	u.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u.Hits.Add(1)
		u.mu.Lock()
		u.last = r.Header.Clone()
		u.path = r.URL.EscapedPath()
		u.query = r.URL.RawQuery
		b, _ := io.ReadAll(r.Body)
		u.body = string(b)
		u.mu.Unlock()
		io.WriteString(w, "upstream")
	}))
	t.Cleanup(u.srv.Close)
	return u
}

// Addr is the upstream's host:port.
func (u *Upstream) Addr() string { return strings.TrimPrefix(u.srv.URL, "http://") }

// LastBody is the body of the last request that reached the upstream.
func (u *Upstream) LastBody() string {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.body
}

// LastQuery is the raw query of the last request that reached the upstream.
func (u *Upstream) LastQuery() string {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.query
}

// Last returns the headers and escaped path of the last request that
// reached the upstream.
func (u *Upstream) Last() (http.Header, string) {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.last, u.path
}

var (
	hashOnce sync.Once
	hashes   map[string]string
)

// Hashes are low-cost bcrypt hashes of the test passwords, made once.
func Hashes() map[string]string {
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

// WriteFile writes a file into dir and returns its path.
func WriteFile(t testing.TB, dir, name, content string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// UsersTOML is a users file: roles admin, usermgt, login, descendant,
// administrator; users admin, alice, bob, dave, a and long (passwords
// <name>-pw; a's is "b:c", long's 72 a's).
func UsersTOML() string {
	h := Hashes()
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

// ResourcesTOML is a deployment.toml with the rules the tests use.
const ResourcesTOML = `
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

// Harness is a real Caddy (in this process, through caddytest) serving
// plain HTTP on 127.0.0.1:9080 in front of a counting upstream.
type Harness struct {
	T  testing.TB
	Up *Upstream
}

// StartCaddy starts Caddy with a rest_auth block (its body given; USERS
// and RESOURCES stand for the test files) in front of a new upstream.
func StartCaddy(t *testing.T, restAuthBody string) *Harness {
	t.Helper()
	dir := t.TempDir()
	users := WriteFile(t, dir, "users.toml", UsersTOML())
	res := WriteFile(t, dir, "deployment.toml", ResourcesTOML)
	up := NewUpstream(t)
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
`, body, up.Addr())
	tester := caddytest.NewTester(t)
	tester.InitServer(cfg, "caddyfile")
	return &Harness{T: t, Up: up}
}

// Basic is a Basic Authorization value.
func Basic(user, pass string) string {
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+pass))
}

// Bearer is a Bearer Authorization value.
func Bearer(tok string) string { return "Bearer " + tok }

// Do sends a request with net/http (for well-formed requests).
func (h *Harness) Do(method, path string, headers ...string) (*http.Response, string) {
	h.T.Helper()
	req, err := http.NewRequest(method, "http://127.0.0.1:9080"+path, nil)
	if err != nil {
		h.T.Fatal(err)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Add(headers[i], headers[i+1])
	}
	client := http.DefaultClient
	if method != http.MethodGet && method != http.MethodHead {
		client = Fresh // not retried on a connection a reload closed
	}
	resp, err := client.Do(req)
	if err != nil {
		h.T.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	return resp, string(b)
}

// Raw sends a request line and headers as written, for paths that a
// client library would rewrite.
func (h *Harness) Raw(requestLine string, headers ...string) int {
	h.T.Helper()
	c, err := net.DialTimeout("tcp", "127.0.0.1:9080", 5*time.Second)
	if err != nil {
		h.T.Fatal(err)
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
		h.T.Fatalf("%q: %v", requestLine, err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// Expect checks a request's status and whether the upstream was reached:
// every denial must leave it untouched.
func (h *Harness) Expect(name string, status int, reached bool, send func() int) {
	h.T.Helper()
	before := h.Up.Hits.Load()
	got := send()
	after := h.Up.Hits.Load()
	if got != status {
		h.T.Errorf("%s: status %d, want %d", name, got, status)
	}
	if reached && after != before+1 {
		h.T.Errorf("%s: upstream reached %d times, want 1", name, after-before)
	}
	if !reached && after != before {
		h.T.Errorf("%s: denied but the upstream was reached %d times", name, after-before)
	}
}

// Status is a request for Expect.
func (h *Harness) Status(method, path string, headers ...string) func() int {
	return func() int {
		resp, _ := h.Do(method, path, headers...)
		return resp.StatusCode
	}
}

// AdminURL is the test Caddy's admin endpoint.
const AdminURL = "http://localhost:2999"

// AdminCall calls the admin API and returns the status and body.
func AdminCall(t testing.TB, method, path, body string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(method, AdminURL+path, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// ForceReload loads a Caddyfile even when it is the running one, so that
// files it names are read again.
func ForceReload(t testing.TB, cfg string) {
	t.Helper()
	req, _ := http.NewRequest("POST", AdminURL+"/load", strings.NewReader(cfg))
	req.Header.Set("Content-Type", "text/caddyfile")
	req.Header.Set("Cache-Control", "must-revalidate")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("reload: %d %s", resp.StatusCode, body)
	}
	// the old server closes its kept-alive connections: a POST on one
	// would fail with EOF (and, not being idempotent, is not retried);
	// and a connection made at once may still be accepted by the old
	// server as it shuts down (seen under load in CI), so it gets a moment
	http.DefaultClient.CloseIdleConnections()
	time.Sleep(100 * time.Millisecond)
	http.DefaultClient.CloseIdleConnections()
}

// Form makes a form from key-value pairs.
func Form(kv ...string) url.Values {
	v := url.Values{}
	for i := 0; i+1 < len(kv); i += 2 {
		v.Set(kv[i], kv[i+1])
	}
	return v
}

// WaitFor polls until ok, failing the test after 10 s.
func WaitFor(t testing.TB, ok func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if ok() {
			return
		}
	}
	t.Fatal("timed out")
}

// AdaptRestAuth adapts a site with one rest_auth block and returns the
// handler's JSON.
func AdaptRestAuth(t testing.TB, body string) (string, error) {
	t.Helper()
	out, _, err := caddyconfig.GetAdapter("caddyfile").Adapt([]byte(":8080 {\n\trest_auth {\n"+body+"\n\t}\n}"), nil)
	if err != nil {
		return "", err
	}
	return string(Srv0Routes(t, out)[0].Handle[0]), nil
}

// Route is one route of adapted JSON.
type Route struct {
	Handle []json.RawMessage `json:"handle"`
}

// Srv0Routes reads the routes of the first server of adapted JSON.
func Srv0Routes(t testing.TB, out []byte) []Route {
	t.Helper()
	var cfg struct {
		Apps struct {
			HTTP struct {
				Servers map[string]struct {
					Routes []Route `json:"routes"`
				} `json:"servers"`
			} `json:"http"`
		} `json:"apps"`
	}
	if err := json.Unmarshal(out, &cfg); err != nil {
		t.Fatal(err)
	}
	return cfg.Apps.HTTP.Servers["srv0"].Routes
}

// ValidateRestAuth adapts a rest_auth block and validates the config as
// caddy validate does (every module provisioned, nothing started).
func ValidateRestAuth(t testing.TB, body string) error {
	t.Helper()
	js, err := AdaptRestAuth(t, body)
	if err != nil {
		return err
	}
	cfg := `{"apps":{"http":{"servers":{"s":{"listen":[":0"],"routes":[{"handle":[` + js + `]}]}}}}}`
	var config caddy.Config
	if err := json.Unmarshal([]byte(cfg), &config); err != nil {
		t.Fatal(err)
	}
	return caddy.Validate(&config)
}

// ClientsTOML adds OAuth2 clients: svc (client_credentials, secret
// svc-secret), app (password and refresh, "app secret/+&"), other
// (client_credentials, other-secret).
func ClientsTOML() string {
	h := func(s string) string {
		b, _ := bcrypt.GenerateFromPassword([]byte(s), 4)
		return string(b)
	}
	return fmt.Sprintf(`
[[clients]]
client_id = "svc"
secret = %q
grant_types = ["client_credentials"]
scopes = ["internal_user_mgt_list", "reports"]

[[clients]]
client_id = "app"
secret = %q
grant_types = ["password", "refresh_token"]
scopes = ["internal_user_mgt_list", "openid"]

[[clients]]
client_id = "other"
secret = %q
grant_types = ["client_credentials"]
scopes = ["reports"]
`, h("svc-secret"), h("app secret/+&"), h("other-secret"))
}

// TokenResp is a token endpoint's answer.
type TokenResp struct {
	AccessToken  string `json:"access_token"`
	TokenType    string `json:"token_type"`
	ExpiresIn    int    `json:"expires_in"`
	Scope        string `json:"scope"`
	RefreshToken string `json:"refresh_token"`
	Error        string `json:"error"`
}

// Fresh is a client that opens a connection per request: a POST on a
// kept-alive connection that a config reload just closed fails with EOF,
// and Go's client retries only idempotent requests (seen in CI after a
// reload). Tests that POST to Caddy use it.
var Fresh = &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: 30 * time.Second}

// OAuthPost posts a form to a token service endpoint on 127.0.0.1:9080,
// with client_secret_basic when basicID is set.
func OAuthPost(t testing.TB, endpoint string, form url.Values, basicID, basicSecret string) (int, http.Header, TokenResp, string) {
	t.Helper()
	req, _ := http.NewRequest("POST", "http://127.0.0.1:9080/oauth2/"+endpoint, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if basicID != "" {
		req.SetBasicAuth(url.QueryEscape(basicID), url.QueryEscape(basicSecret))
	}
	resp, err := Fresh.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	var tr TokenResp
	_ = json.Unmarshal(body, &tr)
	return resp.StatusCode, resp.Header, tr, string(body)
}

// TokenServiceConfig is a Caddyfile with oauth2_server (for an issuer)
// and rest_auth trusting it, in front of a new upstream.
func TokenServiceConfig(t testing.TB, issuer string) (cfgText, users string, up *Upstream) {
	dir := t.TempDir()
	users = WriteFile(t, dir, "users.toml", UsersTOML()+ClientsTOML())
	res := WriteFile(t, dir, "deployment.toml", ResourcesTOML)
	up = NewUpstream(t)
	cfgText = fmt.Sprintf(`{
	skip_install_trust
	admin localhost:2999
	http_port 9080
	grace_period 1ns
}
http://127.0.0.1:9080 {
	oauth2_server {
		issuer %[4]s
		users %[1]s
	}
	rest_auth {
		users %[1]s
		resources %[2]s
		bearer
		basic {
			throttle off
		}
	}
	reverse_proxy %[3]s
}
`, users, res, up.Addr(), issuer)
	return cfgText, users, up
}

// ReadmeRestAuth returns the body of the first Caddyfile block of a
// README section that is a rest_auth block ("rest_auth {" and its "}"
// taken off), with replacements (old, new pairs) for what the README
// leaves out, such as "bearer { ... }".
func ReadmeRestAuth(t testing.TB, readme, heading string, replace ...string) string {
	t.Helper()
	data, err := os.ReadFile(readme)
	if err != nil {
		t.Fatal(err)
	}
	_, sec, ok := strings.Cut(string(data), heading+"\n")
	if !ok {
		t.Fatalf("%s has no section %q", readme, heading)
	}
	_, block, _ := strings.Cut(sec, "```caddyfile\n")
	block, _, _ = strings.Cut(block, "```")
	block = strings.NewReplacer(replace...).Replace(block)
	body, ok := strings.CutPrefix(strings.TrimSpace(block), "rest_auth {")
	if !ok {
		t.Fatalf("the block under %q does not start with rest_auth: %s", heading, block)
	}
	return strings.TrimSuffix(strings.TrimSpace(body), "}")
}

package redisstore_test

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/restauth/caddy-restauth/internal/redistest"
	"github.com/restauth/caddy-restauth/internal/testkit"
)

// The fleet test: three real Caddy processes (built from
// internal/cmd/caddy) sharing one storage folder and one Redis, behind a
// fourth Caddy that balances round-robin, all on free loopback ports.

// proc is one Caddy process.
type proc struct {
	t     *testing.T
	bin   string
	cfg   string
	log   string
	addr  string // the site's host:port
	admin string // the admin endpoint's host:port
	cmd   *exec.Cmd
	done  chan struct{}
}

func freeAddr(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// buildCaddy builds Caddy with this module once per test binary.
var buildOnce struct {
	sync.Once
	path string
	err  error
	out  []byte
}

func buildCaddy(t *testing.T) string {
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "fleet-caddy")
		if err != nil {
			buildOnce.err = err
			return
		}
		buildOnce.path = filepath.Join(dir, "caddy")
		buildOnce.out, buildOnce.err = exec.Command("go", "build", "-o", buildOnce.path, "../../internal/cmd/caddy").CombinedOutput()
	})
	if buildOnce.err != nil {
		t.Fatalf("building Caddy: %v\n%s", buildOnce.err, buildOnce.out)
	}
	return buildOnce.path
}

// start runs the process and waits until its site answers.
func (p *proc) start() {
	p.t.Helper()
	logf, err := os.OpenFile(p.log, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		p.t.Fatal(err)
	}
	p.cmd = exec.Command(p.bin, "run", "--config", p.cfg, "--adapter", "caddyfile")
	p.cmd.Stdout, p.cmd.Stderr = logf, logf
	if err := p.cmd.Start(); err != nil {
		p.t.Fatal(err)
	}
	p.done = make(chan struct{})
	go func() { _ = p.cmd.Wait(); logf.Close(); close(p.done) }()
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		if c, err := net.Dial("tcp", p.addr); err == nil {
			c.Close()
			return
		}
		select {
		case <-p.done:
			p.t.Fatalf("caddy exited at start:\n%s", p.tail())
		default:
		}
		if time.Now().After(deadline) {
			p.t.Fatalf("caddy did not listen on %s:\n%s", p.addr, p.tail())
		}
	}
}

// kill stops the process at once, by its PID.
func (p *proc) kill() {
	if p.cmd == nil {
		return
	}
	_ = p.cmd.Process.Kill()
	<-p.done
	p.cmd = nil
}

func (p *proc) tail() string {
	b, _ := os.ReadFile(p.log)
	if len(b) > 4000 {
		b = b[len(b)-4000:]
	}
	return string(b)
}

// load replaces the process's config through its admin API.
func (p *proc) load(cfg string) {
	p.t.Helper()
	req, _ := http.NewRequest("POST", "http://"+p.admin+"/load", strings.NewReader(cfg))
	req.Header.Set("Content-Type", "text/caddyfile")
	req.Header.Set("Cache-Control", "must-revalidate")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		p.t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 {
		p.t.Fatalf("load on %s: %d %s", p.admin, resp.StatusCode, body)
	}
}

type fleet struct {
	t         *testing.T
	redis     *redistest.Server
	up        *testkit.Upstream
	nodes     []*proc
	lb        *proc
	users     string
	res       string
	storage   string
	withRedis bool
}

// nodeConfig is an instance's Caddyfile: the token service and rest_auth
// with Basic and bearer, both counting on Redis when withRedis is set.
func (f *fleet) nodeConfig(n *proc, withRedis bool) string {
	store := ""
	if withRedis {
		store = "throttle_store redis {\n\t\t\t\taddress " + f.redis.Addr + "\n\t\t\t\thash_key fleet-secret\n\t\t\t}"
	}
	return fmt.Sprintf(`{
	admin %s
	storage file_system %s
	persist_config off
	skip_install_trust
	grace_period 1s
}
http://%s {
	oauth2_server {
		issuer http://fleet.test
		users %s
		%s
	}
	rest_auth {
		users %s
		resources %s
		forward_identity
		basic {
			throttle_address 1000
			%s
		}
		bearer
	}
	reverse_proxy %s
}
`, n.admin, f.storage, n.addr, f.users, store, f.users, f.res, store, f.up.Addr())
}

func newFleet(t *testing.T) *fleet {
	bin := buildCaddy(t)
	dir := t.TempDir()
	f := &fleet{t: t, redis: redistest.Start(t), up: testkit.NewUpstream(t), storage: filepath.Join(dir, "storage"), withRedis: true}
	f.users = testkit.WriteFile(t, dir, "users.toml", testkit.UsersTOML()+testkit.ClientsTOML())
	f.res = testkit.WriteFile(t, dir, "deployment.toml", testkit.ResourcesTOML)
	var backends []string
	for i := range 3 {
		n := &proc{t: t, bin: bin, addr: freeAddr(t), admin: freeAddr(t), log: filepath.Join(dir, fmt.Sprintf("node%d.log", i+1)),
			cfg: filepath.Join(dir, fmt.Sprintf("node%d.caddyfile", i+1))}
		if err := os.WriteFile(n.cfg, []byte(f.nodeConfig(n, true)), 0o600); err != nil {
			t.Fatal(err)
		}
		n.start()
		f.nodes = append(f.nodes, n)
		backends = append(backends, n.addr)
	}
	f.lb = &proc{t: t, bin: bin, addr: freeAddr(t), admin: freeAddr(t), log: filepath.Join(dir, "lb.log"), cfg: filepath.Join(dir, "lb.caddyfile")}
	lb := fmt.Sprintf(`{
	admin %s
	persist_config off
	storage file_system %s
}
http://%s {
	reverse_proxy %s {
		lb_policy round_robin
		lb_try_duration 5s
		lb_try_interval 50ms
		fail_duration 2s
		transport http {
			dial_timeout 500ms
		}
	}
}
`, f.lb.admin, filepath.Join(dir, "lb-storage"), f.lb.addr, strings.Join(backends, " "))
	if err := os.WriteFile(f.lb.cfg, []byte(lb), 0o600); err != nil {
		t.Fatal(err)
	}
	f.lb.start()
	t.Cleanup(func() {
		for _, p := range append(f.nodes, f.lb) {
			p.kill()
		}
		if t.Failed() {
			for _, p := range append(f.nodes, f.lb) {
				t.Logf("%s:\n%s", p.log, p.tail())
			}
		}
	})
	return f
}

var client = &http.Client{Timeout: 10 * time.Second}

// get sends a GET with an Authorization header and returns the status.
func get(t *testing.T, addr, path, auth string) int {
	t.Helper()
	req, _ := http.NewRequest("GET", "http://"+addr+path, nil)
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("GET %s%s: %v", addr, path, err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}

// oauth posts a form to a token service endpoint as client app.
func oauth(t *testing.T, addr, endpoint string, form url.Values) (int, testkit.TokenResp) {
	t.Helper()
	req, _ := http.NewRequest("POST", "http://"+addr+"/oauth2/"+endpoint, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(url.QueryEscape("app"), url.QueryEscape("app secret/+&"))
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var tr testkit.TokenResp
	_ = json.NewDecoder(resp.Body).Decode(&tr)
	return resp.StatusCode, tr
}

func basicAuth(user, pass string) string {
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+pass))
}

// kidOf is a JWT's kid.
func kidOf(t *testing.T, tok string) string {
	head, _, _ := strings.Cut(tok, ".")
	b, err := base64.RawURLEncoding.DecodeString(head)
	if err != nil {
		t.Fatal(err)
	}
	var h struct {
		Kid string `json:"kid"`
	}
	_ = json.Unmarshal(b, &h)
	return h.Kid
}

// TestFleet: three instances behind a balancer behave as one.
func TestFleet(t *testing.T) {
	f := newFleet(t)
	lb := f.lb.addr
	if c := get(t, lb, "/scim2/Users", basicAuth("alice", "alice-pw")); c != 200 {
		t.Fatalf("alice through the balancer: %d", c)
	}

	t.Run("ten wrong passwords spread over the fleet block the user on every instance", func(t *testing.T) {
		before := f.up.Hits.Load()
		for i := range 10 {
			if c := get(t, lb, "/scim2/Users", basicAuth("bob", fmt.Sprintf("wrong-%d", i))); c != 401 {
				t.Errorf("wrong password %d: %d, want 401", i, c)
			}
		}
		for i, n := range f.nodes {
			if c := get(t, n.addr, "/scim2/Users", basicAuth("bob", "wrong-again")); c != 429 {
				t.Errorf("instance %d after ten failures across the fleet: %d, want 429", i+1, c)
			}
			if c := get(t, n.addr, "/login-only/x", basicAuth("bob", "bob-pw")); c != 429 {
				t.Errorf("instance %d: bob's own password while he is blocked: %d, want 429", i+1, c)
			}
		}
		if h := f.up.Hits.Load(); h != before {
			t.Errorf("the upstream was reached %d times", h-before)
		}
	})

	t.Run("a token revoked on instance 1 is refused by 2 and 3 within a second", func(t *testing.T) {
		code, tr := oauth(t, f.nodes[0].addr, "token", testkit.Form("grant_type", "password", "username", "alice", "password", "alice-pw"))
		if code != 200 {
			t.Fatalf("token: %d", code)
		}
		auth := testkit.Bearer(tr.AccessToken)
		for i, n := range f.nodes {
			if c := get(t, n.addr, "/scim2/Users", auth); c != 200 {
				t.Fatalf("instance %d before revocation: %d", i+1, c)
			}
		}
		if code, _ := oauth(t, f.nodes[0].addr, "revoke", testkit.Form("token", tr.AccessToken)); code != 200 {
			t.Fatalf("revoke: %d", code)
		}
		start := time.Now()
		for _, n := range f.nodes[1:] {
			for get(t, n.addr, "/scim2/Users", auth) != 401 {
				if time.Since(start) > time.Second {
					t.Fatalf("instance %s still takes the revoked token after %v", n.addr, time.Since(start))
				}
				time.Sleep(20 * time.Millisecond)
			}
		}
		t.Logf("refused everywhere %v after the revocation", time.Since(start))
	})

	t.Run("a key rotated on instance 2 verifies on 1 and 3 at once", func(t *testing.T) {
		_, old := oauth(t, f.nodes[1].addr, "token", testkit.Form("grant_type", "password", "username", "alice", "password", "alice-pw"))
		for range 2 { // twice: the second would wait out the unknown-kid rate limit without the fleet's message
			resp, err := client.Post("http://"+f.nodes[1].admin+"/rest-auth/rotate-keys", "application/json", nil)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 200 || !bytes.Contains(body, []byte(`"kid"`)) {
				t.Fatalf("rotate-keys: %d %s", resp.StatusCode, body)
			}
			code, tr := oauth(t, f.nodes[1].addr, "token", testkit.Form("grant_type", "password", "username", "alice", "password", "alice-pw"))
			if code != 200 || kidOf(t, tr.AccessToken) == kidOf(t, old.AccessToken) {
				t.Fatalf("a token after the rotation: %d, kid %q (old %q)", code, kidOf(t, tr.AccessToken), kidOf(t, old.AccessToken))
			}
			for _, i := range []int{0, 2} {
				if c := get(t, f.nodes[i].addr, "/scim2/Users", testkit.Bearer(tr.AccessToken)); c != 200 {
					t.Errorf("instance %d, a token of the new key: %d", i+1, c)
				}
				if c := get(t, f.nodes[i].addr, "/scim2/Users", testkit.Bearer(old.AccessToken)); c != 200 {
					t.Errorf("instance %d, a token of the old key: %d", i+1, c)
				}
			}
			old = tr
		}
	})

	t.Run("a refresh family revoked by reuse on 3 cannot refresh on 1", func(t *testing.T) {
		_, tr := oauth(t, f.nodes[0].addr, "token", testkit.Form("grant_type", "password", "username", "alice", "password", "alice-pw"))
		code, tr2 := oauth(t, f.nodes[1].addr, "token", testkit.Form("grant_type", "refresh_token", "refresh_token", tr.RefreshToken))
		if code != 200 {
			t.Fatalf("refresh on 2: %d", code)
		}
		if code, _ := oauth(t, f.nodes[2].addr, "token", testkit.Form("grant_type", "refresh_token", "refresh_token", tr.RefreshToken)); code != 400 {
			t.Fatalf("reuse on 3: %d, want 400", code)
		}
		if code, _ := oauth(t, f.nodes[0].addr, "token", testkit.Form("grant_type", "refresh_token", "refresh_token", tr2.RefreshToken)); code != 400 {
			t.Errorf("the family's newest refresh token on 1 after the reuse: %d, want 400", code)
		}
	})

	t.Run("Redis down: logins go on with local counts, nothing wrongly granted; counting resumes after", func(t *testing.T) {
		f.redis.Stop()
		n := f.nodes[0].addr
		for i := range 10 {
			if c := get(t, n, "/scim2/Users", basicAuth("dave", fmt.Sprintf("wrong-%d", i))); c != 401 {
				t.Errorf("Redis down, wrong password %d: %d, want 401", i, c)
			}
		}
		if c := get(t, n, "/scim2/Users", basicAuth("dave", "dave-pw")); c != 429 {
			t.Errorf("Redis down: the local count holds dave: %d, want 429", c)
		}
		if c := get(t, n, "/scim2/Users", basicAuth("alice", "alice-pw")); c != 200 {
			t.Errorf("Redis down: alice: %d, want 200", c)
		}
		if c := get(t, f.nodes[1].addr, "/login-only/x", basicAuth("a", "b:c")); c != 200 {
			t.Errorf("Redis down: a new login on another instance: %d, want 200", c)
		}
		f.redis.Restart()
		time.Sleep(1100 * time.Millisecond) // the store skips Redis for a second after a failure
		for i := range 10 {
			if c := get(t, lb, "/scim2/Users", basicAuth("long", fmt.Sprintf("wrong-%d", i))); c != 401 {
				t.Errorf("Redis back, wrong password %d: %d, want 401", i, c)
			}
		}
		for i, node := range f.nodes {
			if c := get(t, node.addr, "/scim2/Users", basicAuth("long", "wrong")); c != 429 {
				t.Errorf("Redis back: instance %d: %d, want 429", i+1, c)
			}
		}
	})

	t.Run("load through the balancer with a reload and a killed instance: every answer right", func(t *testing.T) {
		var ok, wrong, failed atomic.Int64
		stop := make(chan struct{})
		var wg sync.WaitGroup
		for w := range 8 {
			wg.Go(func() {
				for i := 0; ; i++ {
					select {
					case <-stop:
						return
					default:
					}
					good := (i+w)%4 != 0
					auth, want := basicAuth("alice", "alice-pw"), 200
					if !good {
						auth, want = "", 401
					}
					req, _ := http.NewRequest("GET", "http://"+lb+"/scim2/Users", nil)
					if auth != "" {
						req.Header.Set("Authorization", auth)
					}
					resp, err := client.Do(req)
					if err != nil {
						failed.Add(1)
						continue
					}
					io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					switch {
					case resp.StatusCode == want:
						ok.Add(1)
					case resp.StatusCode >= 500:
						failed.Add(1)
					default:
						wrong.Add(1)
					}
				}
			})
		}
		time.Sleep(time.Second)
		f.nodes[0].load(f.nodeConfig(f.nodes[0], true))
		time.Sleep(time.Second)
		f.nodes[2].kill()
		time.Sleep(2 * time.Second)
		close(stop)
		wg.Wait()
		t.Logf("%d right answers, %d wrong, %d failed (a reload of instance 1 and instance 3 killed during the run)", ok.Load(), wrong.Load(), failed.Load())
		if wrong.Load() != 0 || failed.Load() != 0 || ok.Load() < 100 {
			t.Errorf("%d wrong and %d failed answers of %d", wrong.Load(), failed.Load(), ok.Load()+wrong.Load()+failed.Load())
		}
		f.nodes[2].start()
	})

	t.Run("without Redis each instance counts alone (documented)", func(t *testing.T) {
		for _, n := range f.nodes {
			n.load(f.nodeConfig(n, false))
		}
		for i := range 10 {
			if c := get(t, lb, "/scim2/Users", basicAuth("admin", fmt.Sprintf("wrong-%d", i))); c != 401 {
				t.Errorf("wrong password %d: %d, want 401", i, c)
			}
		}
		blocked := 0
		for _, n := range f.nodes {
			if get(t, n.addr, "/scim2/Users", basicAuth("admin", "wrong-again")) == 429 {
				blocked++
			}
		}
		if blocked != 0 {
			t.Errorf("%d instances blocked after 3-4 failures each; without a shared store none should be", blocked)
		}
	})
}

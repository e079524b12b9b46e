package extensions_test

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"
)

// caddyBin is Caddy built with xcaddy from extensions/xcaddy.json: this
// checkout's rest_auth plus the two example modules, exactly as a user
// builds a Caddy with third-party rest_auth modules.
var caddyBin string

func TestMain(m *testing.M) {
	root, _ := filepath.Abs("..")
	build := exec.Command("go", "run", "./cmd/build", "-config", "extensions/xcaddy.json")
	build.Dir = root
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "building Caddy with the example modules:", err)
		os.Exit(1)
	}
	caddyBin = filepath.Join(root, "extensions", "caddy")
	os.Exit(m.Run())
}

type upstream struct {
	srv  *httptest.Server
	hits atomic.Int64
	mu   sync.Mutex
	last http.Header
}

func newUpstream(t *testing.T) *upstream {
	u := &upstream{}
	u.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u.hits.Add(1)
		u.mu.Lock()
		u.last = r.Header.Clone()
		u.mu.Unlock()
		io.WriteString(w, "upstream")
	}))
	t.Cleanup(u.srv.Close)
	return u
}

func write(t *testing.T, dir, name, content string) string {
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestExampleModules(t *testing.T) {
	dir := t.TempDir()
	up := newUpstream(t)
	hash, _ := bcrypt.GenerateFromPassword([]byte("alice-pw"), 4)
	users := write(t, dir, "users.toml", fmt.Sprintf(`
[[roles]]
name = "reader"
permissions = ["/permission/read"]

[[users]]
username = "alice"
password = %q
roles = ["reader"]

[[users]]
username = "robot"
password = %q
roles = ["reader"]
`, hash, hash))
	const key = "k-3f9a1c0e5b7d2468"
	sum := sha256.Sum256([]byte(key))
	keys := write(t, dir, "api-keys.toml", fmt.Sprintf("[[keys]]\nuser = \"robot\"\nsha256 = %q\n", hex.EncodeToString(sum[:])))
	cfg := write(t, dir, "Caddyfile", fmt.Sprintf(`{
	admin off
	persist_config off
	auto_https off
}
:9180 {
	rest_auth {
		users %s
		api_key {
			keys_file %s
		}
		basic
		authorizer client_networks 127.0.0.0/8
		authorizer client_networks {
			ranges 10.0.0.0/8
			name far
		}
		resource /keys-only/* all {
			permissions /permission/read
			auth_handlers api_key
			authorizers client_networks
		}
		resource /far/* all {
			authorizers far
		}
		resource /every/* all
		resource /* all {
			permissions /permission/read
			authorizers client_networks
		}
	}
	reverse_proxy %s
}
`, users, keys, strings.TrimPrefix(up.srv.URL, "http://")))
	cmd := exec.Command(caddyBin, "run", "--config", cfg, "--adapter", "caddyfile")
	var log strings.Builder
	cmd.Stdout, cmd.Stderr = &log, &log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	ready := false
	for i := 0; i < 100 && !ready; i++ {
		if resp, err := http.Get("http://127.0.0.1:9180/"); err == nil {
			resp.Body.Close()
			ready = true
		} else {
			time.Sleep(100 * time.Millisecond)
		}
	}
	if !ready {
		t.Fatalf("Caddy did not start:\n%s", log.String())
	}

	basic := "Basic " + base64.StdEncoding.EncodeToString([]byte("alice:alice-pw"))
	cases := []struct {
		name    string
		path    string
		headers []string
		status  int
		auth    string // a substring of WWW-Authenticate
	}{
		{"API key", "/a", []string{"X-API-Key", key}, 200, ""},
		{"wrong API key", "/a", []string{"X-API-Key", key + "x"}, 401, `APIKey header="X-Api-Key"`},
		{"Basic", "/a", []string{"Authorization", basic}, 200, ""},
		{"api_key is tried in its configured place: a bad key is not skipped for good Basic", "/a",
			[]string{"X-API-Key", "nope", "Authorization", basic}, 401, "APIKey"},
		{"a rule allowing only api_key refuses Basic", "/keys-only/x", []string{"Authorization", basic}, 401, "APIKey"},
		{"a rule allowing only api_key takes a key", "/keys-only/x", []string{"X-API-Key", key}, 200, ""},
		{"an authorizer that refuses this network: 403", "/far/x", []string{"Authorization", basic}, 403, ""},
		{"a rule naming no authorizers gets all of them", "/every/x", []string{"Authorization", basic}, 403, ""},
		{"no credentials", "/a", nil, 401, "Basic"},
	}
	for _, c := range cases {
		before := up.hits.Load()
		req, _ := http.NewRequest("GET", "http://127.0.0.1:9180"+c.path, nil)
		for i := 0; i+1 < len(c.headers); i += 2 {
			req.Header.Add(c.headers[i], c.headers[i+1])
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		reached := up.hits.Load() != before
		if resp.StatusCode != c.status || reached != (c.status == 200) {
			t.Errorf("%s: status %d (want %d), upstream reached %v", c.name, resp.StatusCode, c.status, reached)
		}
		if c.auth != "" && !strings.Contains(strings.Join(resp.Header.Values("WWW-Authenticate"), ", "), c.auth) {
			t.Errorf("%s: WWW-Authenticate %q, want %q in it", c.name, resp.Header.Values("WWW-Authenticate"), c.auth)
		}
	}
	up.mu.Lock()
	defer up.mu.Unlock()
	if v := up.last.Get("X-Api-Key"); v != "" {
		t.Errorf("the API key reached the upstream: %q", v)
	}
	if t.Failed() {
		t.Log(log.String())
	}
}

package basic_test

import (
	"fmt"
	"strconv"
	"strings"
	"sync"
	"testing"

	_ "github.com/restauth/caddy-restauth/caddyauth"
	"github.com/restauth/caddy-restauth/internal/testkit"
	"golang.org/x/crypto/bcrypt"
)

func TestThrottle(t *testing.T) {
	h := testkit.StartCaddy(t, `
		users USERS
		resources RESOURCES
		basic {
			# a window of its own: counters live as long as the process,
			# and earlier tests' failures in a 1m window would count here
			throttle 3 61s
		}
`)
	for i := 0; i < 3; i++ {
		h.Expect("wrong password", 401, false, h.Status("GET", "/scim2/Users", "Authorization", testkit.Basic("alice", "wrong")))
	}
	resp, _ := h.Do("GET", "/scim2/Users", "Authorization", testkit.Basic("alice", "alice-pw"))
	if resp.StatusCode != 429 || resp.Header.Get("Retry-After") == "" {
		t.Fatalf("after 3 failures: %d, Retry-After %q", resp.StatusCode, resp.Header.Get("Retry-After"))
	}
	if code, body := testkit.AdminCall(t, "POST", "/rest-auth/reload", "{}"); code != 200 {
		t.Fatalf("reload: %d %s", code, body)
	}
	h.Expect("a reload does not forget failures", 429, false, h.Status("GET", "/scim2/Users", "Authorization", testkit.Basic("alice", "alice-pw")))
	for i := 0; i < 4; i++ {
		h.Do("GET", "/scim2/Users", "Authorization", testkit.Basic("ghost", "x"))
	}
	h.Expect("unknown users are throttled alike", 429, false, h.Status("GET", "/scim2/Users", "Authorization", testkit.Basic("ghost", "x")))
	h.Expect("another user is not throttled", 200, true, h.Status("GET", "/scim2/Users", "Authorization", testkit.Basic("admin", "admin-pw")))
}

// TestThrottleSpraying: many user names from one address, and one user name
// from many guesses, are bounded too.
func TestThrottleSpraying(t *testing.T) {
	h := testkit.StartCaddy(t, `
		users USERS
		resources RESOURCES
		basic {
			throttle 100 2m
			throttle_address 5
			throttle_user off
		}
`)
	for i := 0; i < 5; i++ {
		h.Expect("spraying", 401, false, h.Status("GET", "/scim2/Users", "Authorization", testkit.Basic(fmt.Sprint("user", i), "guess")))
	}
	resp, _ := h.Do("GET", "/scim2/Users", "Authorization", testkit.Basic("admin", "admin-pw"))
	if resp.StatusCode != 429 || resp.Header.Get("Retry-After") == "" {
		t.Errorf("after 5 failures from one address for 5 users: %d", resp.StatusCode)
	}
}

// TestHerdOfOneCredential: 32 clients of one account arrive at once with
// the same good password, as after a restart: every one gets 200, and one
// password hash runs (the password_hashes_total metric shows it). Before
// the checks were merged, each took a hashing slot, and those that found
// none within 100 ms got 503 basic.busy (25 of 32, measured).
func TestHerdOfOneCredential(t *testing.T) {
	hash, err := bcrypt.GenerateFromPassword([]byte("herd-pw"), 10) // ~70 ms: they all overlap
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	users := testkit.WriteFile(t, dir, "herd.toml", fmt.Sprintf("[[users]]\nusername = \"svc\"\npassword = %q\n", hash))
	h := testkit.StartCaddy(t, `
		users USERS `+users+`
		resources RESOURCES
		resource /herd/* GET
		basic
`)
	before := hashesTotal(t)
	var wg sync.WaitGroup
	statuses := make([]int, 32)
	start := make(chan struct{})
	for i := range statuses {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			resp, _ := h.Do("GET", "/herd/x", "Authorization", testkit.Basic("svc", "herd-pw"))
			statuses[i] = resp.StatusCode
		}()
	}
	close(start)
	wg.Wait()
	for i, s := range statuses {
		if s != 200 {
			t.Errorf("client %d: %d", i, s)
		}
	}
	if n := h.Up.Hits.Load(); n != 32 {
		t.Errorf("the upstream saw %d requests, want 32", n)
	}
	if n := hashesTotal(t) - before; n != 1 {
		t.Errorf("%v password hashes ran for one credential, want 1", n)
	}
}

// hashesTotal reads caddy_rest_auth_password_hashes_total from the admin
// endpoint's metrics.
func hashesTotal(t *testing.T) float64 {
	t.Helper()
	_, body := testkit.AdminCall(t, "GET", "/metrics", "")
	for _, line := range strings.Split(body, "\n") {
		if v, ok := strings.CutPrefix(line, "caddy_rest_auth_password_hashes_total "); ok {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				t.Fatal(err)
			}
			return f
		}
	}
	t.Fatal("no caddy_rest_auth_password_hashes_total in the metrics")
	return 0
}

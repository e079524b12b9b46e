package basic_test

import (
	"fmt"
	"testing"

	_ "github.com/restauth/caddy-restauth/caddyauth"
	"github.com/restauth/caddy-restauth/internal/testkit"
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

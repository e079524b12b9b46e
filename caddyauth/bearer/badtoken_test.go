package bearer_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/restauth/caddy-restauth/internal/testkit"
)

// TestBadTokenLimit: forged tokens from one address are counted; beyond
// the limit, a token that is not known good gets 429 without a signature
// check, while a token verified before still passes. Tokens the issuer
// signed (expired, another audience) never count.
func TestBadTokenLimit(t *testing.T) {
	testKeys()
	dir := t.TempDir()
	keyFile := testkit.WriteFile(t, dir, "rsa.pem", pemPublic(t, &rsaKey.PublicKey))
	// a window no other test uses: the counts outlive configs in a process
	h := testkit.StartCaddy(t, fmt.Sprintf(`
		users USERS
		resources RESOURCES
		bearer {
			bad_token_limit 5 7m
			jwt {
				issuer %s
				audience api
				key %s
				algorithms RS256
			}
		}
`, issuer, keyFile))
	A := "Authorization"
	good := mint(t, jwt.SigningMethodRS256, rsaKey, "k1", claims("alice"))
	h.Expect("a good token, now cached", 200, true, h.Status("GET", "/scim2/Users", A, testkit.Bearer(good)))

	for i := range 8 {
		expired := mint(t, jwt.SigningMethodRS256, rsaKey, "k1", claims("alice", "jti", fmt.Sprint("e", i), "exp", time.Now().Add(-time.Hour).Unix()))
		h.Expect("an expired token does not count", 401, false, h.Status("GET", "/scim2/Users", A, testkit.Bearer(expired)))
		other := mint(t, jwt.SigningMethodRS256, rsaKey, "k1", claims("alice", "jti", fmt.Sprint("a", i), "aud", "other"))
		h.Expect("another audience does not count", 401, false, h.Status("GET", "/scim2/Users", A, testkit.Bearer(other)))
	}
	for i := range 5 {
		forged := mint(t, jwt.SigningMethodRS256, rsaEvil, "k1", claims("admin", "jti", fmt.Sprint("f", i)))
		h.Expect(fmt.Sprintf("forged token %d, within the limit", i+1), 401, false, h.Status("GET", "/scim2/Users", A, testkit.Bearer(forged)))
	}
	forged := mint(t, jwt.SigningMethodRS256, rsaEvil, "k1", claims("admin", "jti", "f-over"))
	before := h.Up.Hits.Load()
	resp, body := h.Do("GET", "/scim2/Users", A, testkit.Bearer(forged))
	if resp.StatusCode != 429 || resp.Header.Get("Retry-After") == "" || !strings.Contains(body, "Too many invalid access tokens") {
		t.Errorf("forged token over the limit: %d, Retry-After %q, body %s; want 429 with Retry-After", resp.StatusCode, resp.Header.Get("Retry-After"), body)
	}
	if h.Up.Hits.Load() != before {
		t.Error("a throttled request reached the upstream")
	}
	h.Expect("the cached good token still passes", 200, true, h.Status("GET", "/scim2/Users", A, testkit.Bearer(good)))
	fresh := mint(t, jwt.SigningMethodRS256, rsaKey, "k1", claims("alice", "jti", "fresh"))
	h.Expect("a new good token waits too (the price of the limit)", 429, false, h.Status("GET", "/scim2/Users", A, testkit.Bearer(fresh)))
	h.Expect("no token is not throttled", 401, false, h.Status("GET", "/scim2/Users"))
}

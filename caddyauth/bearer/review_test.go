package bearer_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/restauth/caddy-restauth/internal/testkit"
)

// TestReview3KeyWithoutKid: a PEM key has no kid, and is a candidate for
// any token's kid (a kid is a hint); a JWK with a kid must match it.
// leeway 0s is strict, not the 30 s default.
func TestReview3KeyWithoutKid(t *testing.T) {
	testKeys()
	dir := t.TempDir()
	pemFile := testkit.WriteFile(t, dir, "ec.pem", pemPublic(t, &ecKey.PublicKey))
	jwkFile := testkit.WriteFile(t, dir, "keys.json", string(jwkSet(jwkOf("k1", &rsaKey.PublicKey))))
	h := testkit.StartCaddy(t, fmt.Sprintf(`
		users USERS
		resources RESOURCES
		bearer {
			jwt {
				issuer https://pem.test
				audience api
				key %s
				algorithms ES256
				leeway 0s
			}
			jwt {
				issuer https://jwk.test
				audience api
				key %s
				algorithms RS256
			}
		}
`, pemFile, jwkFile))
	now := time.Now()
	other, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	pemTok := func(kid string, extra ...any) string {
		return mint(t, jwt.SigningMethodES256, ecKey, kid, claims("alice", append([]any{"iss", "https://pem.test"}, extra...)...))
	}
	jwkTok := func(kid string) string {
		return mint(t, jwt.SigningMethodRS256, rsaKey, kid, claims("alice", "iss", "https://jwk.test"))
	}
	A := "Authorization"
	for _, c := range []struct {
		name   string
		tok    string
		status int
	}{
		{"PEM key, token with a kid (every real issuer sets one)", pemTok("2026-key-1"), 200},
		{"PEM key, token without a kid", pemTok(""), 200},
		{"JWK with kid k1, token kid k1", jwkTok("k1"), 200},
		{"JWK with kid k1, token kid k2", jwkTok("k2"), 401},
		{"PEM key, another signer", mint(t, jwt.SigningMethodES256, other, "x", claims("alice", "iss", "https://pem.test")), 401},
		{"leeway 0s: expired 5 s ago", pemTok("k", "exp", now.Add(-5*time.Second).Unix(), "iat", now.Add(-time.Hour).Unix()), 401},
		{"leeway 0s: nbf 5 s ahead", pemTok("k", "nbf", now.Add(5*time.Second).Unix()), 401},
		{"leeway 0s: iat 5 s ahead", pemTok("k", "iat", now.Add(5*time.Second).Unix()), 401},
	} {
		h.Expect(c.name, c.status, c.status == 200, h.Status("GET", "/scim2/Users", A, testkit.Bearer(c.tok)))
	}
}

// TestReview13RemoteSymmetricKeys: a key set from a URL is public, so it
// never supplies an HMAC key, and HS algorithms with jwks_url are refused
// when the config loads.
func TestReview13RemoteSymmetricKeys(t *testing.T) {
	err := testkit.ValidateRestAuth(t, "bearer {\njwt {\n jwks_url https://idp.test/jwks\n audience api\n algorithms HS256\n}\n}")
	if err == nil || !strings.Contains(err.Error(), "a key set from a URL is public") {
		t.Fatalf("jwks_url with HS256: %v", err)
	}
}

// TestReview7KeyRemoval: a token verified under a key that the next JWK
// set no longer holds stops passing at that fetch, not at its exp.
func TestReview7KeyRemoval(t *testing.T) {
	testKeys()
	jwks := newJWKS(t, jwkSet(jwkOf("k1", &rsaKey.PublicKey)))
	h := testkit.StartCaddy(t, fmt.Sprintf(`
		users USERS
		resources RESOURCES
		bearer {
			jwt {
				audience api
				jwks_url %s
				algorithms RS256
				kid_cooldown 100ms
			}
		}
`, jwks.srv.URL))
	A := "Authorization"
	old := mint(t, jwt.SigningMethodRS256, rsaKey, "k1", claims("alice"))
	h.Expect("k1's token", 200, true, h.Status("GET", "/scim2/Users", A, testkit.Bearer(old)))
	h.Expect("k1's token, cached", 200, true, h.Status("GET", "/scim2/Users", A, testkit.Bearer(old)))
	// k1 is compromised and removed; a token under the new key makes the
	// set be fetched again
	jwks.set(jwkSet(jwkOf("k2", &rsaKey2.PublicKey)))
	time.Sleep(150 * time.Millisecond)
	h.Expect("k2's token", 200, true, h.Status("GET", "/scim2/Users", A, testkit.Bearer(mint(t, jwt.SigningMethodRS256, rsaKey2, "k2", claims("alice")))))
	h.Expect("k1's cached token after k1 left the set", 401, false, h.Status("GET", "/scim2/Users", A, testkit.Bearer(old)))
}

package caddyauth_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// Regression tests for the outside review (issue 13), one per item, each
// named after its item. Each failed before its fix.

// TestReview3KeyWithoutKid: a PEM key has no kid, and is a candidate for
// any token's kid (a kid is a hint); a JWK with a kid must match it.
// leeway 0s is strict, not the 30 s default.
func TestReview3KeyWithoutKid(t *testing.T) {
	testKeys()
	dir := t.TempDir()
	pemFile := writeFile(t, dir, "ec.pem", pemPublic(t, &ecKey.PublicKey))
	jwkFile := writeFile(t, dir, "keys.json", string(jwkSet(jwkOf("k1", &rsaKey.PublicKey))))
	h := startCaddy(t, fmt.Sprintf(`
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
		h.expect(c.name, c.status, c.status == 200, h.status("GET", "/scim2/Users", A, bearer(c.tok)))
	}
}

// TestReview13RemoteSymmetricKeys: a key set from a URL is public, so it
// never supplies an HMAC key, and HS algorithms with jwks_url are refused
// when the config loads.
func TestReview13RemoteSymmetricKeys(t *testing.T) {
	err := validateRestAuth(t, "bearer {\njwt {\n jwks_url https://idp.test/jwks\n audience api\n algorithms HS256\n}\n}")
	if err == nil || !strings.Contains(err.Error(), "a key set from a URL is public") {
		t.Fatalf("jwks_url with HS256: %v", err)
	}
}

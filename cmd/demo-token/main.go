// Command demo-token signs an access token with the demo key that ships
// with Caddyfile.example, so the example's bearer setup can be tried with no
// identity provider:
//
//	curl -k -H "Authorization: Bearer $(go run ./cmd/demo-token -sub alice -scope internal_user_mgt_list)" \
//		https://localhost:8443/scim2/Users
//
// The demo key is public (it is in the repository): never trust it outside
// the example.
package main

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

func main() {
	keyFile := flag.String("key", "demo/demo-jwt.key.pem", "private key (PEM): Ed25519, RSA or EC P-256")
	sub := flag.String("sub", "alice", "the token's subject (the user)")
	scope := flag.String("scope", "", "space-separated scopes")
	roles := flag.String("roles", "", "comma-separated roles for the roles claim")
	iss := flag.String("iss", "restauth-demo", "issuer")
	aud := flag.String("aud", "demo-api", "audience")
	ttl := flag.Duration("ttl", time.Hour, "lifetime")
	extra := flag.String("claims", "", `more claims, a JSON object such as {"department":"sales"}`)
	flag.Parse()

	pemData, err := os.ReadFile(*keyFile)
	if err != nil {
		fail(err)
	}
	// The demo key is Ed25519 (EdDSA); RSA (RS256) and P-256 (ES256) keys
	// work too, for benchmarks.
	var key any
	var method jwt.SigningMethod
	if k, err := jwt.ParseEdPrivateKeyFromPEM(pemData); err == nil {
		key, method = k, jwt.SigningMethodEdDSA
	} else if k, err := jwt.ParseRSAPrivateKeyFromPEM(pemData); err == nil {
		key, method = k, jwt.SigningMethodRS256
	} else if k, err := jwt.ParseECPrivateKeyFromPEM(pemData); err == nil {
		key, method = k, jwt.SigningMethodES256
	} else {
		fail(fmt.Errorf("%s: not an Ed25519, RSA or EC private key", *keyFile))
	}
	jti := make([]byte, 16)
	if _, err := rand.Read(jti); err != nil {
		fail(err)
	}
	now := time.Now()
	claims := jwt.MapClaims{
		"iss": *iss, "sub": *sub, "aud": *aud, "jti": hex.EncodeToString(jti),
		"iat": now.Unix(), "exp": now.Add(*ttl).Unix(), "client_id": "demo-token",
	}
	if *scope != "" {
		claims["scope"] = *scope
	}
	if *roles != "" {
		claims["roles"] = strings.Split(*roles, ",")
	}
	if *extra != "" {
		var more map[string]any
		if err := json.Unmarshal([]byte(*extra), &more); err != nil {
			fail(fmt.Errorf("-claims: %w", err))
		}
		for k, v := range more {
			claims[k] = v
		}
	}
	tok := jwt.NewWithClaims(method, claims)
	tok.Header["typ"] = "at+jwt"
	s, err := tok.SignedString(key)
	if err != nil {
		fail(err)
	}
	fmt.Println(s)
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "demo-token:", err)
	os.Exit(1)
}

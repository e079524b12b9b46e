package bearer_test

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/restauth/caddy-restauth/internal/testkit"
)

// joseToken signs claims with go-jose (an independent JOSE library).
func joseToken(t *testing.T, key crypto.Signer, claims map[string]any) string {
	t.Helper()
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: key}, (&jose.SignerOptions{}).WithType("at+jwt"))
	if err != nil {
		t.Fatal(err)
	}
	payload, _ := json.Marshal(claims)
	obj, err := signer.Sign(payload)
	if err != nil {
		t.Fatal(err)
	}
	s, _ := obj.CompactSerialize()
	return s
}

// TestDPoP: DPoP-bound tokens through a real Caddy, tokens and proofs
// made with go-jose.
func TestDPoP(t *testing.T) {
	issuerKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	k1, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	k2, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	dir := t.TempDir()
	keyFile := testkit.WriteFile(t, dir, "ec.pem", pemPublic(t, &issuerKey.PublicKey))
	h := testkit.StartCaddy(t, fmt.Sprintf(`
		users USERS
		resources RESOURCES
		bearer {
			dpop {
				algorithms ES256 EdDSA
			}
			jwt {
				issuer %s
				audience api
				key %s
				algorithms ES256
			}
		}`, issuer, keyFile))
	claimsFor := func(sub string, cnf map[string]any) map[string]any {
		c := map[string]any{"iss": issuer, "aud": "api", "sub": sub, "exp": time.Now().Add(time.Hour).Unix()}
		if cnf != nil {
			c["cnf"] = cnf
		}
		return c
	}
	bound := joseToken(t, issuerKey, claimsFor("alice", map[string]any{"jkt": testkit.JKT(t, k1.Public())}))
	boundK2 := joseToken(t, issuerKey, claimsFor("alice", map[string]any{"jkt": testkit.JKT(t, k2.Public())}))
	plain := joseToken(t, issuerKey, claimsFor("alice", nil))
	me := "/api/identity/user/v1.0/me"
	htu := "http://127.0.0.1:9080" + me
	good := func() testkit.Proof { return testkit.Proof{Key: k1, HTM: "GET", HTU: htu, Token: bound} }
	send := func(scheme, tok, proof string) func() int {
		return func() int {
			hd := []string{"Authorization", scheme + " " + tok}
			if proof != "" {
				hd = append(hd, "DPoP", proof)
			}
			resp, _ := h.Do("GET", me, hd...)
			return resp.StatusCode
		}
	}
	h.Expect("a good proof", 200, true, send("DPoP", bound, good().Sign(t)))
	h.Expect("a good proof again (the token cached, the proof new)", 200, true, send("DPoP", bound, good().Sign(t)))
	if hd, _ := h.Up.Last(); hd.Get("Authorization") == "" {
		t.Log("(the upstream sees the Authorization field as sent)")
	}
	replayed := good().Sign(t)
	h.Expect("first use", 200, true, send("DPoP", bound, replayed))

	mod := func(f func(*testkit.Proof)) string { p := good(); f(&p); return p.Sign(t) }
	for _, c := range []struct {
		name, proof string
	}{
		{"a replayed jti", replayed},
		{"wrong htm", mod(func(p *testkit.Proof) { p.HTM = "POST" })},
		{"htu of another host", mod(func(p *testkit.Proof) { p.HTU = "http://localhost:9080" + me })},
		{"htu of another path", mod(func(p *testkit.Proof) { p.HTU = "http://127.0.0.1:9080/other" })},
		{"a stale iat", mod(func(p *testkit.Proof) { p.IAT = time.Now().Add(-5 * time.Minute) })},
		{"ath of another token", mod(func(p *testkit.Proof) { p.Token = plain })},
		{"signed by another key than its jwk", mod(func(p *testkit.Proof) { p.JWKKey = k2.Public() })},
		{"an algorithm not allowed (ES384)", func() string {
			k384, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
			return testkit.Proof{Key: k384, Alg: jose.ES384, HTM: "GET", HTU: htu, Token: bound}.Sign(t)
		}()},
		{"no proof", ""},
		{"alg none", handProof(t, "none", k1, htu, bound) + "."},
		{"alg HS256", handProof(t, "HS256", k1, htu, bound) + ".c2ln"},
	} {
		h.Expect(c.name, 401, false, send("DPoP", bound, c.proof))
		resp, _ := h.Do("GET", me, "Authorization", "DPoP "+bound, "DPoP", c.proof)
		if ch := strings.Join(resp.Header.Values("Www-Authenticate"), " | "); !strings.Contains(ch, `DPoP error="invalid_dpop_proof", algs="ES256 EdDSA"`) {
			t.Errorf("%s: challenge %q", c.name, ch)
		}
	}
	h.Expect("a DPoP-bound token sent as Bearer", 401, false, send("Bearer", bound, ""))
	h.Expect("a token bound to another key", 401, false, send("DPoP", boundK2, good().Sign(t)))
	h.Expect("an unbound token under DPoP", 401, false, send("DPoP", plain, testkit.Proof{Key: k1, HTM: "GET", HTU: htu, Token: plain}.Sign(t)))
	resp, _ := h.Do("GET", me, "Authorization", "DPoP "+plain, "DPoP", testkit.Proof{Key: k1, HTM: "GET", HTU: htu, Token: plain}.Sign(t))
	if ch := strings.Join(resp.Header.Values("Www-Authenticate"), " | "); !strings.Contains(ch, `DPoP error="invalid_token"`) {
		t.Errorf("unbound token under DPoP: challenge %q", ch)
	}
	h.Expect("an unbound token as Bearer still works", 200, true, send("Bearer", plain, ""))
	resp, _ = h.Do("GET", me)
	if ch := strings.Join(resp.Header.Values("Www-Authenticate"), " | "); !strings.Contains(ch, `DPoP algs="ES256 EdDSA"`) {
		t.Errorf("no credentials: challenge %q, want DPoP offered", ch)
	}
}

// handProof builds a proof's header and payload by hand, for algorithms
// no library signs with: a public JWK, and what alg says.
func handProof(t *testing.T, alg string, key *ecdsa.PrivateKey, htu, token string) string {
	jwkJSON, _ := (&jose.JSONWebKey{Key: key.Public()}).MarshalJSON()
	head, _ := json.Marshal(map[string]any{"typ": "dpop+jwt", "alg": alg, "jwk": json.RawMessage(jwkJSON)})
	sum := sha256.Sum256([]byte(token))
	body, _ := json.Marshal(map[string]any{"jti": "hand-" + alg, "htm": "GET", "htu": htu, "iat": time.Now().Unix(), "ath": base64.RawURLEncoding.EncodeToString(sum[:])})
	return base64.RawURLEncoding.EncodeToString(head) + "." + base64.RawURLEncoding.EncodeToString(body)
}

// TestDPoPNonceAndRuleBinding: server nonces (section 8), and a rule that
// wants bound tokens.
func TestDPoPNonceAndRuleBinding(t *testing.T) {
	issuerKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	k1, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	dir := t.TempDir()
	keyFile := testkit.WriteFile(t, dir, "ec.pem", pemPublic(t, &issuerKey.PublicKey))
	h := testkit.StartCaddy(t, fmt.Sprintf(`
		users USERS
		resources RESOURCES
		bearer {
			dpop {
				nonce 0123456789abcdef0123456789abcdef
			}
			jwt {
				issuer %s
				audience api
				key %s
				algorithms ES256
			}
		}
		resource /bound/* {
			secured true
			require_binding dpop
		}`, issuer, keyFile))
	claimsFor := func(cnf map[string]any) map[string]any {
		c := map[string]any{"iss": issuer, "aud": "api", "sub": "alice", "exp": time.Now().Add(time.Hour).Unix()}
		if cnf != nil {
			c["cnf"] = cnf
		}
		return c
	}
	bound := joseToken(t, issuerKey, claimsFor(map[string]any{"jkt": testkit.JKT(t, k1.Public())}))
	plain := joseToken(t, issuerKey, claimsFor(nil))
	path := "/bound/x"
	htu := "http://127.0.0.1:9080" + path
	// no nonce: 401 use_dpop_nonce, and the nonce to use
	resp, _ := h.Do("GET", path, "Authorization", "DPoP "+bound, "DPoP", testkit.Proof{Key: k1, HTM: "GET", HTU: htu, Token: bound}.Sign(t))
	nonce := resp.Header.Get("DPoP-Nonce")
	if resp.StatusCode != 401 || nonce == "" || !strings.Contains(resp.Header.Get("Www-Authenticate"), `error="use_dpop_nonce"`) {
		t.Fatalf("no nonce: %d, DPoP-Nonce %q, %q", resp.StatusCode, nonce, resp.Header.Values("Www-Authenticate"))
	}
	withNonce := func(n string) string {
		return testkit.Proof{Key: k1, HTM: "GET", HTU: htu, Token: bound, Claims: map[string]any{"nonce": n}}.Sign(t)
	}
	h.Expect("the server's nonce", 200, true, h.Status("GET", path, "Authorization", "DPoP "+bound, "DPoP", withNonce(nonce)))
	h.Expect("a made-up nonce", 401, false, h.Status("GET", path, "Authorization", "DPoP "+bound, "DPoP", withNonce("made-up")))
	h.Expect("require_binding dpop on the rule: an unbound token", 401, false, h.Status("GET", path, "Authorization", "Bearer "+plain))
	h.Expect("elsewhere the unbound token passes", 200, true, h.Status("GET", "/api/identity/user/v1.0/me", "Authorization", "Bearer "+plain))
}

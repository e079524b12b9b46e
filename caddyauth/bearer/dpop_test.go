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

// joseProof is a DPoP proof made with go-jose.
type joseProof struct {
	key      crypto.Signer
	jwkKey   any // embedded; default key's public key
	alg      jose.SignatureAlgorithm
	htm, htu string
	iat      time.Time
	jti      string
	token    string // for ath
}

func (p joseProof) sign(t *testing.T) string {
	t.Helper()
	return p.signWith(t, nil)
}

// signWith signs the proof with more claims.
func (p joseProof) signWith(t *testing.T, extra map[string]any) string {
	t.Helper()
	if p.alg == "" {
		p.alg = jose.ES256
	}
	if p.iat.IsZero() {
		p.iat = time.Now()
	}
	if p.jti == "" {
		b := make([]byte, 12)
		rand.Read(b)
		p.jti = base64.RawURLEncoding.EncodeToString(b)
	}
	pub := p.jwkKey
	if pub == nil {
		pub = p.key.Public()
	}
	sum := sha256.Sum256([]byte(p.token))
	claims := map[string]any{"jti": p.jti, "htm": p.htm, "htu": p.htu, "iat": p.iat.Unix(), "ath": base64.RawURLEncoding.EncodeToString(sum[:])}
	for k, v := range extra {
		claims[k] = v
	}
	payload, _ := json.Marshal(claims)
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: p.alg, Key: p.key},
		(&jose.SignerOptions{}).WithType("dpop+jwt").WithHeader("jwk", jose.JSONWebKey{Key: pub}))
	if err != nil {
		t.Fatal(err)
	}
	obj, err := signer.Sign(payload)
	if err != nil {
		t.Fatal(err)
	}
	s, _ := obj.CompactSerialize()
	return s
}

func jkt(t *testing.T, pub any) string {
	b, err := (&jose.JSONWebKey{Key: pub}).Thumbprint(crypto.SHA256)
	if err != nil {
		t.Fatal(err)
	}
	return base64.RawURLEncoding.EncodeToString(b)
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
	bound := joseToken(t, issuerKey, claimsFor("alice", map[string]any{"jkt": jkt(t, k1.Public())}))
	boundK2 := joseToken(t, issuerKey, claimsFor("alice", map[string]any{"jkt": jkt(t, k2.Public())}))
	plain := joseToken(t, issuerKey, claimsFor("alice", nil))
	me := "/api/identity/user/v1.0/me"
	htu := "http://127.0.0.1:9080" + me
	good := func() joseProof { return joseProof{key: k1, htm: "GET", htu: htu, token: bound} }
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
	h.Expect("a good proof", 200, true, send("DPoP", bound, good().sign(t)))
	h.Expect("a good proof again (the token cached, the proof new)", 200, true, send("DPoP", bound, good().sign(t)))
	if hd, _ := h.Up.Last(); hd.Get("Authorization") == "" {
		t.Log("(the upstream sees the Authorization field as sent)")
	}
	replayed := good().sign(t)
	h.Expect("first use", 200, true, send("DPoP", bound, replayed))

	mod := func(f func(*joseProof)) string { p := good(); f(&p); return p.sign(t) }
	for _, c := range []struct {
		name, proof string
	}{
		{"a replayed jti", replayed},
		{"wrong htm", mod(func(p *joseProof) { p.htm = "POST" })},
		{"htu of another host", mod(func(p *joseProof) { p.htu = "http://localhost:9080" + me })},
		{"htu of another path", mod(func(p *joseProof) { p.htu = "http://127.0.0.1:9080/other" })},
		{"a stale iat", mod(func(p *joseProof) { p.iat = time.Now().Add(-5 * time.Minute) })},
		{"ath of another token", mod(func(p *joseProof) { p.token = plain })},
		{"signed by another key than its jwk", mod(func(p *joseProof) { p.jwkKey = k2.Public() })},
		{"an algorithm not allowed (ES384)", func() string {
			k384, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
			return joseProof{key: k384, alg: jose.ES384, htm: "GET", htu: htu, token: bound}.sign(t)
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
	h.Expect("a token bound to another key", 401, false, send("DPoP", boundK2, good().sign(t)))
	h.Expect("an unbound token under DPoP", 401, false, send("DPoP", plain, joseProof{key: k1, htm: "GET", htu: htu, token: plain}.sign(t)))
	resp, _ := h.Do("GET", me, "Authorization", "DPoP "+plain, "DPoP", joseProof{key: k1, htm: "GET", htu: htu, token: plain}.sign(t))
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
	bound := joseToken(t, issuerKey, claimsFor(map[string]any{"jkt": jkt(t, k1.Public())}))
	plain := joseToken(t, issuerKey, claimsFor(nil))
	path := "/bound/x"
	htu := "http://127.0.0.1:9080" + path
	// no nonce: 401 use_dpop_nonce, and the nonce to use
	resp, _ := h.Do("GET", path, "Authorization", "DPoP "+bound, "DPoP", joseProof{key: k1, htm: "GET", htu: htu, token: bound}.sign(t))
	nonce := resp.Header.Get("DPoP-Nonce")
	if resp.StatusCode != 401 || nonce == "" || !strings.Contains(resp.Header.Get("Www-Authenticate"), `error="use_dpop_nonce"`) {
		t.Fatalf("no nonce: %d, DPoP-Nonce %q, %q", resp.StatusCode, nonce, resp.Header.Values("Www-Authenticate"))
	}
	withNonce := func(n string) string {
		p := joseProof{key: k1, htm: "GET", htu: htu, token: bound}
		return p.signWith(t, map[string]any{"nonce": n})
	}
	h.Expect("the server's nonce", 200, true, h.Status("GET", path, "Authorization", "DPoP "+bound, "DPoP", withNonce(nonce)))
	h.Expect("a made-up nonce", 401, false, h.Status("GET", path, "Authorization", "DPoP "+bound, "DPoP", withNonce("made-up")))
	h.Expect("require_binding dpop on the rule: an unbound token", 401, false, h.Status("GET", path, "Authorization", "Bearer "+plain))
	h.Expect("elsewhere the unbound token passes", 200, true, h.Status("GET", "/api/identity/user/v1.0/me", "Authorization", "Bearer "+plain))
}

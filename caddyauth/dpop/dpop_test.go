package dpop_test

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/restauth/caddy-restauth/caddyauth/dpop"
	"github.com/restauth/caddy-restauth/internal/testkit"
)

// ProofOpts are what a test proof says; testkit signs it with go-jose,
// an independent JOSE implementation.
type ProofOpts = testkit.Proof

// MakeProof signs a proof.
func MakeProof(t testing.TB, o ProofOpts) string { t.Helper(); return o.Sign(t) }

func TestCheck(t *testing.T) {
	ec, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	ec2, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	rk, _ := rsa.GenerateKey(rand.Reader, 2048)
	_, ed, _ := ed25519.GenerateKey(rand.Reader)
	const htu = "https://api.example/v1/things"
	const tok = "the.access.token"
	good := func() ProofOpts {
		return ProofOpts{Alg: jose.ES256, Key: ec, HTM: "POST", HTU: htu, Token: tok}
	}
	c := dpop.NewChecker()
	now := time.Now()
	jwkThumb := func(k any) string {
		b, err := (&jose.JSONWebKey{Key: k}).Thumbprint(crypto.SHA256)
		if err != nil {
			t.Fatal(err)
		}
		return base64.RawURLEncoding.EncodeToString(b)
	}
	for _, k := range []struct {
		name string
		o    ProofOpts
		pub  any
	}{
		{"ES256", good(), ec.Public()},
		{"RS256", ProofOpts{Alg: jose.RS256, Key: rk, HTM: "POST", HTU: htu, Token: tok}, rk.Public()},
		{"PS256", ProofOpts{Alg: jose.PS256, Key: rk, HTM: "POST", HTU: htu, Token: tok}, rk.Public()},
		{"EdDSA", ProofOpts{Alg: jose.EdDSA, Key: ed, HTM: "POST", HTU: htu, Token: tok}, ed.Public()},
		{"htu with a query and another case of host (ignored, section 4.3)", ProofOpts{Alg: jose.ES256, Key: ec, HTM: "POST", HTU: "https://API.example:443/v1/things?x=1", Token: tok}, ec.Public()},
	} {
		p, err := c.Check(MakeProof(t, k.o), "POST", htu, tok, now)
		if err != nil {
			t.Errorf("%s: %v", k.name, err)
			continue
		}
		if want := jwkThumb(k.pub); p.JKT != want {
			t.Errorf("%s: thumbprint %s, go-jose's %s", k.name, p.JKT, want)
		}
	}
	replayed := MakeProof(t, good())
	if _, err := c.Check(replayed, "POST", htu, tok, now); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Check(replayed, "POST", htu, tok, now); !errors.Is(err, dpop.ErrReplay) {
		t.Errorf("replayed: %v", err)
	}
	mod := func(f func(*ProofOpts)) ProofOpts { o := good(); f(&o); return o }
	bad := []struct {
		name string
		o    ProofOpts
	}{
		{"wrong htm", mod(func(o *ProofOpts) { o.HTM = "GET" })},
		{"htu of another host", mod(func(o *ProofOpts) { o.HTU = "https://evil.example/v1/things" })},
		{"htu of another path", mod(func(o *ProofOpts) { o.HTU = "https://api.example/v1/other" })},
		{"htu over http", mod(func(o *ProofOpts) { o.HTU = "http://api.example/v1/things" })},
		{"stale iat", mod(func(o *ProofOpts) { o.IAT = now.Add(-2 * time.Minute) })},
		{"iat in the future", mod(func(o *ProofOpts) { o.IAT = now.Add(2 * time.Minute) })},
		{"ath of another token", mod(func(o *ProofOpts) { o.Token = "another.token.x" })},
		{"signed by another key", mod(func(o *ProofOpts) { o.JWKKey = ec2.Public() })},
		{"typ JWT", mod(func(o *ProofOpts) { o.Typ = "JWT" })},
		{"no jwk", mod(func(o *ProofOpts) { o.NoJWK = true })},
		{"no ath", mod(func(o *ProofOpts) { o.Token = "" })},
	}
	for _, b := range bad {
		if _, err := c.Check(MakeProof(t, b.o), "POST", htu, tok, now); !errors.Is(err, dpop.ErrInvalid) {
			t.Errorf("%s: %v, want invalid", b.name, err)
		}
	}
	// alg none and HS256, and a private key in the jwk: made by hand
	head := func(h map[string]any) string { b, _ := json.Marshal(h); return base64.RawURLEncoding.EncodeToString(b) }
	body := base64.RawURLEncoding.EncodeToString([]byte(`{"jti":"x1","htm":"POST","htu":"` + htu + `","iat":` + itoa(now.Unix()) + `}`))
	pubJWK, _ := (&jose.JSONWebKey{Key: ec.Public()}).MarshalJSON()
	privJWK, _ := (&jose.JSONWebKey{Key: ec}).MarshalJSON()
	for name, proof := range map[string]string{
		"alg none":             head(map[string]any{"typ": "dpop+jwt", "alg": "none", "jwk": json.RawMessage(pubJWK)}) + "." + body + ".",
		"alg HS256":            head(map[string]any{"typ": "dpop+jwt", "alg": "HS256", "jwk": map[string]any{"kty": "oct", "k": "c2VjcmV0"}}) + "." + body + ".c2ln",
		"a private key in jwk": head(map[string]any{"typ": "dpop+jwt", "alg": "ES256", "jwk": json.RawMessage(privJWK)}) + "." + body + ".c2ln",
		"not a JWS":            "abc",
		"too long":             strings.Repeat("a.", 5000),
	} {
		if _, err := c.Check(proof, "POST", htu, "", now); !errors.Is(err, dpop.ErrInvalid) {
			t.Errorf("%s: %v, want invalid", name, err)
		}
	}
	// server nonces
	cn := dpop.NewChecker()
	cn.Nonce = func() (string, string) { return "n2", "n1" }
	if _, err := cn.Check(MakeProof(t, good()), "POST", htu, tok, now); !errors.Is(err, dpop.ErrNonce) {
		t.Errorf("no nonce: %v", err)
	}
	for _, n := range []string{"n1", "n2"} {
		if _, err := cn.Check(MakeProof(t, mod(func(o *ProofOpts) { o.Claims = map[string]any{"nonce": n} })), "POST", htu, tok, now); err != nil {
			t.Errorf("nonce %s: %v", n, err)
		}
	}
	if _, err := cn.Check(MakeProof(t, mod(func(o *ProofOpts) { o.Claims = map[string]any{"nonce": "n0"} })), "POST", htu, tok, now); !errors.Is(err, dpop.ErrNonce) {
		t.Errorf("old nonce: %v", err)
	}
}

func itoa(n int64) string { b, _ := json.Marshal(n); return string(b) }

// TestReplaysBounded: a full cache refuses rather than forgets.
func TestReplaysBounded(t *testing.T) {
	m := dpop.NewMemoryReplays(2)
	until := time.Now().Add(time.Minute)
	for _, j := range []string{"a", "b"} {
		if seen, err := m.Seen("k", j, until); seen || err != nil {
			t.Fatal(seen, err)
		}
	}
	if _, err := m.Seen("k", "c", until); !errors.Is(err, dpop.ErrFull) {
		t.Errorf("full: %v", err)
	}
	if seen, _ := m.Seen("k", "a", until); !seen {
		t.Error("a forgotten")
	}
}

// TestNormalizeHTU: section 4.3's comparison.
func TestNormalizeHTU(t *testing.T) {
	for in, want := range map[string]string{
		"https://A.example/x?q#f":  "https://a.example/x",
		"https://a.example:443/x":  "https://a.example/x",
		"http://a.example:80/x":    "http://a.example/x",
		"https://a.example:8443/x": "https://a.example:8443/x",
		"https://a.example":        "https://a.example/",
		"ftp://a.example/x":        "",
		"https://u@a.example/x":    "",
		"/x":                       "",
	} {
		got, ok := dpop.NormalizeHTU(in)
		if got != want || ok != (want != "") {
			t.Errorf("%q: %q %v, want %q", in, got, ok, want)
		}
	}
}

// FuzzCheck: whatever a proof holds, the check answers without panicking,
// and a proof it accepts names a key by a SHA-256 thumbprint and is for
// the request it was checked against.
func FuzzCheck(f *testing.F) {
	ec, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	now := time.Unix(1800000000, 0)
	f.Add(MakeProof(f, ProofOpts{Alg: jose.ES256, Key: ec, HTM: "GET", HTU: "https://a.example/x", IAT: now}))
	f.Add(MakeProof(f, ProofOpts{Alg: jose.ES256, Key: ec, HTM: "POST", HTU: "https://a.example/x", IAT: now}))
	f.Add("eyJ0eXAiOiJkcG9wK2p3dCIsImFsZyI6Im5vbmUifQ.e30.")
	f.Fuzz(func(t *testing.T, proof string) {
		c := &dpop.Checker{Algorithms: dpop.DefaultAlgorithms, Window: time.Minute}
		p, err := c.Check(proof, "GET", "https://a.example/x", "", now)
		if err != nil {
			return
		}
		if len(p.JKT) != 43 || p.JTI == "" || p.IAT.Sub(now) > time.Minute || now.Sub(p.IAT) > time.Minute {
			t.Fatalf("accepted %q as %+v", proof, p)
		}
	})
}

// TestBigRSAKeyRefused: a client's proof key of more than 4096 bits is
// refused before any verification (it would cost the server many times
// an ordinary one).
func TestBigRSAKeyRefused(t *testing.T) {
	n := base64.RawURLEncoding.EncodeToString(append([]byte{0xc5}, make([]byte, 1023)...)) // 8192 bits
	raw, _ := json.Marshal(map[string]string{"kty": "RSA", "n": n, "e": "AQAB"})
	if _, _, err := dpop.PublicJWK(raw); err == nil || !strings.Contains(err.Error(), "4096") {
		t.Errorf("an 8192-bit key: %v", err)
	}
	k, _ := rsa.GenerateKey(rand.Reader, 2048)
	raw, _ = (&jose.JSONWebKey{Key: k.Public()}).MarshalJSON()
	if _, _, err := dpop.PublicJWK(raw); err != nil {
		t.Errorf("a 2048-bit key: %v", err)
	}
}

package testkit

import (
	"crypto"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
)

// Proof is a DPoP proof (RFC 9449) for tests, signed with go-jose, an
// independent JOSE implementation, never with the code under test.
type Proof struct {
	Key      crypto.Signer           // signs
	JWKKey   any                     // the header's jwk; default Key's public key
	Alg      jose.SignatureAlgorithm // default ES256
	Typ      string                  // default dpop+jwt
	HTM, HTU string
	IAT      time.Time // default now
	JTI      string    // default random
	Token    string    // ath is its hash, when set
	ATH      string    // ath as given instead
	NoJWK    bool
	Claims   map[string]any // more claims (a nonce, say)
}

// Sign makes the compact proof.
func (p Proof) Sign(t testing.TB) string {
	t.Helper()
	if p.Alg == "" {
		p.Alg = jose.ES256
	}
	if p.Typ == "" {
		p.Typ = "dpop+jwt"
	}
	if p.IAT.IsZero() {
		p.IAT = time.Now()
	}
	if p.JTI == "" {
		b := make([]byte, 12)
		rand.Read(b)
		p.JTI = base64.RawURLEncoding.EncodeToString(b)
	}
	claims := map[string]any{"jti": p.JTI, "htm": p.HTM, "htu": p.HTU, "iat": p.IAT.Unix()}
	switch {
	case p.ATH != "":
		claims["ath"] = p.ATH
	case p.Token != "":
		sum := sha256.Sum256([]byte(p.Token))
		claims["ath"] = base64.RawURLEncoding.EncodeToString(sum[:])
	}
	for k, v := range p.Claims {
		claims[k] = v
	}
	payload, _ := json.Marshal(claims)
	opts := (&jose.SignerOptions{}).WithType(jose.ContentType(p.Typ))
	if !p.NoJWK {
		pub := p.JWKKey
		if pub == nil {
			pub = p.Key.Public()
		}
		opts = opts.WithHeader("jwk", jose.JSONWebKey{Key: pub})
	}
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: p.Alg, Key: p.Key}, opts)
	if err != nil {
		t.Fatal(err)
	}
	obj, err := signer.Sign(payload)
	if err != nil {
		t.Fatal(err)
	}
	s, err := obj.CompactSerialize()
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// JKT is a public key's RFC 7638 thumbprint as go-jose computes it.
func JKT(t testing.TB, pub any) string {
	t.Helper()
	b, err := (&jose.JSONWebKey{Key: pub}).Thumbprint(crypto.SHA256)
	if err != nil {
		t.Fatal(err)
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

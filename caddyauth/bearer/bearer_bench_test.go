package bearer

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math/big"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/golang-jwt/jwt/v5"
	"github.com/restauth/caddy-restauth/caddyauth"
	"github.com/restauth/caddy-restauth/caddyauth/filestore"
	"github.com/restauth/caddy-restauth/permissions"
)

// BenchmarkBearerJWT measures one request's token check for each kind of
// key: "cached" is a client that sends the same token again (the usual
// case), "verify" checks the signature every time.
func BenchmarkBearerJWT(b *testing.B) {
	s := benchSnapshot(b)
	rsaKey, _ := rsa.GenerateKey(rand.Reader, 2048)
	ecKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	edPub, edKey, _ := ed25519.GenerateKey(rand.Reader)
	secret := []byte("0123456789abcdef0123456789abcdef")
	claims := jwt.MapClaims{"sub": "alice", "exp": time.Now().Add(time.Hour).Unix(), "iat": time.Now().Unix(), "scope": "a b"}
	for _, c := range []struct {
		alg  jwt.SigningMethod
		sign any
		key  any
	}{
		{jwt.SigningMethodRS256, rsaKey, &rsaKey.PublicKey},
		{jwt.SigningMethodES256, ecKey, &ecKey.PublicKey},
		{jwt.SigningMethodEdDSA, edKey, edPub},
		{jwt.SigningMethodHS256, secret, secret},
	} {
		tok, err := jwt.NewWithClaims(c.alg, claims).SignedString(c.sign)
		if err != nil {
			b.Fatal(err)
		}
		v := &JWTValidator{Algorithms: []string{c.alg.Alg()}}
		v.keys = keySet{{key: c.key}}
		if err := v.setup(); err != nil {
			b.Fatal(err)
		}
		bearer := &Bearer{JWT: []*JWTValidator{v}, RolesFrom: "both", Realm: "r"}
		req := httptest.NewRequest("GET", "/", nil)
		req.Header.Set("Authorization", "Bearer "+tok)
		for _, cached := range []bool{true, false} {
			name := fmt.Sprintf("%s/verify", c.alg.Alg())
			if cached {
				name = fmt.Sprintf("%s/cached", c.alg.Alg())
			}
			b.Run(name, func(b *testing.B) {
				b.ReportAllocs()
				for i := 0; i < b.N; i++ {
					if !cached || bearer.cache == nil {
						bearer.cache = newTokenCache(10)
					}
					if _, err := bearer.Authenticate(req, s); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

// BenchmarkBearerIntrospectCached measures an introspected token found in
// the cache.
func BenchmarkBearerIntrospectCached(b *testing.B) {
	s := benchSnapshot(b)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, `{"active":true,"username":"alice","scope":"a b"}`)
	}))
	defer srv.Close()
	in := &Introspector{Endpoint: srv.URL, ClientID: "rs", ClientSecret: "x"}
	if err := in.provision(); err != nil {
		b.Fatal(err)
	}
	bearer := &Bearer{Introspect: in, RolesFrom: "both", cache: newTokenCache(10)}
	req := httptest.NewRequest("GET", "/", nil)
	req.Header.Set("Authorization", "Bearer opaque-token-0123456789")
	if _, err := bearer.Authenticate(req, s); err != nil { // fills the cache
		b.Fatal(err)
	}
	b.ResetTimer()
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		if _, err := bearer.Authenticate(req, s); err != nil {
			b.Fatal(err)
		}
	}
}

// benchSnapshot is a snapshot with one user, alice, in the users files'
// store, for the principal a token's user gets.
func benchSnapshot(b testing.TB) *caddyauth.Snapshot {
	users := &permissions.Users{
		Roles: []permissions.Role{{Name: "r", Permissions: []string{"/permission"}}},
		Users: []permissions.User{{Name: "alice", Hash: "$2a$04$abcdefghijklmnopqrstuuabcdefghijklmnopqrstuvwxyz01234", Roles: []string{"r"}}},
	}
	s, err := caddyauth.NewSnapshot(nil, users, permissions.Options{}, &filestore.FileStore{})
	if err != nil {
		b.Fatal(err)
	}
	return s
}

// BenchmarkBinding: a cached ES256 token as a bearer token, bound to the
// connection's client certificate (RFC 8705), and bound to a DPoP key
// with a proof on each request (RFC 9449; one proof reused, the replay
// cache off, so that the proof's check is what is measured).
func BenchmarkBinding(b *testing.B) {
	s := benchSnapshot(b)
	issuerKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	holder, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	leafKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	der, _ := x509.CreateCertificate(rand.Reader, &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "alice"},
		NotBefore: time.Now(), NotAfter: time.Now().Add(time.Hour)}, &x509.Certificate{SerialNumber: big.NewInt(1)}, &leafKey.PublicKey, leafKey)
	leaf, _ := x509.ParseCertificate(der)
	thumb, _ := (&jose.JSONWebKey{Key: holder.Public()}).Thumbprint(crypto.SHA256)
	jkt := base64.RawURLEncoding.EncodeToString(thumb)
	mk := func(cnf map[string]any) string {
		c := jwt.MapClaims{"sub": "alice", "exp": time.Now().Add(time.Hour).Unix(), "iat": time.Now().Unix()}
		if cnf != nil {
			c["cnf"] = cnf
		}
		tok, _ := jwt.NewWithClaims(jwt.SigningMethodES256, c).SignedString(issuerKey)
		return tok
	}
	v := &JWTValidator{Algorithms: []string{"ES256"}}
	v.keys = keySet{{key: &issuerKey.PublicKey}}
	if err := v.setup(); err != nil {
		b.Fatal(err)
	}
	bearer := &Bearer{JWT: []*JWTValidator{v}, RolesFrom: "both", Realm: "r", DPoP: &DPoPConfig{}}
	if err := bearer.provisionDPoP(nil); err != nil {
		b.Fatal(err)
	}
	bearer.dpop.Replays = nil
	bearer.cache, bearer.refused = newTokenCache(10), new(refusedCache)

	plain := httptest.NewRequest("GET", "http://api.test/x", nil)
	plain.Header.Set("Authorization", "Bearer "+mk(nil))
	mtls := httptest.NewRequest("GET", "http://api.test/x", nil)
	mtls.Header.Set("Authorization", "Bearer "+mk(map[string]any{"x5t#S256": func() string { sum := sha256.Sum256(leaf.Raw); return base64.RawURLEncoding.EncodeToString(sum[:]) }()}))
	mtls.TLS = &tls.ConnectionState{PeerCertificates: []*x509.Certificate{leaf}, VerifiedChains: [][]*x509.Certificate{{leaf}}}
	dtok := mk(map[string]any{"jkt": jkt})
	dreq := httptest.NewRequest("GET", "http://api.test/x", nil)
	dreq.Header.Set("Authorization", "DPoP "+dtok)
	sum := sha256.Sum256([]byte(dtok))
	payload, _ := json.Marshal(map[string]any{"jti": "j1", "htm": "GET", "htu": "http://api.test/x", "iat": time.Now().Unix(),
		"ath": base64.RawURLEncoding.EncodeToString(sum[:])})
	signer, _ := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: holder},
		(&jose.SignerOptions{}).WithType("dpop+jwt").WithHeader("jwk", jose.JSONWebKey{Key: holder.Public()}))
	obj, _ := signer.Sign(payload)
	proof, _ := obj.CompactSerialize()
	dreq.Header.Set("DPoP", proof)
	for _, c := range []struct {
		name string
		req  *http.Request
	}{{"bearer", plain}, {"mtls-bound", mtls}, {"dpop", dreq}} {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for i := 0; i < b.N; i++ {
				if _, err := bearer.Authenticate(c.req, s); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

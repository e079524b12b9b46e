package bearer

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

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

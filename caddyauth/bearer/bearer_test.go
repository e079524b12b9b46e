package bearer_test

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"math/big"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/restauth/caddy-restauth/internal/testkit"
)

// Test keys, made once per run.
var (
	keysOnce        sync.Once
	rsaKey, rsaKey2 *rsa.PrivateKey
	rsaEvil         *rsa.PrivateKey
	ecKey, ecKey384 *ecdsa.PrivateKey
	edPub           ed25519.PublicKey
	edKey           ed25519.PrivateKey
	hmacSecret      = "0123456789abcdef0123456789abcdef-test"
)

func testKeys() {
	keysOnce.Do(func() {
		var err error
		for _, k := range []**rsa.PrivateKey{&rsaKey, &rsaKey2, &rsaEvil} {
			if *k, err = rsa.GenerateKey(rand.Reader, 2048); err != nil {
				panic(err)
			}
		}
		if ecKey, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader); err != nil {
			panic(err)
		}
		if ecKey384, err = ecdsa.GenerateKey(elliptic.P384(), rand.Reader); err != nil {
			panic(err)
		}
		if edPub, edKey, err = ed25519.GenerateKey(rand.Reader); err != nil {
			panic(err)
		}
	})
}

func b64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

// jwkOf is the public JWK of a key.
func jwkOf(kid string, pub crypto.PublicKey) map[string]string {
	switch k := pub.(type) {
	case *rsa.PublicKey:
		return map[string]string{"kty": "RSA", "kid": kid, "use": "sig", "n": b64(k.N.Bytes()), "e": b64(big.NewInt(int64(k.E)).Bytes())}
	case *ecdsa.PublicKey:
		size := (k.Curve.Params().BitSize + 7) / 8
		crv := map[int]string{256: "P-256", 384: "P-384", 521: "P-521"}[k.Curve.Params().BitSize]
		return map[string]string{"kty": "EC", "kid": kid, "crv": crv, "x": b64(k.X.FillBytes(make([]byte, size))), "y": b64(k.Y.FillBytes(make([]byte, size)))}
	case ed25519.PublicKey:
		return map[string]string{"kty": "OKP", "kid": kid, "crv": "Ed25519", "x": b64(k)}
	}
	panic("unknown key")
}

func jwkSet(keys ...map[string]string) []byte {
	b, _ := json.Marshal(map[string]any{"keys": keys})
	return b
}

// jwksServer is a real JWK set endpoint that counts fetches and can fail.
type jwksServer struct {
	srv     *httptest.Server
	fetches atomic.Int64
	fail    atomic.Bool
	mu      sync.Mutex
	body    []byte
}

func newJWKS(t *testing.T, body []byte) *jwksServer {
	j := &jwksServer{body: body}
	j.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		j.fetches.Add(1)
		if j.fail.Load() {
			http.Error(w, "down", http.StatusInternalServerError)
			return
		}
		j.mu.Lock()
		defer j.mu.Unlock()
		w.Header().Set("Content-Type", "application/jwk-set+json")
		w.Header().Set("Cache-Control", "max-age=600")
		w.Write(j.body)
	}))
	t.Cleanup(j.srv.Close)
	return j
}

func (j *jwksServer) set(body []byte) {
	j.mu.Lock()
	j.body = body
	j.mu.Unlock()
}

// mint signs a token; kid "" leaves the header out.
func mint(t *testing.T, m jwt.SigningMethod, key any, kid string, claims jwt.MapClaims, header ...any) string {
	t.Helper()
	tok := jwt.NewWithClaims(m, claims)
	if kid != "" {
		tok.Header["kid"] = kid
	}
	for i := 0; i+1 < len(header); i += 2 {
		tok.Header[header[i].(string)] = header[i+1]
	}
	s, err := tok.SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

const issuer = "https://idp.test"

// claims are good claims for a subject, with extra pairs.
func claims(sub string, extra ...any) jwt.MapClaims {
	now := time.Now()
	c := jwt.MapClaims{"iss": issuer, "aud": "api", "sub": sub, "iat": now.Unix(), "exp": now.Add(time.Hour).Unix()}
	for i := 0; i+1 < len(extra); i += 2 {
		if extra[i+1] == nil {
			delete(c, extra[i].(string))
			continue
		}
		c[extra[i].(string)] = extra[i+1]
	}
	return c
}

// introspectServer is a real RFC 7662 endpoint. answers maps a token to the
// JSON it answers; it requires the client rs / rs-secret.
type introspectServer struct {
	srv     *httptest.Server
	calls   atomic.Int64
	delay   atomic.Int64 // nanoseconds
	mu      sync.Mutex
	answers map[string]string
}

func newIntrospect(t *testing.T) *introspectServer {
	in := &introspectServer{answers: map[string]string{}}
	in.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		in.calls.Add(1)
		time.Sleep(time.Duration(in.delay.Load()))
		id, secret, ok := r.BasicAuth()
		if !ok || id != "rs" || secret != "rs-secret" || r.Method != http.MethodPost {
			http.Error(w, `{"error":"invalid_client"}`, http.StatusUnauthorized)
			return
		}
		if r.PostFormValue("token_type_hint") != "access_token" {
			http.Error(w, "no hint", http.StatusBadRequest)
			return
		}
		in.mu.Lock()
		ans, ok := in.answers[r.PostFormValue("token")]
		in.mu.Unlock()
		if !ok {
			ans = `{"active":false}`
		}
		if ans == "500" {
			http.Error(w, "boom", http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, ans)
	}))
	t.Cleanup(in.srv.Close)
	return in
}

func (in *introspectServer) answer(tok, json string) {
	in.mu.Lock()
	in.answers[tok] = json
	in.mu.Unlock()
}

func pemPublic(t *testing.T, pub crypto.PublicKey) string {
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))
}

func TestBearer(t *testing.T) {
	testKeys()
	dir := t.TempDir()
	jwks := newJWKS(t, jwkSet(jwkOf("k1", &rsaKey.PublicKey), jwkOf("ed", edPub)))
	evil := newJWKS(t, jwkSet(jwkOf("k1", &rsaEvil.PublicKey)))
	intro := newIntrospect(t)
	ecFile := testkit.WriteFile(t, dir, "ec.pem", pemPublic(t, &ecKey.PublicKey))

	h := testkit.StartCaddy(t, fmt.Sprintf(`
		users USERS
		resources RESOURCES
		bearer {
			jwt {
				issuer %s
				audience api other-api
				jwks_url %s
				algorithms RS256 PS256 EdDSA
				roles_claim realm_access.roles
				leeway 5s
				kid_cooldown 1h
			}
			jwt {
				issuer https://other.test
				audience api
				key %s
				algorithms ES256
			}
			introspect {
				endpoint %s
				client_id rs
				client_secret rs-secret
				timeout 500ms
				negative_ttl 1h
			}
		}
		basic
`, issuer, jwks.srv.URL, ecFile, intro.srv.URL))

	A := "Authorization"
	good := func(sub string, extra ...any) string {
		return mint(t, jwt.SigningMethodRS256, rsaKey, "k1", claims(sub, extra...))
	}
	roles := map[string]any{"roles": []any{"usermgt"}}
	rsaPubDER, _ := x509.MarshalPKIXPublicKey(&rsaKey.PublicKey)
	alice := good("alice")

	cases := []struct {
		name   string
		path   string
		tok    string
		status int
		auth   string // expected WWW-Authenticate substring
	}{
		{"RS256, user store roles", "/scim2/Users", alice, 200, ""},
		// the token is cached now; the cache must not vouch for characters
		{"a cached token with a space and more after it", "/scim2/Users", alice + " x", 401, ""},
		{"a cached token with a quote after it", "/scim2/Users", alice + `"`, 401, ""},
		{"RS256, token roles for a user the store lacks", "/scim2/Users", good("carol", "realm_access", roles), 200, ""},
		{"RS256, roles claim as delimited string", "/scim2/Users", good("carol", "realm_access", map[string]any{"roles": "x, usermgt"}), 200, ""},
		{"PS256", "/scim2/Users", mint(t, jwt.SigningMethodPS256, rsaKey, "k1", claims("alice")), 200, ""},
		{"EdDSA from the JWK set", "/scim2/Users", mint(t, jwt.SigningMethodEdDSA, edKey, "ed", claims("alice")), 200, ""},
		{"ES256 from a PEM file, second issuer", "/scim2/Users", mint(t, jwt.SigningMethodES256, ecKey, "", claims("alice", "iss", "https://other.test")), 200, ""},
		{"second issuer's name, first issuer's key", "/scim2/Users", good("alice", "iss", "https://other.test"), 401, "invalid_token"},
		{"no permission", "/scim2/Users", good("bob"), 403, ""},
		{"expired", "/scim2/Users", good("alice", "exp", time.Now().Add(-time.Minute).Unix()), 401, `error="invalid_token"`},
		{"expired within leeway", "/scim2/Users", good("alice", "exp", time.Now().Add(-2*time.Second).Unix()), 200, ""},
		{"no exp", "/scim2/Users", good("alice", "exp", nil), 401, "invalid_token"},
		{"not yet valid", "/scim2/Users", good("alice", "nbf", time.Now().Add(time.Hour).Unix()), 401, "invalid_token"},
		{"issued in the future", "/scim2/Users", good("alice", "iat", time.Now().Add(time.Hour).Unix()), 401, "invalid_token"},
		{"wrong issuer", "/scim2/Users", good("alice", "iss", "https://evil.test"), 401, "invalid_token"},
		{"wrong audience", "/scim2/Users", good("alice", "aud", "someone-else"), 401, "invalid_token"},
		{"second audience", "/scim2/Users", good("alice", "aud", []any{"x", "other-api"}), 200, ""},
		{"no subject", "/scim2/Users", good("", "sub", nil), 401, "invalid_token"},
		{"signed by another key, same kid", "/scim2/Users", mint(t, jwt.SigningMethodRS256, rsaEvil, "k1", claims("admin")), 401, "invalid_token"},
		{"alg none", "/scim2/Users", mint(t, jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, "k1", claims("admin")), 401, "invalid_token"},
		{"HS256 keyed with the RSA public key", "/scim2/Users", mint(t, jwt.SigningMethodHS256, rsaPubDER, "k1", claims("admin")), 401, "invalid_token"},
		{"alg not allowed (RS512)", "/scim2/Users", mint(t, jwt.SigningMethodRS512, rsaKey, "k1", claims("admin")), 401, "invalid_token"},
		{"crit header", "/scim2/Users", mint(t, jwt.SigningMethodRS256, rsaKey, "k1", claims("admin"), "crit", []any{"exp"}), 401, "invalid_token"},
		{"jku to the attacker's keys", "/scim2/Users", mint(t, jwt.SigningMethodRS256, rsaEvil, "k1", claims("admin"), "jku", evil.srv.URL), 401, "invalid_token"},
		{"embedded jwk", "/scim2/Users", mint(t, jwt.SigningMethodRS256, rsaEvil, "", claims("admin"), "jwk", jwkOf("", &rsaEvil.PublicKey)), 401, "invalid_token"},
		{"alg NONE, upper case", "/scim2/Users", unsigned("NONE", claims("admin")), 401, "invalid_token"},
		{"alg None", "/scim2/Users", unsigned("None", claims("admin")), 401, "invalid_token"},
		{"unknown alg", "/scim2/Users", unsigned("XS256", claims("admin")) + "c2ln", 401, "invalid_token"},
		{"kid path traversal", "/scim2/Users", mint(t, jwt.SigningMethodRS256, rsaEvil, "../../../../etc/passwd", claims("admin")), 401, "invalid_token"},
		{"x5u to the canary", "/scim2/Users", mint(t, jwt.SigningMethodRS256, rsaEvil, "", claims("admin"), "x5u", evil.srv.URL+"/x5u"), 401, "invalid_token"},
		{"x5c with the attacker's certificate", "/scim2/Users", mint(t, jwt.SigningMethodRS256, rsaEvil, "", claims("admin"), "x5c", []any{selfSigned(t, rsaEvil)}), 401, "invalid_token"},
		{"tampered payload", "/scim2/Users", tamper(good("bob")), 401, "invalid_token"},
		{"token over 8 KiB", "/scim2/Users", good("alice", "pad", strings.Repeat("x", 9000)), 401, "invalid_token"},
		{"bad characters", "/scim2/Users", "abc def", 401, ""},
		{"scopes: held", "/scoped", good("bob", "scope", "openid internal_user_mgt_list"), 200, ""},
		{"scopes: scp array", "/scoped", good("bob", "scp", []any{"internal_user_mgt_list"}), 200, ""},
		{"scopes: missing (roles not consulted)", "/scoped", good("alice"), 403, `error="insufficient_scope"`},
		{"opaque token, active", "/scim2/Users", "opaque-alice", 200, ""},
		{"opaque token, inactive", "/scim2/Users", "opaque-inactive", 401, "invalid_token"},
		{"opaque token, unknown", "/scim2/Users", "opaque-nobody", 401, "invalid_token"},
		{"opaque refresh token", "/scim2/Users", "opaque-refresh", 401, "invalid_token"},
		{"opaque token, expired", "/scim2/Users", "opaque-expired", 401, "invalid_token"},
		{"introspection says active \"true\" (a string)", "/scim2/Users", "opaque-string-active", 503, ""},
		{"introspection answers an array", "/scim2/Users", "opaque-array", 503, ""},
		{"introspection answers HTML", "/scim2/Users", "opaque-html", 503, ""},
		{"introspection answer lacks active", "/scim2/Users", "opaque-no-active", 503, ""},
		{"introspection answers 500", "/scim2/Users", "opaque-500", 503, ""},
		{"opaque token with scopes", "/scoped", "opaque-scoped", 200, ""},
	}
	intro.answer("opaque-alice", `{"active":true,"username":"alice","scope":"openid","exp":`+fmt.Sprint(time.Now().Add(time.Hour).Unix())+`}`)
	intro.answer("opaque-inactive", `{"active":false}`)
	intro.answer("opaque-refresh", `{"active":true,"username":"alice","token_type":"refresh_token"}`)
	intro.answer("opaque-expired", `{"active":true,"username":"alice","exp":1000}`)
	intro.answer("opaque-string-active", `{"active":"true","username":"admin"}`)
	intro.answer("opaque-array", `[{"active":true,"username":"admin"}]`)
	intro.answer("opaque-500", "500")
	intro.answer("opaque-html", "<html><body>login</body></html>")
	intro.answer("opaque-no-active", `{"username":"admin"}`)
	intro.answer("opaque-scoped", `{"active":true,"sub":"bob","scope":"internal_user_mgt_list"}`)

	for _, c := range cases {
		before := h.Up.Hits.Load()
		resp, _ := h.Do("GET", c.path, A, testkit.Bearer(c.tok))
		reached := h.Up.Hits.Load() != before
		if resp.StatusCode != c.status {
			t.Errorf("%s: status %d, want %d", c.name, resp.StatusCode, c.status)
		}
		if reached != (c.status == 200) {
			t.Errorf("%s: upstream reached: %v", c.name, reached)
		}
		if got := resp.Header.Get("WWW-Authenticate"); c.auth != "" && !strings.Contains(got, c.auth) {
			t.Errorf("%s: WWW-Authenticate %q, want %q in it", c.name, got, c.auth)
		}
		if c.status == 401 && c.tok != "" {
			// a challenge for each allowed handler; only Bearer's says invalid_token
			got := resp.Header.Values("WWW-Authenticate")
			if len(got) != 2 || !strings.HasPrefix(got[0], "Bearer ") || got[1] != `Basic realm="restricted", charset="UTF-8"` {
				t.Errorf("%s: challenges %q, want Bearer's then Basic's", c.name, got)
			}
		}
	}
	if n := evil.fetches.Load(); n != 0 {
		t.Errorf("the jku URL was fetched %d times", n)
	}

	t.Run("T and T+x never share a cache entry", func(t *testing.T) {
		tok := good("alice")
		h.Expect("T", 200, true, h.Status("GET", "/scim2/Users", A, testkit.Bearer(tok)))
		h.Expect("T+x", 401, false, h.Status("GET", "/scim2/Users", A, testkit.Bearer(tok+"x")))
		h.Expect("T again", 200, true, h.Status("GET", "/scim2/Users", A, testkit.Bearer(tok)))
		intro.answer("opaque-t", `{"active":true,"username":"alice"}`)
		h.Expect("opaque T", 200, true, h.Status("GET", "/scim2/Users", A, testkit.Bearer("opaque-t")))
		h.Expect("opaque T+x", 401, false, h.Status("GET", "/scim2/Users", A, testkit.Bearer("opaque-tx")))
	})
	t.Run("lower-case scheme", func(t *testing.T) {
		h.Expect("bearer", 200, true, h.Status("GET", "/scim2/Users", A, "bearer "+good("alice")))
	})
	t.Run("forwarded identity and cache", func(t *testing.T) {
		tok := good("alice", "scope", "a b")
		for i := 0; i < 3; i++ {
			h.Expect("cached", 200, true, h.Status("GET", "/scim2/Users", A, testkit.Bearer(tok)))
		}
	})
	t.Run("introspection results are cached; errors are not", func(t *testing.T) {
		before := intro.calls.Load()
		for i := 0; i < 3; i++ {
			h.Expect("active", 200, true, h.Status("GET", "/scim2/Users", A, testkit.Bearer("opaque-alice")))
			h.Expect("inactive", 401, false, h.Status("GET", "/scim2/Users", A, testkit.Bearer("opaque-inactive")))
		}
		if n := intro.calls.Load() - before; n != 0 {
			t.Errorf("cached answers made %d calls", n)
		}
		before = intro.calls.Load()
		for i := 0; i < 3; i++ {
			h.Expect("500", 503, false, h.Status("GET", "/scim2/Users", A, testkit.Bearer("opaque-500")))
		}
		if n := intro.calls.Load() - before; n != 3 {
			t.Errorf("failed introspections were cached: %d calls for 3 requests", n)
		}
	})
	t.Run("concurrent look-ups of one token merge", func(t *testing.T) {
		intro.answer("opaque-slow", `{"active":true,"username":"alice"}`)
		intro.delay.Store(int64(200 * time.Millisecond))
		defer intro.delay.Store(0)
		before := intro.calls.Load()
		var wg sync.WaitGroup
		var ok atomic.Int64
		for i := 0; i < 20; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if resp, _ := h.Do("GET", "/scim2/Users", A, testkit.Bearer("opaque-slow")); resp.StatusCode == 200 {
					ok.Add(1)
				}
			}()
		}
		wg.Wait()
		if n := intro.calls.Load() - before; n != 1 || ok.Load() != 20 {
			t.Errorf("20 concurrent requests: %d introspection calls, %d granted", n, ok.Load())
		}
	})
	t.Run("slow introspection fails closed", func(t *testing.T) {
		intro.answer("opaque-late", `{"active":true,"username":"admin"}`)
		intro.delay.Store(int64(time.Second))
		defer intro.delay.Store(0)
		h.Expect("slow", 503, false, h.Status("GET", "/scim2/Users", A, testkit.Bearer("opaque-late")))
	})
	if n := jwks.fetches.Load(); n > 2 {
		t.Errorf("JWKS fetched %d times: the first fetch, then at most one for unknown kids within the cooldown", n)
	}
}

// TestBearerRotation: a new kid on the JWKS endpoint is picked up at once;
// a storm of unknown kids costs one fetch per cooldown.
func TestBearerRotation(t *testing.T) {
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
				kid_cooldown 3s
			}
		}
`, jwks.srv.URL))
	A := "Authorization"
	h.Expect("first key", 200, true, h.Status("GET", "/scim2/Users", A, testkit.Bearer(mint(t, jwt.SigningMethodRS256, rsaKey, "k1", claims("alice")))))
	before := jwks.fetches.Load()
	jwks.set(jwkSet(jwkOf("k1", &rsaKey.PublicKey), jwkOf("k2", &rsaKey2.PublicKey)))
	h.Expect("rotated key", 200, true, h.Status("GET", "/scim2/Users", A, testkit.Bearer(mint(t, jwt.SigningMethodRS256, rsaKey2, "k2", claims("alice")))))
	if n := jwks.fetches.Load() - before; n != 1 {
		t.Errorf("new kid: %d fetches, want 1", n)
	}
	// minted first, so that the 50 requests surely fall inside the cooldown
	// even on a slow machine (or under the race detector)
	var storm []string
	for i := 0; i < 50; i++ {
		storm = append(storm, mint(t, jwt.SigningMethodRS256, rsaEvil, fmt.Sprint("x", i), claims("admin")))
	}
	for _, tok := range storm {
		h.Expect("unknown kid", 401, false, h.Status("GET", "/scim2/Users", A, testkit.Bearer(tok)))
	}
	if n := jwks.fetches.Load() - before; n != 1 {
		t.Errorf("50 unknown kids within the cooldown caused %d more fetches, want 0", n-1)
	}
	time.Sleep(3200 * time.Millisecond)
	h.Expect("unknown kid after the cooldown", 401, false, h.Status("GET", "/scim2/Users", A, testkit.Bearer(mint(t, jwt.SigningMethodRS256, rsaEvil, "y", claims("admin")))))
	if n := jwks.fetches.Load() - before; n != 2 {
		t.Errorf("after the cooldown: %d fetches in all, want 2", n)
	}
}

// unsigned builds a token with the given alg and no signature.
func unsigned(alg string, c jwt.MapClaims) string {
	hdr, _ := json.Marshal(map[string]string{"alg": alg, "typ": "JWT"})
	body, _ := json.Marshal(c)
	return b64(hdr) + "." + b64(body) + "."
}

// selfSigned is a base64 DER certificate for a key, as x5c carries it.
func selfSigned(t *testing.T, key *rsa.PrivateKey) string {
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return base64.StdEncoding.EncodeToString(der)
}

// tamper changes the payload of a signed token to name admin.
func tamper(tok string) string {
	parts := strings.Split(tok, ".")
	payload, _ := base64.RawURLEncoding.DecodeString(parts[1])
	payload = []byte(strings.Replace(string(payload), `"bob"`, `"admin"`, 1))
	parts[1] = base64.RawURLEncoding.EncodeToString(payload)
	return strings.Join(parts, ".")
}

// TestBearerJWKSFailClosed: before keys could ever be fetched, tokens get
// 503; once fetched, an endpoint failure keeps the last good set.
func TestBearerJWKSFailClosed(t *testing.T) {
	testKeys()
	jwks := newJWKS(t, jwkSet(jwkOf("k1", &rsaKey.PublicKey)))
	jwks.fail.Store(true)
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
	tok := mint(t, jwt.SigningMethodRS256, rsaKey, "k1", claims("alice"))
	A := "Authorization"
	h.Expect("endpoint down, no keys yet", 503, false, h.Status("GET", "/scim2/Users", A, testkit.Bearer(tok)))
	jwks.fail.Store(false)
	time.Sleep(150 * time.Millisecond)
	h.Expect("endpoint back", 200, true, h.Status("GET", "/scim2/Users", A, testkit.Bearer(tok)))
	jwks.fail.Store(true)
	time.Sleep(150 * time.Millisecond)
	other := mint(t, jwt.SigningMethodRS256, rsaKey, "k1", claims("admin"))
	h.Expect("endpoint down again, last good set kept", 200, true, h.Status("GET", "/scim2/Users", A, testkit.Bearer(other)))
	h.Expect("unknown kid while down", 401, false, h.Status("GET", "/scim2/Users", A, testkit.Bearer(mint(t, jwt.SigningMethodRS256, rsaKey, "zz", claims("admin")))))
}

// TestBearerSecretAndTyp: an HMAC secret from the environment, roles from
// the token only, and a typ allow-list.
func TestBearerSecretAndTyp(t *testing.T) {
	t.Setenv("RESTAUTH_TEST_SECRET", hmacSecret)
	h := testkit.StartCaddy(t, `
		users USERS
		resources RESOURCES
		bearer {
			roles_from token
			jwt {
				audience any
				secret {env.RESTAUTH_TEST_SECRET}
				algorithms HS256
				typ at+jwt
				roles_claim groups
			}
		}
`)
	A := "Authorization"
	key := []byte(hmacSecret)
	at := func(sub string, extra ...any) string {
		return mint(t, jwt.SigningMethodHS256, key, "", claims(sub, extra...), "typ", "at+jwt")
	}
	h.Expect("HS256 with typ at+jwt", 200, true, h.Status("GET", "/scim2/Users", A, testkit.Bearer(at("carol", "groups", []any{"usermgt"}))))
	h.Expect("typ application/at+jwt", 200, true, h.Status("GET", "/scim2/Users", A,
		testkit.Bearer(mint(t, jwt.SigningMethodHS256, key, "", claims("carol", "groups", "usermgt"), "typ", "application/AT+JWT"))))
	h.Expect("typ JWT refused", 401, false, h.Status("GET", "/scim2/Users", A,
		testkit.Bearer(mint(t, jwt.SigningMethodHS256, key, "", claims("carol", "groups", []any{"usermgt"})))))
	h.Expect("roles_from token: alice's store roles not used", 403, false, h.Status("GET", "/scim2/Users", A, testkit.Bearer(at("alice"))))
	h.Expect("wrong secret", 401, false, h.Status("GET", "/scim2/Users", A,
		testkit.Bearer(mint(t, jwt.SigningMethodHS256, []byte(strings.Repeat("k", 40)), "", claims("carol", "groups", []any{"usermgt"}), "typ", "at+jwt"))))
	h.Expect("Basic not configured", 401, false, h.Status("GET", "/scim2/Users", A, testkit.Basic("alice", "alice-pw")))
}

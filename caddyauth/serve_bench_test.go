package caddyauth_test

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.uber.org/zap"

	"github.com/restauth/caddy-restauth/caddyauth"
	"github.com/restauth/caddy-restauth/internal/testkit"
)

// provisionHandler loads a rest_auth handler from its JSON config as Caddy
// does (every guest module loaded and provisioned), without a server; it
// is cleaned up with the test.
func provisionHandler(t testing.TB, cfg string) *caddyauth.Handler {
	t.Helper()
	ctx, cancel := caddy.NewContext(caddy.Context{Context: context.Background()})
	t.Cleanup(cancel)
	mod, err := ctx.LoadModuleByID("http.handlers.rest_auth", json.RawMessage(cfg))
	if err != nil {
		t.Fatal(err)
	}
	h := mod.(*caddyauth.Handler)
	caddyauth.SetLogger(h, zap.NewNop())
	return h
}

// benchHandler is a rest_auth handler with the WSO2 313-rule list, one
// rule of its own and the test users, with the given authenticators.
func benchHandler(t testing.TB, authenticators string) *caddyauth.Handler {
	return benchHandlerWith(t, "bench", `"log_denials":"off"`, authenticators)
}

// benchHandlerWith is benchHandler with a name and more settings.
func benchHandlerWith(t testing.TB, name, settings, authenticators string) *caddyauth.Handler {
	t.Helper()
	users := testkit.WriteFile(t, t.TempDir(), "users.toml", testkit.UsersTOML())
	corpus, _ := filepath.Abs("../permissions/testdata/corpus/wso2-is-access-control.toml")
	return provisionHandler(t, fmt.Sprintf(`{"name":%q,%s,"users":[%q],"resources":[%q],
		"rules":[{"path":"/api/identity/user/v1.0/me","methods":["GET"]}],"authenticators":[%s]}`, name, settings, users, corpus, authenticators))
}

// benchRequest makes a request the way Caddy hands one to a handler: with
// a replacer and the vars in its context.
func benchRequest(path, auth string) *http.Request {
	r := httptest.NewRequest("GET", path, nil)
	if auth != "" {
		r.Header.Set("Authorization", auth)
	}
	r.Header.Set("User-Agent", "wrk")
	r.Header.Set("Accept", "*/*")
	return freshContext(r)
}

type nopNext struct{}

func (nopNext) ServeHTTP(http.ResponseWriter, *http.Request) error { return nil }

// BenchmarkServeHTTP measures the handler's own cost per request: cached
// Basic credentials granted, and a 401 without credentials. Each request
// gets a fresh replacer and vars, as Caddy gives it (a shared replacer
// would collect a provider per iteration); "setup" is that alone, to
// subtract.
func BenchmarkServeHTTP(b *testing.B) {
	h := benchHandler(b, `{"handler":"basic","throttle_failures":-1}`)
	auth := testkit.Basic("alice", "alice-pw")
	b.Run("setup", func(b *testing.B) {
		r := benchRequest("/api/identity/user/v1.0/me", auth)
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			_ = freshContext(r)
		}
	})
	for _, c := range []struct {
		name, auth string
	}{{"basic-cached", auth}, {"401-no-credentials", ""}} {
		r := benchRequest("/api/identity/user/v1.0/me", c.auth)
		w := httptest.NewRecorder()
		if err := h.ServeHTTP(w, r, nopNext{}); err != nil {
			b.Fatal(err)
		}
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for i := 0; i < b.N; i++ {
				w := discardWriter{h: http.Header{}}
				if err := h.ServeHTTP(&w, freshContext(r), nopNext{}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// freshContext is r with a new replacer and vars, as Caddy makes them for
// each request.
func freshContext(r *http.Request) *http.Request {
	ctx := context.WithValue(r.Context(), caddy.ReplacerCtxKey, caddy.NewReplacer())
	ctx = context.WithValue(ctx, caddyhttp.VarsCtxKey, map[string]any{caddyhttp.ClientIPVarKey: "127.0.0.1"})
	return r.WithContext(ctx)
}

type discardWriter struct {
	h      http.Header
	status int
}

func (d *discardWriter) Header() http.Header         { return d.h }
func (d *discardWriter) Write(p []byte) (int, error) { return len(p), nil }
func (d *discardWriter) WriteHeader(s int)           { d.status = s }

// BenchmarkDenials measures the three floods issue 15 is about, through
// the whole handler on the 313-rule list: no credentials (401), a new
// RS256 token with a bad signature on every request (the signature is
// checked: 401), and a new wrong password for a real user on every
// request (hashed until the throttle holds, then 429). Denial logging is
// sampled, as by default.
func BenchmarkDenials(b *testing.B) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		b.Fatal(err)
	}
	der, _ := x509.MarshalPKIXPublicKey(&key.PublicKey)
	pub := testkit.WriteFile(b, b.TempDir(), "rsa.pem", string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})))
	h := benchHandlerWith(b, "denials", `"log_denials":"sampled"`, fmt.Sprintf(
		`{"handler":"bearer","jwt":[{"issuers":["bench"],"audiences":["bench"],"key_file":%q,"algorithms":["RS256"]}]},{"handler":"basic"}`, pub))
	caddyauth.SetLogger(h, zap.NewNop())
	// a token's first two parts, new each time, and a signature of the
	// right length that is not the key's
	head := base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"RS256","typ":"JWT"}`))
	// below the modulus (first byte 1), so the whole exponentiation runs
	raw := make([]byte, 256)
	rand.Read(raw)
	raw[0] = 1
	badSig := base64.RawURLEncoding.EncodeToString(raw)
	exp := time.Now().Add(time.Hour).Unix()
	for _, c := range []struct {
		name string
		auth func(i int) string
		want int
	}{
		{"401-no-credentials", func(int) string { return "" }, 401},
		{"bad-signature-rs256", func(i int) string {
			claims := fmt.Sprintf(`{"iss":"bench","aud":"bench","sub":"alice","exp":%d,"jti":"%d"}`, exp, i)
			return "Bearer " + head + "." + base64.RawURLEncoding.EncodeToString([]byte(claims)) + "." + badSig
		}, 401},
		{"throttled-wrong-password", func(i int) string { return testkit.Basic("alice", "wrong-"+strconv.Itoa(i)) }, 429},
	} {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for i := 0; i < b.N; i++ {
				w := discardWriter{h: http.Header{}}
				if err := h.ServeHTTP(&w, benchRequest("/api/identity/user/v1.0/me", c.auth(i)), nopNext{}); err != nil {
					b.Fatal(err)
				}
				if w.status != c.want && i > 20 {
					b.Fatalf("request %d: %d, want %d", i, w.status, c.want)
				}
			}
		})
	}
}

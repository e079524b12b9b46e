package caddyauth

import (
	"context"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.uber.org/zap"

	"github.com/restauth/caddy-restauth/permissions"
)

// benchHandler is a rest_auth handler set up as Provision would, with the
// WSO2 313-rule list and one user, for measuring ServeHTTP alone.
func benchHandler(b testing.TB, auth ...Authenticator) (*Handler, string) {
	s, basicAuth := benchStore(b)
	res, err := permissions.LoadResources("../permissions/testdata/corpus/wso2-is-access-control.toml")
	if err != nil {
		b.Fatal(err)
	}
	rules := append([]permissions.Rule{{Context: "/api/identity/user/v1.0/me", Methods: []string{"GET"}, Secured: true, Source: "bench"}}, res.Rules...)
	s2, err := newStore(rules, s.Users, permissions.Options{})
	if err != nil {
		b.Fatal(err)
	}
	if len(auth) == 0 {
		auth = []Authenticator{&Basic{Realm: "r", ThrottleFailures: -1}}
	}
	h := &Handler{logger: zap.NewNop(), store: new(atomic.Pointer[Store]), authenticators: auth}
	for _, a := range auth {
		h.authNames = append(h.authNames, a.Name())
	}
	h.metrics = newHandlerMetrics("bench", h.authNames)
	h.store.Store(s2)
	return h, basicAuth
}

// request makes a request the way Caddy hands one to a handler: with a
// replacer and the vars in its context.
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
	h, auth := benchHandler(b)
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

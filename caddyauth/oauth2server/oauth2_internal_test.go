package oauth2server

import (
	"context"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/certmagic"
	"github.com/restauth/caddy-restauth/caddyauth"
	"github.com/restauth/caddy-restauth/caddyauth/bearer"
	"github.com/restauth/caddy-restauth/caddyauth/filestore"
	"github.com/restauth/caddy-restauth/permissions"
	"go.uber.org/zap"
)

// Two issuers (as two Caddy instances would have) on one storage folder
// share keys and revocations; rotation keeps the old key published while
// its tokens can live, and then drops it.
func TestIssuerSharedStorage(t *testing.T) {
	st := &certmagic.FileStorage{Path: t.TempDir()}
	a, err := newOAuthIssuer(st, zap.NewNop(), "https://id.test", "ES256", []string{"api"}, time.Hour, 720*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Destruct()
	b, err := newOAuthIssuer(st, zap.NewNop(), "https://id.test", "ES256", []string{"api"}, time.Hour, 720*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Destruct()
	tok, _, err := a.sign("alice", "app", "x", "", false, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.verify(tok); err != nil {
		t.Fatalf("the other instance refused the token: %v", err)
	}
	c, _ := a.verify(tok)
	if err := a.revoke("jti", c.ID, time.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	b.syncRevocations() // what b's loop does every 30 s
	if _, err := b.verify(tok); err == nil {
		t.Fatal("a revocation made on one instance is not seen by the other")
	}

	// rotation: a new key signs, the old one still verifies; after the keep
	// time the old one is gone
	ctx := context.Background()
	keys, err := syncKeys(ctx, st, a.prefix, "ES256", time.Nanosecond, time.Hour)
	if err != nil || len(keys) != 2 || keys[1].Retired.IsZero() {
		t.Fatalf("after rotation: %d keys, %v", len(keys), err)
	}
	keys, err = syncKeys(ctx, st, a.prefix, "ES256", time.Hour, 0)
	if err != nil || len(keys) != 1 {
		t.Fatalf("after the keep time: %d keys, %v", len(keys), err)
	}
}

// BenchmarkTokenService measures issuing access tokens (client
// credentials, without the client's secret check), verifying them, and
// validating them through bearer's builtin mode with and without its cache.
func BenchmarkTokenService(b *testing.B) {
	st := &certmagic.FileStorage{Path: b.TempDir()}
	o, err := newOAuthIssuer(st, zap.NewNop(), "https://id.test", "ES256", []string{"api"}, time.Hour, 720*time.Hour)
	if err != nil {
		b.Fatal(err)
	}
	defer o.Destruct()
	b.Run("issue", func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			if _, _, err := o.sign("svc", "svc", "a b", "", true, nil); err != nil {
				b.Fatal(err)
			}
		}
	})
	tok, _, _ := o.sign("alice", "app", "a b", "", false, nil)
	b.Run("verify", func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			if _, err := o.Verify(tok); err != nil {
				b.Fatal(err)
			}
		}
	})
	// through bearer's builtin mode, as rest_auth checks the tokens
	defer caddyauth.RegisterIssuer("https://id.test", o)()
	ctx, cancel := caddy.NewContext(caddy.Context{Context: context.Background()})
	defer cancel()
	s, err := caddyauth.NewSnapshot(nil, &permissions.Users{}, permissions.Options{}, &filestore.FileStore{})
	if err != nil {
		b.Fatal(err)
	}
	req := httptest.NewRequest("GET", "/", nil)
	req.Header.Set("Authorization", "Bearer "+tok)
	for _, c := range []struct {
		name  string
		cache int
	}{{"validate-cached", 10}, {"validate-uncached", -1}} {
		bb := &bearer.Bearer{Builtin: true, CacheSize: c.cache}
		if err := bb.Provision(ctx); err != nil {
			b.Fatal(err)
		}
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for i := 0; i < b.N; i++ {
				if _, err := bb.Authenticate(req, s); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BuiltinIssuerLive is for the external tests: whether an issuer's state
// is in memory (in the pool that shares it across reloads).
func BuiltinIssuerLive(iss string) bool {
	live := false
	oauthPool.Range(func(_, v any) bool {
		if o, ok := v.(*oauthIssuer); ok && o.issuer == iss {
			live = true
		}
		return !live
	})
	return live
}

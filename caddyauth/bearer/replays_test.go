package bearer

import (
	"context"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"

	"github.com/restauth/caddy-restauth/caddyauth/dpop"
	"github.com/restauth/caddy-restauth/caddyauth/redisstore"
	"github.com/restauth/caddy-restauth/caddyauth/throttle"
	"github.com/restauth/caddy-restauth/internal/redistest"
)

// TestFleetReplays: two instances' replay caches on one real Redis: a
// proof seen by one is a replay on the other; with Redis gone, each still
// refuses its own replays.
func TestFleetReplays(t *testing.T) {
	srv := redistest.Start(t)
	instance := func() *storeReplays {
		ctx, cancel := caddy.NewContext(caddy.Context{Context: context.Background()})
		t.Cleanup(cancel)
		rs := &redisstore.RedisStore{Address: srv.Addr, KeyPrefix: "test:" + t.Name() + ":"}
		if err := rs.Provision(ctx); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = rs.Cleanup() })
		return &storeReplays{store: rs, local: dpop.NewMemoryReplays(100), window: 2 * time.Minute}
	}
	a, b := instance(), instance()
	until := time.Now().Add(time.Minute)
	if seen, err := a.Seen("key", "j1", until); seen || err != nil {
		t.Fatalf("first use: %v %v", seen, err)
	}
	if seen, _ := b.Seen("key", "j1", until); !seen {
		t.Error("a proof used on instance a was not a replay on b")
	}
	if seen, _ := b.Seen("key", "j2", until); seen {
		t.Error("a new jti was called a replay")
	}
	srv.Stop()
	if seen, err := a.Seen("key", "j3", until); seen || err != nil {
		t.Errorf("Redis down, a new proof: %v %v", seen, err)
	}
	if seen, _ := a.Seen("key", "j3", until); !seen {
		t.Error("Redis down: the instance forgot its own proof")
	}
}

// TestFleetBadTokens: forged tokens counted on one instance block the
// address on another through the shared store, under keys of their own
// (Basic's per-address counts on the same store are not touched).
func TestFleetBadTokens(t *testing.T) {
	srv := redistest.Start(t)
	ctx, cancel := caddy.NewContext(caddy.Context{Context: context.Background()})
	t.Cleanup(cancel)
	rs := &redisstore.RedisStore{Address: srv.Addr, KeyPrefix: "test:" + t.Name() + ":"}
	if err := rs.Provision(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = rs.Cleanup() })
	instance := func() *Bearer {
		return &Bearer{limits: throttle.PerAddress("bearer", 3, 7*time.Minute, 64).WithStore(rs, nil), refused: new(refusedCache)}
	}
	a, b := instance(), instance()
	r := httptest.NewRequest("GET", "/", nil)
	r = r.WithContext(context.WithValue(r.Context(), caddyhttp.VarsCtxKey, map[string]any{caddyhttp.ClientIPVarKey: "192.0.2.9"}))
	for i := range 3 {
		a.refusal(r, [32]byte{byte(i)}, denyForged, time.Now(), true)
	}
	if w := b.limits.WaitShared(context.Background(), "", "192.0.2.9"); w <= 0 {
		t.Error("three forged tokens on instance a did not block the address on b")
	}
	if w := b.limits.WaitShared(context.Background(), "", "192.0.2.10"); w != 0 {
		t.Error("another address is blocked")
	}
	basic := throttle.New(10, 3, 10, 7*time.Minute, 64).WithStore(rs, nil)
	if w := basic.WaitShared(context.Background(), "alice", "192.0.2.9"); w != 0 {
		t.Errorf("Basic's limits on the same store see the forged tokens: %v", w)
	}
}

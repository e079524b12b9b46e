package bearer

import (
	"context"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"

	"github.com/restauth/caddy-restauth/caddyauth/dpop"
	"github.com/restauth/caddy-restauth/caddyauth/redisstore"
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

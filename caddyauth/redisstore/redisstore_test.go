package redisstore

import (
	"context"
	"errors"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/redis/go-redis/v9"

	"github.com/restauth/caddy-restauth/caddyauth"
	"github.com/restauth/caddy-restauth/internal/redistest"
)

// newStore provisions a store on a server, as Caddy would.
func newStore(t testing.TB, addr string, mod func(*RedisStore)) *RedisStore {
	t.Helper()
	r := &RedisStore{Address: addr, KeyPrefix: "test:" + t.Name() + ":"}
	if mod != nil {
		mod(r)
	}
	ctx, cancel := caddy.NewContext(caddy.Context{Context: context.Background()})
	t.Cleanup(cancel)
	if err := r.Provision(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = r.Cleanup() })
	return r
}

// TestCounts: a window starts at the first failure and its count goes up
// by one per Add; Counts reads without adding; Redis holds no name or
// address in clear.
func TestCounts(t *testing.T) {
	srv := redistest.Start(t)
	r := newStore(t, srv.Addr, nil)
	ctx := context.Background()
	keys := []caddyauth.CountKey{{Key: "pair\x00alice\x00192.0.2.7", Window: time.Minute}, {Key: "name\x00alice", Window: 2 * time.Second}}
	for i := 1; i <= 3; i++ {
		got, err := r.Add(ctx, keys)
		if err != nil {
			t.Fatal(err)
		}
		if got[0].N != int64(i) || got[1].N != int64(i) {
			t.Fatalf("add %d: %+v", i, got)
		}
		if got[0].Left <= 50*time.Second || got[0].Left > time.Minute || got[1].Left > 2*time.Second {
			t.Fatalf("add %d: windows left %v %v", i, got[0].Left, got[1].Left)
		}
	}
	got, err := r.Counts(ctx, append(keys, caddyauth.CountKey{Key: "name\x00nobody", Window: time.Minute}))
	if err != nil || got[0].N != 3 || got[1].N != 3 || got[2].N != 0 {
		t.Fatalf("counts: %+v %v", got, err)
	}
	time.Sleep(2100 * time.Millisecond)
	if got, _ := r.Counts(ctx, keys); got[0].N != 3 || got[1].N != 0 {
		t.Fatalf("after the short window: %+v", got)
	}
	c := redis.NewClient(&redis.Options{Addr: srv.Addr})
	defer c.Close()
	all, err := c.Keys(ctx, "*").Result()
	if err != nil || len(all) == 0 {
		t.Fatalf("keys: %v %v", all, err)
	}
	for _, k := range all {
		if strings.Contains(k, "alice") || strings.Contains(k, "192.0.2") {
			t.Errorf("a key in clear: %q", k)
		}
	}
	// another hash key names other counters
	other := newStore(t, srv.Addr, func(s *RedisStore) { s.HashKey = "fleet-secret" })
	if got, _ := other.Counts(ctx, keys); got[0].N != 0 {
		t.Errorf("another hash key reads the same counter: %+v", got)
	}
}

// TestDown: a Redis that is down costs a call its timeout, then calls fail
// at once for a second; it is used again when it is back.
func TestDown(t *testing.T) {
	srv := redistest.Start(t)
	r := newStore(t, srv.Addr, func(s *RedisStore) { s.Timeout = caddy.Duration(50 * time.Millisecond) })
	ctx := context.Background()
	keys := []caddyauth.CountKey{{Key: "name\x00bob", Window: time.Minute}}
	if _, err := r.Add(ctx, keys); err != nil {
		t.Fatal(err)
	}
	srv.Stop()
	start := time.Now()
	if _, err := r.Add(ctx, keys); err == nil {
		t.Fatal("no error with Redis down")
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("a call to a stopped Redis took %v", d)
	}
	start = time.Now()
	if _, err := r.Counts(ctx, keys); !errors.Is(err, errSkipped) {
		t.Errorf("within the second after: %v, want skipped", err)
	}
	if d := time.Since(start); d > 10*time.Millisecond {
		t.Errorf("a skipped call took %v", d)
	}
	srv.Restart()
	time.Sleep(backoff + 50*time.Millisecond)
	if got, err := r.Add(ctx, keys); err != nil || got[0].N != 1 {
		t.Errorf("after the restart (nothing persisted): %+v %v", got, err)
	}
}

// TestSlow: a Redis slower than the timeout is an error at the timeout.
func TestSlow(t *testing.T) {
	// a server that accepts and never answers
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			defer c.Close()
		}
	}()
	r := newStore(t, l.Addr().String(), func(s *RedisStore) { s.Timeout = caddy.Duration(50 * time.Millisecond) })
	start := time.Now()
	if _, err := r.Add(context.Background(), []caddyauth.CountKey{{Key: "x", Window: time.Minute}}); err == nil {
		t.Fatal("no error from a silent server")
	}
	if d := time.Since(start); d > 300*time.Millisecond {
		t.Errorf("a silent server held the call %v", d)
	}
}

// TestPubSub: messages reach subscribers, also after Redis restarts.
func TestPubSub(t *testing.T) {
	srv := redistest.Start(t)
	r := newStore(t, srv.Addr, nil)
	got := make(chan string, 10)
	cancel := r.Subscribe("ch", func(m []byte) { got <- string(m) })
	defer cancel()
	publishUntil := func(msg string) {
		t.Helper()
		deadline := time.Now().Add(15 * time.Second)
		for time.Now().Before(deadline) {
			_ = r.Publish(context.Background(), "ch", []byte(msg))
			select {
			case m := <-got:
				if m == msg {
					return
				}
			case <-time.After(200 * time.Millisecond):
			}
		}
		t.Fatalf("%q never arrived", msg)
	}
	publishUntil("one")
	srv.Stop()
	srv.Restart()
	publishUntil("two")
}

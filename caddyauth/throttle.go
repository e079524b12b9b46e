package caddyauth

import (
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"time"
)

// throttle counts failures per key in fixed windows: once a key has failed
// max times in a window, it is blocked until the window ends.
type throttle struct {
	n       atomic.Int64 // entries, read without the lock
	mu      sync.Mutex
	max     int
	window  time.Duration
	limit   int // most keys tracked
	entries map[string]*tentry
	now     func() time.Time
}

type tentry struct {
	start time.Time
	fails int
}

func newThrottle(max int, window time.Duration, limit int) *throttle {
	return &throttle{max: max, window: window, limit: limit, entries: map[string]*tentry{}, now: time.Now}
}

// active reports whether any key has failures on record.
func (t *throttle) active() bool { return t.n.Load() > 0 }

// blocked returns how long key must still wait, or 0.
func (t *throttle) blocked(key string) time.Duration {
	t.mu.Lock()
	defer t.mu.Unlock()
	e, ok := t.entries[key]
	if !ok {
		return 0
	}
	left := t.window - t.now().Sub(e.start)
	if left <= 0 {
		delete(t.entries, key)
		t.n.Store(int64(len(t.entries)))
		return 0
	}
	if e.fails >= t.max {
		return left
	}
	return 0
}

// fail records a failure for key.
func (t *throttle) fail(key string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	now := t.now()
	e, ok := t.entries[key]
	if !ok || now.Sub(e.start) >= t.window {
		if !ok && len(t.entries) >= t.limit {
			t.prune(now)
		}
		t.entries[key] = &tentry{start: now, fails: 1}
		t.n.Store(int64(len(t.entries)))
		return
	}
	e.fails++
}

// prune drops expired entries; if none expired, it drops the oldest half's
// worth in map order, so memory stays bounded under a flood of new keys.
func (t *throttle) prune(now time.Time) {
	for k, e := range t.entries {
		if now.Sub(e.start) >= t.window {
			delete(t.entries, k)
		}
	}
	for k := range t.entries {
		if len(t.entries) < t.limit/2 {
			break
		}
		delete(t.entries, k)
	}
	t.n.Store(int64(len(t.entries)))
}

// throttles are kept per setting for the life of the process, so a config
// or policy reload does not forget recent failures (an attacker cannot
// reset the count by waiting for a reload).
var throttles struct {
	sync.Mutex
	m map[string]*throttle
}

func sharedThrottle(kind string, failures int, window time.Duration) *throttle {
	throttles.Lock()
	defer throttles.Unlock()
	key := fmt.Sprintf("%s/%d/%s", kind, failures, window)
	if t, ok := throttles.m[key]; ok {
		return t
	}
	if throttles.m == nil {
		throttles.m = map[string]*throttle{}
	}
	t := newThrottle(failures, window, 100000)
	throttles.m[key] = t
	return t
}

// Password hashing runs at most hashSlots at a time in the process. A
// request that finds no free slot within hashWait gets 503 with
// Retry-After at once, so a flood of new wrong passwords costs the attacker
// more than it costs everyone else: cached credentials, tokens and
// certificates never wait for a slot.
var (
	hashSlots = make(chan struct{}, max(2, 2*runtime.GOMAXPROCS(0)))
	hashWait  = 100 * time.Millisecond
)

func acquireHashSlot() (release func(), ok bool) {
	select {
	case hashSlots <- struct{}{}:
		return releaseHashSlot, true
	default:
	}
	t := time.NewTimer(hashWait)
	defer t.Stop()
	select {
	case hashSlots <- struct{}{}:
		return releaseHashSlot, true
	case <-t.C:
		return nil, false
	}
}

func releaseHashSlot() { <-hashSlots }

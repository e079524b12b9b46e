// Package throttle counts failed secret checks and says when a name or a
// client address must wait: the brute-force limits of Basic, of the token
// service's password grant and of its client authentication. Counters are
// shared in the process per kind and window, so every path that checks a
// user's password counts on the same ones, and they outlive config
// reloads. With a throttle store (WithStore), a fleet of instances also
// shares its counts.
package throttle

import (
	"context"
	"fmt"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/restauth/caddy-restauth/caddyauth"
)

// throttle counts failures per key in fixed windows: a key that has failed
// max times in its window is blocked until the window ends. max is the
// caller's: several callers with different limits may share one counter.
type throttle struct {
	n       atomic.Int64 // entries, read without the lock
	mu      sync.Mutex
	window  time.Duration
	limit   int // keys kept before the table is pruned
	entries map[string]*tentry
	now     func() time.Time
}

type tentry struct {
	start time.Time
	fails int
	max   int // the limit the last failure was counted against
}

func (e *tentry) blocked() bool { return e.fails >= e.max }

func newThrottle(window time.Duration, limit int) *throttle {
	return &throttle{window: window, limit: limit, entries: map[string]*tentry{}, now: time.Now}
}

// active reports whether any key has failures on record.
func (t *throttle) active() bool { return t.n.Load() > 0 }

// blocked returns how long key must still wait under a limit of max
// failures, or 0.
func (t *throttle) blocked(key string, max int) time.Duration {
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
	if e.fails >= max {
		return left
	}
	return 0
}

// fail records a failure for key, counted against a limit of max.
func (t *throttle) fail(key string, max int) {
	t.mu.Lock()
	defer t.mu.Unlock()
	now := t.now()
	e, ok := t.entries[key]
	if !ok || now.Sub(e.start) >= t.window {
		if !ok && len(t.entries) >= t.limit {
			t.prune(now)
		}
		t.entries[key] = &tentry{start: now, fails: 1, max: max}
		t.n.Store(int64(len(t.entries)))
		return
	}
	e.fails++
	e.max = max
}

// hold blocks key until left has passed, as a shared store says it is
// (another instance counted the failures): the local counter then refuses
// at once, without asking the store again.
func (t *throttle) hold(key string, max int, left time.Duration) {
	if left <= 0 {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	now := t.now()
	start := now.Add(left - t.window)
	if e, ok := t.entries[key]; ok && now.Sub(e.start) < t.window {
		if e.fails < max {
			e.fails, e.max = max, max
		}
		if start.After(e.start) {
			e.start = start
		}
		return
	}
	if len(t.entries) >= t.limit {
		t.prune(now)
	}
	t.entries[key] = &tentry{start: start, fails: max, max: max}
	t.n.Store(int64(len(t.entries)))
}

// prune drops expired entries; if that is not enough, it drops entries
// that are not blocked, in map order, down to half the limit. A blocked
// key is never dropped before its window ends, so a flood of new keys
// cannot free a blocked one; the table may grow past its limit with
// blocked keys only, and each of those took max failed password checks.
func (t *throttle) prune(now time.Time) {
	for k, e := range t.entries {
		if now.Sub(e.start) >= t.window {
			delete(t.entries, k)
		}
	}
	for k, e := range t.entries {
		if len(t.entries) < t.limit/2 {
			break
		}
		if !e.blocked() {
			delete(t.entries, k)
		}
	}
	t.n.Store(int64(len(t.entries)))
}

// throttles are kept per kind and window for the life of the process, so
// a config or policy reload does not forget recent failures (an attacker
// cannot reset the count by waiting for a reload), and every limit of one
// kind and window counts the same failures: Basic and the token service's
// password grant share their counts for a user.
var throttles struct {
	sync.Mutex
	m map[string]*throttle
}

// throttleLimit is how many keys a counter keeps before pruning.
const throttleLimit = 100000

func sharedThrottle(kind string, window time.Duration) *throttle {
	throttles.Lock()
	defer throttles.Unlock()
	key := fmt.Sprintf("%s/%s", kind, window)
	if t, ok := throttles.m[key]; ok {
		return t
	}
	if throttles.m == nil {
		throttles.m = map[string]*throttle{}
	}
	t := newThrottle(window, throttleLimit)
	throttles.m[key] = t
	return t
}

// Limits are the brute-force limits of a secret check: failures allowed
// per (name, client address), per client address across names (spraying),
// and per name across addresses (a distributed guess), in one window. A
// name is a user name, or ClientName of a client id (client ids and user
// names never share a count). A nil *Limits limits nothing.
type Limits struct {
	pairMax, addrMax, nameMax int // 0: that limit is off
	v6bits                    int // IPv6 addresses count per this prefix
	pair, addr, name          *throttle
	shared                    *sharedStore // counts a fleet shares, or nil
	kind                      string       // "" for New's limits, ":<kind>" for PerAddress's (their keys apart)
}

// New makes limits; 0 or less turns one off, and all off gives nil. IPv6
// clients are counted per v6bits prefix (a subscriber usually has a /64,
// and would otherwise get a fresh count for every address in it).
func New(pair, addr, name int, window time.Duration, v6bits int) *Limits {
	l := &Limits{pairMax: max(pair, 0), addrMax: max(addr, 0), nameMax: max(name, 0), v6bits: v6bits}
	if l.pairMax > 0 {
		l.pair = sharedThrottle("pair", window)
	}
	if l.addrMax > 0 {
		l.addr = sharedThrottle("addr", window)
	}
	if l.nameMax > 0 {
		l.name = sharedThrottle("name", window)
	}
	if l.pair == nil && l.addr == nil && l.name == nil {
		return nil
	}
	return l
}

// PerAddress makes limits that count failures per client address only,
// under a kind of their own (a kind's counts are not mixed with another
// kind's, nor with New's), such as bearer's refused tokens. max 0 or less
// gives nil.
func PerAddress(kind string, max int, window time.Duration, v6bits int) *Limits {
	if max <= 0 {
		return nil
	}
	return &Limits{addrMax: max, v6bits: v6bits, addr: sharedThrottle("addr:"+kind, window), kind: ":" + kind}
}

// Active is false while no counter holds any failure, which is the usual
// case, so a good request builds no keys.
func (l *Limits) Active() bool {
	return l != nil && (l.pair != nil && l.pair.active() || l.addr != nil && l.addr.active() || l.name != nil && l.name.active())
}

// Wait returns how long a name from an address must wait: the longest of
// its three blocks, or 0.
func (l *Limits) Wait(name, ip string) time.Duration {
	if l == nil {
		return 0
	}
	a := l.addrKey(ip)
	var w time.Duration
	if l.pair != nil {
		w = max(w, l.pair.blocked(name+"\x00"+a, l.pairMax))
	}
	if l.addr != nil {
		w = max(w, l.addr.blocked(a, l.addrMax))
	}
	if l.name != nil {
		w = max(w, l.name.blocked(name, l.nameMax))
	}
	return w
}

// Fail counts a failure for a name from an address.
func (l *Limits) Fail(name, ip string) {
	if l == nil {
		return
	}
	a := l.addrKey(ip)
	if l.pair != nil {
		l.pair.fail(name+"\x00"+a, l.pairMax)
	}
	if l.addr != nil {
		l.addr.fail(a, l.addrMax)
	}
	if l.name != nil {
		l.name.fail(name, l.nameMax)
	}
	if l.shared != nil {
		l.failShared(name, a)
	}
}

// addrKey is the counted form of a client address: an IPv6 address's
// prefix, an IPv4 address as it is.
func (l *Limits) addrKey(ip string) string {
	a, err := netip.ParseAddr(ip)
	if err != nil || !a.Is6() || a.Is4In6() || l.v6bits <= 0 || l.v6bits >= 128 {
		return ip
	}
	p, err := a.WithZone("").Prefix(l.v6bits)
	if err != nil {
		return ip
	}
	return p.String()
}

// ClientName is the name a client id is counted under.
func ClientName(id string) string { return "client\x00" + id }

// MaxName is the longest user name or client id looked at; longer ones are
// refused before they are hashed or counted.
const MaxName = 256

// WithStore returns limits that also count on a store a fleet shares
// (Redis): a failure is added there, and before a credential is checked
// the shared counts are asked (WaitShared). The local counters go on
// counting, and decide alone while the store cannot answer. nil limits
// stay nil.
func (l *Limits) WithStore(store caddyauth.ThrottleStore, logger *zap.Logger) *Limits {
	if l == nil || store == nil {
		return l
	}
	cp := *l
	cp.shared = &sharedStore{store: store, logger: logger}
	return &cp
}

// Shared reports whether the limits count on a fleet's store.
func (l *Limits) Shared() bool { return l != nil && l.shared != nil }

// sharedStore is a fleet's store as the limits use it: its answers, and
// whether it answers (logged once per change, and counted).
type sharedStore struct {
	store  caddyauth.ThrottleStore
	logger *zap.Logger
	down   atomic.Bool
}

// counters are the limits' counters with the keys a name and address
// count under, in the order the store is asked.
func (l *Limits) counters(name, a string) (ts []*throttle, maxes []int, local []string, keys []caddyauth.CountKey) {
	add := func(t *throttle, max int, kind, key string) {
		if t == nil {
			return
		}
		ts, maxes, local = append(ts, t), append(maxes, max), append(local, key)
		keys = append(keys, caddyauth.CountKey{Key: kind + "\x00" + key, Window: t.window})
	}
	add(l.pair, l.pairMax, "pair"+l.kind, name+"\x00"+a)
	add(l.addr, l.addrMax, "addr"+l.kind, a)
	add(l.name, l.nameMax, "name"+l.kind, name)
	return
}

// WaitShared asks the fleet's store how long a name from an address must
// wait; call it before a check that costs something (a hash, a round trip
// to a directory), after Wait. A block the store reports is held locally
// too. 0 when the store has none, or cannot answer (the local counts
// stay in charge).
func (l *Limits) WaitShared(ctx context.Context, name, ip string) time.Duration {
	if !l.Shared() {
		return 0
	}
	ts, maxes, local, keys := l.counters(name, l.addrKey(ip))
	counts, err := l.shared.store.Counts(ctx, keys)
	if !l.shared.observe(err) || len(counts) != len(keys) {
		return 0
	}
	var w time.Duration
	for i, c := range counts {
		if c.N >= int64(maxes[i]) && c.Left > 0 {
			ts[i].hold(local[i], maxes[i], c.Left)
			w = max(w, c.Left)
		}
	}
	return w
}

// failShared adds a failure to the fleet's counts, and holds locally the
// blocks it reaches.
func (l *Limits) failShared(name, a string) {
	ts, maxes, local, keys := l.counters(name, a)
	counts, err := l.shared.store.Add(context.Background(), keys)
	if !l.shared.observe(err) || len(counts) != len(keys) {
		return
	}
	for i, c := range counts {
		if c.N >= int64(maxes[i]) {
			ts[i].hold(local[i], maxes[i], c.Left)
		}
	}
}

// observe counts a store's answer, logs when it stops or starts
// answering, and reports whether it answered.
func (s *sharedStore) observe(err error) bool {
	if err == nil {
		storeCalls.WithLabelValues("ok").Inc()
		if s.down.CompareAndSwap(true, false) && s.logger != nil {
			s.logger.Info("throttle store answers again; failures count across the fleet")
		}
		return true
	}
	storeCalls.WithLabelValues("error").Inc()
	if s.down.CompareAndSwap(false, true) && s.logger != nil {
		s.logger.Error("throttle store unavailable; failures count on this instance only until it answers", zap.Error(err))
	}
	return false
}

// storeCalls counts the calls to throttle stores by result.
var storeCalls = prometheus.NewCounterVec(prometheus.CounterOpts{
	Namespace: "caddy", Subsystem: "rest_auth", Name: "throttle_store_calls_total",
	Help: "Calls to a shared throttle store (Redis), by result (ok, error: the instance counted alone).",
}, []string{"result"})

// Collectors are the package's metrics, for caddyauth.RegisterCollectors.
func Collectors() []prometheus.Collector { return []prometheus.Collector{storeCalls} }

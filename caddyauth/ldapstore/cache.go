package ldapstore

import (
	"sync"
	"sync/atomic"
	"time"
)

// A ttlCache is a bounded map whose entries expire. Reads take no lock
// (a sync.Map); when it is full, expired entries go first, then about a
// tenth of the rest, in map order.
type ttlCache[K comparable, V any] struct {
	m   sync.Map // K -> *item[V]
	n   atomic.Int64
	max int64
	mu  sync.Mutex // one trim at a time
}

type item[V any] struct {
	v       V
	expires int64 // unix nanoseconds
}

func newTTLCache[K comparable, V any](max int) *ttlCache[K, V] {
	return &ttlCache[K, V]{max: int64(max)}
}

// get returns an entry that has not expired.
func (c *ttlCache[K, V]) get(k K) (V, bool) {
	if x, ok := c.m.Load(k); ok {
		it := x.(*item[V])
		if time.Now().UnixNano() < it.expires {
			return it.v, true
		}
	}
	var zero V
	return zero, false
}

// put keeps an entry for ttl.
func (c *ttlCache[K, V]) put(k K, v V, ttl time.Duration) {
	if c.n.Load() >= c.max {
		c.trim()
	}
	if _, loaded := c.m.Swap(k, &item[V]{v: v, expires: time.Now().Add(ttl).UnixNano()}); !loaded {
		c.n.Add(1)
	}
}

// sweep drops expired entries.
func (c *ttlCache[K, V]) sweep() {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := time.Now().UnixNano()
	c.m.Range(func(k, x any) bool {
		if now >= x.(*item[V]).expires {
			if _, ok := c.m.LoadAndDelete(k); ok {
				c.n.Add(-1)
			}
		}
		return true
	})
}

// trim makes room: expired entries, then a tenth of the rest.
func (c *ttlCache[K, V]) trim() {
	c.sweep()
	c.mu.Lock()
	defer c.mu.Unlock()
	drop := c.n.Load() - c.max*9/10
	c.m.Range(func(k, _ any) bool {
		if drop <= 0 {
			return false
		}
		if _, ok := c.m.LoadAndDelete(k); ok {
			c.n.Add(-1)
			drop--
		}
		return true
	})
}

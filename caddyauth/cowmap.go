package caddyauth

import (
	"sync"
	"sync/atomic"
)

// cowMap is a small map read on every request and written rarely (a new
// reason, a new rule's challenges): reads are a plain map look-up through
// an atomic pointer, with no lock and no boxing of the key (a sync.Map
// allocates to box a struct or string key); a write copies the map. Keep
// its keys bounded.
type cowMap[K comparable, V any] struct {
	m  atomic.Pointer[map[K]V]
	mu sync.Mutex // writers
}

func (c *cowMap[K, V]) load(k K) (V, bool) {
	if m := c.m.Load(); m != nil {
		v, ok := (*m)[k]
		return v, ok
	}
	var zero V
	return zero, false
}

func (c *cowMap[K, V]) store(k K, v V) {
	c.mu.Lock()
	defer c.mu.Unlock()
	old := c.m.Load()
	m := make(map[K]V, 1)
	if old != nil {
		m = make(map[K]V, len(*old)+1)
		for k, v := range *old {
			m[k] = v
		}
	}
	m[k] = v
	c.m.Store(&m)
}

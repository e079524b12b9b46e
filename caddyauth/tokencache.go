package caddyauth

import (
	"crypto/sha256"
	"sync"
	"sync/atomic"
	"time"
)

// tokenClaims is what a verified token says about its bearer, independent
// of the user store.
type tokenClaims struct {
	user   string
	roles  []string // from the token's roles claim
	scopes []string
	exp    time.Time // zero: no expiry known (introspection without exp)

	// for the built-in token service: revocation is checked on every use
	issuer   *oauthIssuer
	jti, sid string
}

// tokenEntry is a cached verdict on one token: its claims, or a denial.
type tokenEntry struct {
	claims  *tokenClaims
	denial  *Denial // a cached negative answer (introspection only)
	expires time.Time

	// derived is the principal built for one store snapshot; a reload
	// makes a new one on first use.
	derived atomic.Pointer[derivedPrincipal]
}

type derivedPrincipal struct {
	store *Store
	p     *Principal
}

// tokenCache holds verdicts keyed by the SHA-256 of the whole token, so no
// token is kept in memory and two tokens never share an entry. It holds at
// most max entries; when full, expired entries go first, then arbitrary ones.
type tokenCache struct {
	mu      sync.RWMutex
	entries map[[32]byte]*tokenEntry
	max     int
}

func newTokenCache(max int) *tokenCache {
	return &tokenCache{entries: make(map[[32]byte]*tokenEntry), max: max}
}

func tokenKey(tok string) [32]byte {
	var buf [2048]byte // most tokens: hashed from the stack, no allocation
	if len(tok) <= len(buf) {
		return sha256.Sum256(buf[:copy(buf[:], tok)])
	}
	return sha256.Sum256([]byte(tok))
}

// get returns the live entry for a key.
func (c *tokenCache) get(k [32]byte, now time.Time) *tokenEntry {
	if c == nil {
		return nil
	}
	c.mu.RLock()
	e := c.entries[k]
	c.mu.RUnlock()
	if e == nil || !now.Before(e.expires) {
		return nil
	}
	return e
}

// put stores an entry that lives until expires.
func (c *tokenCache) put(k [32]byte, e *tokenEntry) {
	if c == nil || c.max <= 0 {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.entries) >= c.max {
		now := time.Now()
		for key, old := range c.entries {
			if !now.Before(old.expires) {
				delete(c.entries, key)
			}
		}
		// still full: drop about an eighth, chosen by map order
		for key := range c.entries {
			if len(c.entries) < c.max-c.max/8 {
				break
			}
			delete(c.entries, key)
		}
	}
	c.entries[k] = e
}

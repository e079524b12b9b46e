package bearer

import (
	"crypto/sha256"
	"crypto/x509"
	"sync"
	"sync/atomic"
	"time"

	"github.com/restauth/caddy-restauth/caddyauth"
)

// tokenClaims is what a verified token says about its bearer, independent
// of the user store.
type tokenClaims struct {
	user   string
	client bool     // a client's own token (client credentials): user is its client id
	roles  []string // from the token's roles claim
	scopes []string
	exp    time.Time      // zero: no expiry known (introspection without exp)
	all    map[string]any // every claim, for the principal (claim conditions)
	jkt    string         // cnf.jkt: bound to a DPoP key (RFC 9449)
	x5t    string         // cnf["x5t#S256"]: bound to a client certificate (RFC 8705)
	// the last certificate that matched x5t: a client's next request on
	// the same connection brings the same parsed certificate, which then
	// needs no hashing (a certificate never changes once parsed)
	matched atomic.Pointer[x509.Certificate]

	// the keys that verified the token, and their generation then: when
	// they change (a key removed from a JWK set), the token is verified
	// again before it is trusted
	src keySource
	gen uint64

	// for the built-in token service: revocation is checked on every use
	issuer   caddyauth.Issuer
	jti, sid string
}

// A keySource is a set of verification keys that can change while tokens
// it verified are cached: a JWK set fetched from a URL, the token
// service's key ring. Its generation changes whenever its keys do.
type keySource interface {
	Generation() uint64
}

// stale reports whether the keys that verified the token have changed
// since.
func (tc *tokenClaims) stale() bool { return tc.src != nil && tc.src.Generation() != tc.gen }

// tokenEntry is a verdict on one token: its claims, or a denial (an
// introspection's negative answer, which goes to the refused cache). Only
// entries with claims are kept in the token cache.
type tokenEntry struct {
	claims  *tokenClaims
	denial  *caddyauth.Denial
	expires time.Time

	// derived is the principal built for one snapshot; a reload makes a
	// new one on first use.
	derived caddyauth.PrincipalCache
}

// The token cache's counters.
var (
	cacheHit  = caddyauth.CacheLookups("bearer", "hit")
	cacheMiss = caddyauth.CacheLookups("bearer", "miss")
)

// tokenCache holds verdicts keyed by the SHA-256 of the whole token, so no
// token is kept in memory and two tokens never share an entry. It holds
// about max entries; when full, expired entries go first, then arbitrary
// ones. It is read on every bearer request, so reads take no lock (a
// sync.Map): cores reading it at once do not contend.
type tokenCache struct {
	entries sync.Map // [32]byte -> *tokenEntry
	n       atomic.Int64
	max     int
	evict   sync.Mutex // one eviction at a time
}

func newTokenCache(max int) *tokenCache {
	return &tokenCache{max: max}
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
	v, ok := c.entries.Load(k)
	if !ok {
		return nil
	}
	if e := v.(*tokenEntry); now.Before(e.expires) {
		return e
	}
	return nil
}

// put stores an entry that lives until expires.
func (c *tokenCache) put(k [32]byte, e *tokenEntry) {
	if c == nil || c.max <= 0 {
		return
	}
	if c.n.Load() >= int64(c.max) {
		c.makeRoom()
	}
	if _, loaded := c.entries.Swap(k, e); !loaded {
		c.n.Add(1)
	}
}

// makeRoom drops expired entries and, if that is not enough, about an
// eighth more, in the map's order.
func (c *tokenCache) makeRoom() {
	c.evict.Lock()
	defer c.evict.Unlock()
	if c.n.Load() < int64(c.max) {
		return // another put made room
	}
	drop := func(key any) {
		if _, ok := c.entries.LoadAndDelete(key); ok {
			c.n.Add(-1)
		}
	}
	now := time.Now()
	c.entries.Range(func(key, v any) bool {
		if !now.Before(v.(*tokenEntry).expires) {
			drop(key)
		}
		return true
	})
	c.entries.Range(func(key, _ any) bool {
		if c.n.Load() < int64(c.max-c.max/8) {
			return false
		}
		drop(key)
		return true
	})
}

// refusedCache remembers recently refused tokens (by hash) for a few
// seconds, apart from the verified tokens: a client repeating a refused
// token costs a look-up, not a signature check or an introspection call,
// and a flood of new forged tokens fills only this small table, so it
// never evicts a good client's verified token (which would make the good
// client pay a signature check again). It is direct-mapped: a new refusal
// takes its slot, whatever was there; a look-up or a write is one atomic
// operation, with no scan and no lock.
type refusedCache struct {
	slots [refusedSlots]atomic.Pointer[refusedEntry]
}

const refusedSlots = 4096

type refusedEntry struct {
	key     [32]byte
	denial  *caddyauth.Denial
	expires int64 // unix nanoseconds
}

func (c *refusedCache) slot(k [32]byte) *atomic.Pointer[refusedEntry] {
	return &c.slots[(uint(k[0])|uint(k[1])<<8)%refusedSlots]
}

// get returns the live refusal of a token, or nil.
func (c *refusedCache) get(k [32]byte, now time.Time) *caddyauth.Denial {
	if c == nil {
		return nil
	}
	if e := c.slot(k).Load(); e != nil && e.key == k && now.UnixNano() < e.expires {
		return e.denial
	}
	return nil
}

// put remembers a refusal until expires.
func (c *refusedCache) put(k [32]byte, d *caddyauth.Denial, expires time.Time) {
	if c != nil {
		c.slot(k).Store(&refusedEntry{key: k, denial: d, expires: expires.UnixNano()})
	}
}

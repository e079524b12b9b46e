package caddyauth

import (
	"bytes"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"sync"
)

// credCache remembers verified Basic credentials so that a client sending
// the same good credentials does not pay for a password hash each time.
//
// It never holds a password: an entry's key is an HMAC, under a random
// per-process key, of the length-prefixed user name, stored hash and
// password. The stored hash in the key makes a changed password miss at
// once; a removed user fails before the cache is asked. Only successes are
// kept, and the cache is bounded.
type credCache struct {
	mu  sync.RWMutex
	m   map[[32]byte]struct{}
	max int
}

var cacheKey = func() []byte {
	k := make([]byte, 32)
	if _, err := rand.Read(k); err != nil {
		panic("crypto/rand: " + err.Error())
	}
	return k
}()

// sharedCredCache serves every store of the process, so config and policy
// reloads do not make every client pay a password hash again. Sharing is
// safe because a key binds the user name, the stored hash and the
// password: it only ever says "this password matches this hash".
var sharedCredCache = newCredCache(10000)

func newCredCache(max int) *credCache {
	return &credCache{m: make(map[[32]byte]struct{}), max: max}
}

// credKey is SHA-256 over the secret per-process key and the
// length-prefixed user name, stored hash and password. The cache key only
// has to be unguessable and collision-free (its values never leave the
// process), which a keyed SHA-256 of an unambiguous encoding is; it is
// built in one stack buffer so that a cached request allocates nothing.
func credKey(user string, hash, password []byte) [32]byte {
	var buf [32 + 3*4 + 256 + 128 + maxPassword]byte
	n := copy(buf[:], cacheKey)
	for _, part := range [][]byte{[]byte(user), hash, password} {
		if len(part) > 256+128+maxPassword-4 {
			part = part[:0] // never happens: parsers bound every part
		}
		binary.BigEndian.PutUint32(buf[n:], uint32(len(part)))
		n += 4
		if n+len(part) > len(buf) {
			// an over-long combination: hash it in parts instead
			return credKeyLong(user, hash, password)
		}
		n += copy(buf[n:], part)
	}
	return sha256.Sum256(buf[:n])
}

func credKeyLong(user string, hash, password []byte) [32]byte {
	mac := hmac.New(sha256.New, cacheKey)
	var n [4]byte
	// copies, so that the callers' (stack) buffers need not escape
	for _, part := range [][]byte{[]byte(user), bytes.Clone(hash), bytes.Clone(password)} {
		binary.BigEndian.PutUint32(n[:], uint32(len(part)))
		mac.Write(n[:])
		mac.Write(part)
	}
	var k [32]byte
	mac.Sum(k[:0])
	return k
}

func (c *credCache) has(k [32]byte) bool {
	c.mu.RLock()
	_, ok := c.m[k]
	c.mu.RUnlock()
	return ok
}

func (c *credCache) add(k [32]byte) {
	c.mu.Lock()
	if len(c.m) >= c.max {
		// drop about a tenth, in map order (effectively random)
		n := c.max / 10
		for old := range c.m {
			delete(c.m, old)
			if n--; n <= 0 {
				break
			}
		}
	}
	c.m[k] = struct{}{}
	c.mu.Unlock()
}

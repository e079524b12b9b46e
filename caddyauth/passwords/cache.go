package passwords

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"sync"
)

// A Cache remembers verified credentials so that a client sending the
// same good credentials does not pay for a password hash each time.
//
// It never holds a password: an entry's key is a hash, under a random
// per-process key, of the length-prefixed user name, stored hash and
// password (AccountKey, CredKey). The stored hash in the key makes a
// changed password miss at once; a removed user fails before the cache is
// asked. Only successes are kept, and the cache is bounded.
type Cache struct {
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

// Shared serves every store of the process, so config and policy reloads
// do not make every client pay a password hash again. Sharing is safe
// because a key binds the user name, the stored hash and the password: it
// only ever says "this password matches this hash".
var Shared = NewCache(10000)

// NewCache makes a cache of about max entries.
func NewCache(max int) *Cache {
	return &Cache{m: make(map[[32]byte]struct{}), max: max}
}

// AccountKey is the secret half of an account's cache keys: SHA-256 over
// the per-process key and the length-prefixed user name and stored hash.
// It is made once per account when a store is built.
func AccountKey(user string, hash []byte) [32]byte {
	h := sha256.New()
	h.Write(cacheKey)
	var n [4]byte
	for _, part := range [][]byte{[]byte(user), hash} {
		binary.BigEndian.PutUint32(n[:], uint32(len(part)))
		h.Write(n[:])
		h.Write(part)
	}
	var k [32]byte
	h.Sum(k[:0])
	return k
}

// CredKey is SHA-256 over an account key and the length-prefixed password.
// The cache key only has to be unguessable and collision-free (its values
// never leave the process), which a hash of a secret fixed-length prefix
// and an unambiguous encoding is. A usual password fits one stack buffer
// of one or two SHA-256 blocks, so a cached request allocates nothing.
func CredKey(account *[32]byte, password []byte) [32]byte {
	var buf [32 + 4 + 92]byte
	if len(password) > len(buf)-36 {
		h := sha256.New()
		h.Write(account[:])
		binary.BigEndian.PutUint32(buf[:4], uint32(len(password)))
		h.Write(buf[:4])
		h.Write(password)
		var k [32]byte
		h.Sum(k[:0])
		return k
	}
	copy(buf[:], account[:])
	binary.BigEndian.PutUint32(buf[32:], uint32(len(password)))
	n := 36 + copy(buf[36:], password)
	return sha256.Sum256(buf[:n])
}

// Has reports whether a credential key was verified.
func (c *Cache) Has(k [32]byte) bool {
	c.mu.RLock()
	_, ok := c.m[k]
	c.mu.RUnlock()
	return ok
}

// Add remembers a verified credential key.
func (c *Cache) Add(k [32]byte) {
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

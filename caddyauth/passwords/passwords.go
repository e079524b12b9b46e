// Package passwords checks passwords and client secrets against stored
// bcrypt and argon2id hashes, the way every caddy-restauth store does:
// with Caddy's own comparers, in a bounded number of hashing slots, with
// stand-in hashes that make an unknown name cost what a real one costs,
// and with a keyed cache of verified credentials that never holds a
// password. The file user store and the token service's client check use
// it; it has no state of a handler's.
package passwords

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"runtime"
	"slices"
	"sync"
	"time"

	"github.com/caddyserver/caddy/v2/modules/caddyhttp/caddyauth"
	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/crypto/argon2"
	"golang.org/x/crypto/bcrypt"
	"golang.org/x/sync/singleflight"

	"github.com/restauth/caddy-restauth/permissions"
)

// Limits on what is hashed at all.
const (
	// MaxPassword is the longest password or secret looked at.
	MaxPassword = 1024
	// bcryptMaxBytes is all bcrypt reads of a password.
	bcryptMaxBytes = 72
)

// A Hash is a stored password hash with its settings.
type Hash struct {
	Stored []byte
	Params permissions.HashParams
}

// Parse reads a stored hash as caddy hash-password prints it.
func Parse(stored string) (Hash, error) {
	p, err := permissions.ParseHash(stored)
	if err != nil {
		return Hash{}, err
	}
	return Hash{Stored: []byte(stored), Params: p}, nil
}

// hashesRun counts the hashes computed (caddy_rest_auth_password_hashes_total).
var hashesRun = prometheus.NewCounter(prometheus.CounterOpts{
	Namespace: "caddy", Subsystem: "rest_auth", Name: "password_hashes_total",
	Help: "Password and client-secret hashes computed (bcrypt or argon2id), those of unknown names included.",
})

// Collectors are the package's metrics, for a module that checks
// passwords to register (caddyauth.RegisterCollectors).
func Collectors() []prometheus.Collector { return []prometheus.Collector{hashesRun} }

// Check compares a password with the hash, using Caddy's comparers. bcrypt
// reads only 72 bytes, so a longer password never matches (the hash still
// runs, to cost the same).
func (h Hash) Check(password []byte) (bool, error) {
	hashesRun.Inc()
	switch h.Params.Algorithm {
	case permissions.Bcrypt:
		ok, err := caddyauth.BcryptHash{}.Compare(h.Stored, password)
		return ok && len(password) <= bcryptMaxBytes, err
	case permissions.Argon2id:
		return caddyauth.Argon2idHash{}.Compare(h.Stored, password)
	}
	return false, fmt.Errorf("unknown hash algorithm %q", h.Params.Algorithm)
}

// Password hashing runs at most len(slots) at a time in the process, and a
// check that finds no free slot within slotWait is refused at once (503),
// so a flood of new wrong passwords costs the attacker more than it costs
// everyone else: cached credentials, tokens and certificates never wait.
var (
	slots    = make(chan struct{}, max(2, 2*runtime.GOMAXPROCS(0)))
	slotWait = 100 * time.Millisecond
)

// Slots is how many hashes may run at once.
func Slots() int { return cap(slots) }

// Acquire takes a hashing slot, waiting at most 100 ms; ok is false when
// none came free. Call release when the hash is done.
func Acquire() (release func(), ok bool) {
	select {
	case slots <- struct{}{}:
		return releaseSlot, true
	default:
	}
	t := time.NewTimer(slotWait)
	defer t.Stop()
	select {
	case slots <- struct{}{}:
		return releaseSlot, true
	case <-t.C:
		return nil, false
	}
}

func releaseSlot() { <-slots }

// ErrBusy is CheckSecret's answer when no hashing slot came free in time.
var ErrBusy = errors.New("every password-hashing slot is busy")

// flights merge concurrent checks of one credential: when many clients of
// one account arrive at once (a restart, a deploy, a cache eviction), one
// hash runs and the others wait for its answer instead of each taking a
// hashing slot. A flight's key is the credential's cache key, which binds
// the name, the stored hash and the secret.
var flights singleflight.Group

// CheckSecret checks a secret for a name against a stored hash: from the
// shared cache when this credential was verified before, else with one
// hash in a bounded slot for all concurrent checks of it. known is false
// for an unknown name checked against its stand-in: it costs the same,
// never passes, and is never cached. It returns ErrBusy when no slot came
// free.
func CheckSecret(name string, h Hash, secret []byte, known bool) (bool, error) {
	ak := AccountKey(name, h.Stored)
	key := CredKey(&ak, secret)
	if known && Shared.Has(key) {
		return true, nil
	}
	good, err, _ := flights.Do(string(key[:]), func() (any, error) {
		release, ok := Acquire()
		if !ok {
			return false, ErrBusy
		}
		defer release()
		good, err := h.Check(secret)
		if err != nil {
			return false, err
		}
		if good && known {
			Shared.Add(key) // before the flight lands: a later check hits the cache
		}
		return good, nil
	})
	if err != nil {
		return false, err
	}
	return good.(bool) && known, nil
}

// StandIns are the hashes an unknown name is checked against, so that it
// costs what a real one costs. A store whose accounts use several hash
// settings (users moved to a higher cost over time) checks each unknown
// name against one of them, picked by a keyed hash of the name in
// proportion to how many accounts use each: a name costs the same every
// time it is tried, and the costs of unknown names are spread as those of
// real ones, so no setting marks its users as real.
type StandIns struct {
	hashes []Hash
	upto   []int // hashes[i] is picked for a name hashing below upto[i]
}

// NewStandIns makes stand-ins for accounts with these hash settings (one
// entry per account); with none, one bcrypt hash at Go's default cost.
func NewStandIns(params []permissions.HashParams) (*StandIns, error) {
	if len(params) == 0 {
		params = []permissions.HashParams{{Algorithm: permissions.Bcrypt, Cost: bcrypt.DefaultCost}}
	}
	count := map[permissions.HashParams]int{}
	var order []permissions.HashParams
	for _, p := range params {
		if count[p] == 0 {
			order = append(order, p)
		}
		count[p]++
	}
	s := &StandIns{}
	total := 0
	for _, p := range order {
		h, err := fakeHash(p)
		if err != nil {
			return nil, err
		}
		total += count[p]
		s.hashes = append(s.hashes, Hash{Stored: h, Params: p})
		s.upto = append(s.upto, total)
	}
	return s, nil
}

// Pick returns the stand-in for an unknown name.
func (s *StandIns) Pick(name []byte) Hash {
	if len(s.hashes) == 1 {
		return s.hashes[0]
	}
	k := AccountKey(string(name), nil) // keyed: which name gets which cost cannot be worked out
	n := int(binary.BigEndian.Uint64(k[:8]) % uint64(s.upto[len(s.upto)-1]))
	i, _ := slices.BinarySearch(s.upto, n+1)
	return s.hashes[i]
}

var fakeHashes sync.Map // HashParams -> []byte, so reloads don't pay again

// fakeHash makes a hash of a random password with the given parameters.
func fakeHash(p permissions.HashParams) ([]byte, error) {
	if h, ok := fakeHashes.Load(p); ok {
		return h.([]byte), nil
	}
	pw := make([]byte, 24)
	if _, err := rand.Read(pw); err != nil {
		return nil, err
	}
	var h []byte
	switch p.Algorithm {
	case permissions.Bcrypt:
		var err error
		if h, err = bcrypt.GenerateFromPassword(pw, p.Cost); err != nil {
			return nil, fmt.Errorf("making the timing-guard hash: %w", err)
		}
	case permissions.Argon2id:
		salt := make([]byte, 16)
		if _, err := rand.Read(salt); err != nil {
			return nil, err
		}
		key := argon2.IDKey(pw, salt, p.Time, p.Memory, p.Threads, uint32(p.KeyLen))
		h = fmt.Appendf(nil, "$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version, p.Memory, p.Time, p.Threads,
			base64.RawStdEncoding.EncodeToString(salt), base64.RawStdEncoding.EncodeToString(key))
	default:
		return nil, fmt.Errorf("unknown hash algorithm %q", p.Algorithm)
	}
	fakeHashes.Store(p, h)
	return h, nil
}

package permissions

import (
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// Hash algorithms a users file may use.
const (
	Bcrypt   = "bcrypt"
	Argon2id = "argon2id"
)

// Bounds on stored hash parameters. A hash beyond them is refused when the
// file loads, so a typo cannot make every login cost seconds or gigabytes.
const (
	MaxBcryptCost     = 16
	MaxArgon2idMemory = 256 * 1024 // KiB
	MaxArgon2idTime   = 16
	MaxArgon2idLanes  = 16
)

// HashParams describes a stored password hash. Two hashes with equal
// HashParams cost the same to check.
type HashParams struct {
	Algorithm string
	Cost      int    // bcrypt
	Memory    uint32 // argon2id, KiB
	Time      uint32 // argon2id
	Threads   uint8  // argon2id
	KeyLen    int    // argon2id
}

// ParseHash checks that s is a bcrypt or argon2id hash in the encoding that
// caddy hash-password prints, with parameters within bounds.
func ParseHash(s string) (HashParams, error) {
	switch {
	case s == "":
		return HashParams{}, errors.New("missing or empty (a bcrypt or argon2id hash from caddy hash-password)")
	case strings.HasPrefix(s, "$2a$"), strings.HasPrefix(s, "$2b$"), strings.HasPrefix(s, "$2y$"):
		if len(s) != 60 || s[6] != '$' {
			return HashParams{}, errors.New("malformed bcrypt hash")
		}
		cost, err := strconv.Atoi(s[4:6])
		if err != nil || cost < 4 || cost > MaxBcryptCost {
			return HashParams{}, fmt.Errorf("bcrypt cost must be 4 to %d", MaxBcryptCost)
		}
		return HashParams{Algorithm: Bcrypt, Cost: cost}, nil
	case strings.HasPrefix(s, "$argon2id$"):
		parts := strings.Split(s, "$")
		if len(parts) != 6 || parts[2] != "v=19" {
			return HashParams{}, errors.New("malformed argon2id hash (want $argon2id$v=19$m=..,t=..,p=..$salt$key)")
		}
		var m, t, p uint64
		var err error
		params := strings.Split(parts[3], ",")
		if len(params) == 3 && strings.HasPrefix(params[0], "m=") && strings.HasPrefix(params[1], "t=") && strings.HasPrefix(params[2], "p=") {
			m, err = strconv.ParseUint(params[0][2:], 10, 32)
			if err == nil {
				t, err = strconv.ParseUint(params[1][2:], 10, 32)
			}
			if err == nil {
				p, err = strconv.ParseUint(params[2][2:], 10, 8)
			}
		} else {
			err = errors.New("bad parameters")
		}
		if err != nil {
			return HashParams{}, errors.New("malformed argon2id parameters")
		}
		if m < 8 || m > MaxArgon2idMemory || t < 1 || t > MaxArgon2idTime || p < 1 || p > MaxArgon2idLanes {
			return HashParams{}, fmt.Errorf("argon2id parameters out of bounds (m<=%d, 1<=t<=%d, 1<=p<=%d)", MaxArgon2idMemory, MaxArgon2idTime, MaxArgon2idLanes)
		}
		salt, err1 := base64.RawStdEncoding.Strict().DecodeString(parts[4])
		key, err2 := base64.RawStdEncoding.Strict().DecodeString(parts[5])
		if err1 != nil || err2 != nil || len(salt) < 8 || len(key) < 16 || len(key) > 64 {
			return HashParams{}, errors.New("malformed argon2id salt or key")
		}
		return HashParams{Algorithm: Argon2id, Memory: uint32(m), Time: uint32(t), Threads: uint8(p), KeyLen: len(key)}, nil
	}
	return HashParams{}, errors.New("not a bcrypt or argon2id hash (make one with caddy hash-password)")
}

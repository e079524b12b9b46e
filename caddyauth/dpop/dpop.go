// Package dpop checks DPoP proofs (RFC 9449): a JWT a client signs for
// each request with a key of its own, which binds an access token to that
// key. It has no Caddy import; bearer and the token service use it.
package dpop

import (
	"crypto"
	"crypto/ecdh"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// DefaultAlgorithms are the proof algorithms accepted by default: the
// asymmetric ones (RFC 9449 section 4.2 forbids none and MACs).
var DefaultAlgorithms = []string{"ES256", "ES384", "ES512", "RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "EdDSA"}

// maxProof bounds a proof's length before anything is parsed.
const maxProof = 8 << 10

// Errors a proof check gives. ErrNonce asks the client to retry with the
// server's nonce (section 8).
var (
	ErrInvalid = errors.New("invalid DPoP proof")
	ErrNonce   = errors.New("use the DPoP nonce")
	ErrReplay  = errors.New("DPoP proof replayed")
)

// Proof is a checked proof: the thumbprint of its key (RFC 7638), its
// jti and when it was issued.
type Proof struct {
	JKT string
	JTI string
	IAT time.Time
}

// Replays remembers proofs' jti until their window has passed. Seen
// reports whether a jti was seen before, recording it if not.
type Replays interface {
	Seen(jkt, jti string, until time.Time) (bool, error)
}

// Checker checks proofs. Its zero value is not usable: use NewChecker.
type Checker struct {
	// Algorithms are the accepted proof algorithms.
	Algorithms []string
	// Window is how far a proof's iat may be from now (either way).
	Window time.Duration
	// Replays records jti values; default a bounded cache in memory.
	Replays Replays
	// Nonce, when set, gives the nonce a proof must carry now (and the
	// previous one, still accepted), for section 8's server nonces.
	Nonce func() (current, previous string)
}

// NewChecker is a Checker with the default algorithms, a 60 s window and
// an in-memory replay cache of 100,000 entries.
func NewChecker() *Checker {
	return &Checker{Algorithms: DefaultAlgorithms, Window: time.Minute, Replays: NewMemoryReplays(100000)}
}

// SetAlgorithms replaces the accepted algorithms; each must be one of
// DefaultAlgorithms (asymmetric: never none or an HMAC). An empty list
// keeps the defaults.
func (c *Checker) SetAlgorithms(algs []string) error {
	for _, a := range algs {
		if !slices.Contains(DefaultAlgorithms, a) {
			return fmt.Errorf("%s is not an asymmetric JWS algorithm", a)
		}
	}
	if len(algs) > 0 {
		c.Algorithms = algs
	}
	return nil
}

// Check verifies a proof for a request (method and URL as sent, see HTU)
// and, when accessToken is not empty, for that token (ath). It returns
// the proof's key thumbprint and claims, or ErrInvalid, ErrNonce or
// ErrReplay (wrapped with what was wrong).
func (c *Checker) Check(proof, method, htu, accessToken string, now time.Time) (*Proof, error) {
	if len(proof) > maxProof || strings.Count(proof, ".") != 2 {
		return nil, fmt.Errorf("%w: not a compact JWS", ErrInvalid)
	}
	head, rest, _ := strings.Cut(proof, ".")
	payload, sig64, _ := strings.Cut(rest, ".")
	hb, err := segment.DecodeString(head)
	if err != nil {
		return nil, fmt.Errorf("%w: header", ErrInvalid)
	}
	var h struct {
		Typ string          `json:"typ"`
		Alg string          `json:"alg"`
		JWK json.RawMessage `json:"jwk"`
	}
	if json.Unmarshal(hb, &h) != nil || !strings.EqualFold(h.Typ, "dpop+jwt") {
		return nil, fmt.Errorf("%w: typ must be dpop+jwt", ErrInvalid)
	}
	if !slices.Contains(c.Algorithms, h.Alg) || strings.HasPrefix(h.Alg, "HS") || h.Alg == "none" {
		return nil, fmt.Errorf("%w: alg %q is not accepted", ErrInvalid, h.Alg)
	}
	key, jkt, err := PublicJWK(h.JWK)
	if err != nil {
		return nil, fmt.Errorf("%w: jwk: %v", ErrInvalid, err)
	}
	method0 := jwt.GetSigningMethod(h.Alg)
	sig, err := segment.DecodeString(sig64)
	if method0 == nil || err != nil || !fits(key, h.Alg) {
		return nil, fmt.Errorf("%w: the key does not fit alg %s", ErrInvalid, h.Alg)
	}
	if method0.Verify(proof[:len(head)+1+len(payload)], sig, key) != nil {
		return nil, fmt.Errorf("%w: signature", ErrInvalid)
	}
	pb, err := segment.DecodeString(payload)
	if err != nil {
		return nil, fmt.Errorf("%w: payload", ErrInvalid)
	}
	var cl struct {
		JTI   string          `json:"jti"`
		HTM   string          `json:"htm"`
		HTU   string          `json:"htu"`
		IAT   json.Number     `json:"iat"`
		ATH   string          `json:"ath"`
		Nonce json.RawMessage `json:"nonce"`
	}
	dec := json.NewDecoder(strings.NewReader(string(pb)))
	dec.UseNumber()
	if dec.Decode(&cl) != nil || cl.JTI == "" || len(cl.JTI) > 256 {
		return nil, fmt.Errorf("%w: claims (jti is required)", ErrInvalid)
	}
	if cl.HTM != method {
		return nil, fmt.Errorf("%w: htm", ErrInvalid)
	}
	if u, ok := NormalizeHTU(cl.HTU); !ok || u != htu {
		return nil, fmt.Errorf("%w: htu", ErrInvalid)
	}
	secs, err := cl.IAT.Float64()
	if err != nil {
		return nil, fmt.Errorf("%w: iat", ErrInvalid)
	}
	iat := time.Unix(int64(secs), 0)
	if iat.Before(now.Add(-c.Window)) || iat.After(now.Add(c.Window)) {
		return nil, fmt.Errorf("%w: iat outside the window", ErrInvalid)
	}
	if accessToken != "" {
		sum := sha256.Sum256([]byte(accessToken))
		if cl.ATH != base64.RawURLEncoding.EncodeToString(sum[:]) {
			return nil, fmt.Errorf("%w: ath", ErrInvalid)
		}
	}
	if c.Nonce != nil {
		cur, prev := c.Nonce()
		var n string
		if json.Unmarshal(cl.Nonce, &n) != nil || n == "" || (n != cur && n != prev) {
			return nil, ErrNonce
		}
	}
	if c.Replays != nil {
		seen, err := c.Replays.Seen(jkt, cl.JTI, iat.Add(c.Window))
		if err != nil {
			return nil, err
		}
		if seen {
			return nil, ErrReplay
		}
	}
	return &Proof{JKT: jkt, JTI: cl.JTI, IAT: iat}, nil
}

// segment decodes a JWS part: base64url without padding, strict.
var segment = base64.RawURLEncoding.Strict()

// fits reports whether a public key can verify alg.
func fits(key crypto.PublicKey, alg string) bool {
	switch k := key.(type) {
	case *ecdsa.PublicKey:
		return alg == "ES256" && k.Curve == elliptic.P256() || alg == "ES384" && k.Curve == elliptic.P384() ||
			alg == "ES512" && k.Curve == elliptic.P521()
	case *rsa.PublicKey:
		return (strings.HasPrefix(alg, "RS") || strings.HasPrefix(alg, "PS")) && k.N.BitLen() >= 2048 && k.N.BitLen() <= 4096
	case ed25519.PublicKey:
		return alg == "EdDSA"
	}
	return false
}

// PublicJWK reads a public JWK (EC, RSA or OKP Ed25519) and returns the
// key and its RFC 7638 thumbprint (base64url SHA-256 of the required
// members in lexicographic order). A JWK with private members is refused.
func PublicJWK(raw json.RawMessage) (crypto.PublicKey, string, error) {
	var m map[string]any
	if len(raw) == 0 || json.Unmarshal(raw, &m) != nil {
		return nil, "", errors.New("missing or not a JSON object")
	}
	for _, private := range []string{"d", "p", "q", "dp", "dq", "qi", "oth", "k"} {
		if _, ok := m[private]; ok {
			return nil, "", errors.New("holds private key material")
		}
	}
	str := func(k string) string { s, _ := m[k].(string); return s }
	var key crypto.PublicKey
	var canon string
	switch str("kty") {
	case "EC":
		var curve elliptic.Curve
		switch str("crv") {
		case "P-256":
			curve = elliptic.P256()
		case "P-384":
			curve = elliptic.P384()
		case "P-521":
			curve = elliptic.P521()
		default:
			return nil, "", errors.New("unknown curve")
		}
		x, err1 := segment.DecodeString(str("x"))
		y, err2 := segment.DecodeString(str("y"))
		size := (curve.Params().BitSize + 7) / 8
		if err1 != nil || err2 != nil || len(x) != size || len(y) != size {
			return nil, "", errors.New("bad coordinates")
		}
		pk := &ecdsa.PublicKey{Curve: curve, X: new(big.Int).SetBytes(x), Y: new(big.Int).SetBytes(y)}
		// the point must be on the curve (crypto/ecdh checks it)
		buf := append([]byte{4}, append(x, y...)...)
		if _, err := ecdsaToECDH(curve, buf); err != nil {
			return nil, "", errors.New("the point is not on the curve")
		}
		key = pk
		canon = fmt.Sprintf(`{"crv":%q,"kty":"EC","x":%q,"y":%q}`, str("crv"), str("x"), str("y"))
	case "RSA":
		n, err1 := segment.DecodeString(str("n"))
		e, err2 := segment.DecodeString(str("e"))
		if err1 != nil || err2 != nil || len(n) == 0 || len(e) == 0 || len(e) > 4 || n[0] == 0 || e[0] == 0 {
			return nil, "", errors.New("bad modulus or exponent")
		}
		if len(n)*8 > 4096 {
			// a client picks this key: a bigger one would make each proof
			// cost the server many times an ordinary verification
			return nil, "", errors.New("an RSA key of more than 4096 bits")
		}
		ev := int(new(big.Int).SetBytes(e).Int64())
		if ev < 3 || ev%2 == 0 {
			return nil, "", errors.New("bad exponent")
		}
		key = &rsa.PublicKey{N: new(big.Int).SetBytes(n), E: ev}
		canon = fmt.Sprintf(`{"e":%q,"kty":"RSA","n":%q}`, str("e"), str("n"))
	case "OKP":
		x, err := segment.DecodeString(str("x"))
		if str("crv") != "Ed25519" || err != nil || len(x) != ed25519.PublicKeySize {
			return nil, "", errors.New("only Ed25519 OKP keys")
		}
		key = ed25519.PublicKey(x)
		canon = fmt.Sprintf(`{"crv":"Ed25519","kty":"OKP","x":%q}`, str("x"))
	default:
		return nil, "", errors.New("unknown kty")
	}
	sum := sha256.Sum256([]byte(canon))
	return key, base64.RawURLEncoding.EncodeToString(sum[:]), nil
}

// NormalizeHTU is a URL as htu compares it (section 4.3): scheme and host
// in lower case, no default port, no query or fragment. ok is false for
// what is not an absolute http(s) URL.
func NormalizeHTU(raw string) (string, bool) {
	if i := strings.IndexAny(raw, "?#"); i >= 0 {
		raw = raw[:i]
	}
	scheme, rest, ok := strings.Cut(raw, "://")
	scheme = strings.ToLower(scheme)
	if !ok || (scheme != "http" && scheme != "https") {
		return "", false
	}
	host, path, _ := strings.Cut(rest, "/")
	host = strings.ToLower(host)
	if host == "" || strings.Contains(host, "@") {
		return "", false
	}
	if scheme == "https" {
		host = strings.TrimSuffix(host, ":443")
	} else {
		host = strings.TrimSuffix(host, ":80")
	}
	return scheme + "://" + host + "/" + path, true
}

// HTU is the request's URL as a proof's htu must give it: the scheme the
// connection used, the Host, and the path as sent, without the query.
func HTU(r *http.Request) string {
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	u, _ := NormalizeHTU(scheme + "://" + r.Host + r.URL.EscapedPath())
	return u
}

// MemoryReplays is a bounded replay cache in memory: jti values per key
// until their window ends. When full, expired entries go first; if none
// has, the proof is refused (fail closed) rather than a record dropped.
type MemoryReplays struct {
	mu    sync.Mutex
	max   int
	seen  map[string]time.Time
	swept time.Time
}

// NewMemoryReplays makes a replay cache of at most max entries.
func NewMemoryReplays(max int) *MemoryReplays {
	return &MemoryReplays{max: max, seen: map[string]time.Time{}}
}

// ErrFull is the replay cache's answer when it can hold no more.
var ErrFull = errors.New("DPoP replay cache full")

// Seen records jti for the key until a time, and reports whether it was
// there already.
func (m *MemoryReplays) Seen(jkt, jti string, until time.Time) (bool, error) {
	k := jkt + "\x00" + jti
	now := time.Now()
	m.mu.Lock()
	defer m.mu.Unlock()
	if t, ok := m.seen[k]; ok && now.Before(t) {
		return true, nil
	}
	if len(m.seen) >= m.max && now.Sub(m.swept) > time.Second {
		for id, t := range m.seen {
			if !now.Before(t) {
				delete(m.seen, id)
			}
		}
		m.swept = now
	}
	if len(m.seen) >= m.max {
		return false, ErrFull
	}
	m.seen[k] = until
	return false, nil
}

// ecdsaToECDH checks an uncompressed point on its curve with crypto/ecdh.
func ecdsaToECDH(curve elliptic.Curve, point []byte) (*ecdh.PublicKey, error) {
	var c ecdh.Curve
	switch curve {
	case elliptic.P256():
		c = ecdh.P256()
	case elliptic.P384():
		c = ecdh.P384()
	case elliptic.P521():
		c = ecdh.P521()
	default:
		return nil, errors.New("unknown curve")
	}
	return c.NewPublicKey(point)
}

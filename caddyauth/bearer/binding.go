package bearer

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"crypto/x509"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync/atomic"
	"time"

	"github.com/caddyserver/caddy/v2"
	"go.uber.org/zap"

	"github.com/restauth/caddy-restauth/caddyauth"
	"github.com/restauth/caddy-restauth/caddyauth/dpop"
)

// DPoPConfig switches on DPoP (RFC 9449): Authorization: DPoP <token>
// with a DPoP proof header, for tokens bound to the proof's key.
type DPoPConfig struct {
	// Algorithms are the accepted proof algorithms. Default: ES256/384/512,
	// RS256/384/512, PS256/384/512 and EdDSA (never none or an HMAC).
	Algorithms []string `json:"algorithms,omitempty"`
	// Window is how far a proof's iat may be from now. Default 1m.
	Window caddy.Duration `json:"window,omitempty"`
	// ReplayCacheSize bounds the proofs remembered against replay (each
	// until its window has passed); when full, proofs are refused.
	// Default 100000.
	ReplayCacheSize int `json:"replay_cache_size,omitempty"`
	// ReplayStoreRaw remembers proofs for a whole fleet (a module in
	// http.rest_auth.throttle_stores, such as redis): a proof used on one
	// instance is a replay on every other. The local cache still runs,
	// and decides alone while the store cannot be reached.
	ReplayStoreRaw json.RawMessage `json:"replay_store,omitempty" caddy:"namespace=http.rest_auth.throttle_stores inline_key=store"`
	// Nonce makes proofs carry a server nonce (RFC 9449 section 8): a
	// request without the current one gets 401 use_dpop_nonce with the
	// nonce in a DPoP-Nonce field. Nonces change every NonceLifetime
	// (default 5m; the previous one is still accepted).
	Nonce bool `json:"nonce,omitempty"`
	// NonceLifetime is how long a nonce is current.
	NonceLifetime caddy.Duration `json:"nonce_lifetime,omitempty"`
	// NonceKey keys the nonces; the same on every instance of a fleet
	// (placeholders such as {env.DPOP_NONCE_KEY} work). Default: a random
	// key per process.
	NonceKey string `json:"nonce_key,omitempty"`
}

// The binding denials.
var (
	// a token or proof refused under the DPoP scheme (RFC 9449 section 7.1)
	denyDPoPToken = caddyauth.Deny("dpop.invalid_token")
	denyDPoPProof = caddyauth.Deny("dpop.invalid_proof")
	// a DPoP-bound token sent as Bearer, a certificate-bound token without
	// its certificate
	denyBound = caddyauth.Deny("bearer.invalid")
	// an unbound token where binding is required
	denyUnbound = caddyauth.Deny("bearer.unbound")
)

// provisionDPoP makes the proof checker; ctx loads a replay store (nil
// in benchmarks).
func (b *Bearer) provisionDPoP(ctx *caddy.Context) error {
	if b.DPoP == nil {
		return nil
	}
	c := dpop.NewChecker()
	local := c.Replays.(*dpop.MemoryReplays)
	if err := c.SetAlgorithms(b.DPoP.Algorithms); err != nil {
		return fmt.Errorf("bearer: dpop algorithms: %w", err)
	}
	if b.DPoP.Window > 0 {
		c.Window = time.Duration(b.DPoP.Window)
	}
	if b.DPoP.ReplayCacheSize > 0 {
		local = dpop.NewMemoryReplays(b.DPoP.ReplayCacheSize)
		c.Replays = local
	}
	if len(b.DPoP.ReplayStoreRaw) > 0 && ctx != nil {
		store, err := caddyauth.LoadThrottleStore(*ctx, b.DPoP.ReplayStoreRaw)
		if err != nil {
			return fmt.Errorf("bearer: dpop replay_store: %w", err)
		}
		c.Replays = &storeReplays{store: store, local: local, logger: b.logger, window: 2 * c.Window}
	}
	if b.DPoP.Nonce {
		life := 5 * time.Minute
		if b.DPoP.NonceLifetime > 0 {
			life = time.Duration(b.DPoP.NonceLifetime)
		}
		key := []byte(caddy.NewReplacer().ReplaceKnown(b.DPoP.NonceKey, ""))
		if len(key) == 0 {
			key = make([]byte, 32)
			if _, err := rand.Read(key); err != nil {
				return err
			}
		}
		b.nonces = &nonces{key: key, life: life}
		c.Nonce = b.nonces.pair
	}
	b.dpop = c
	b.dpopAlgs = strings.Join(c.Algorithms, " ")
	return nil
}

// authorizationToken reads "Bearer <token>" or "DPoP <token>".
func authorizationToken(v string) (tok string, dpopScheme, ok bool) {
	if caddyauth.HasScheme(v, "dpop") {
		if len(v) < 6 || len(v) > maxToken+5 || v[4] != ' ' {
			return "", true, false
		}
		return v[5:], true, true
	}
	tok, ok = bearerField(v)
	return tok, false, ok
}

// binding checks what a bound token needs on this request: the DPoP
// proof for its key, the client certificate it names; and that a token is
// bound at all when require_binding says so.
func (b *Bearer) binding(r *http.Request, tok string, dpopScheme bool, tc *tokenClaims) *caddyauth.Denial {
	switch {
	case dpopScheme:
		proofs := r.Header["Dpop"]
		if len(proofs) != 1 {
			return denyDPoPProof
		}
		p, err := b.dpop.Check(proofs[0], r.Method, dpop.HTU(r), tok, time.Now())
		if err != nil {
			switch {
			case errors.Is(err, dpop.ErrFull):
				return &caddyauth.Denial{Status: http.StatusServiceUnavailable, Reason: "dpop.busy", RetryAfter: time.Second}
			case errors.Is(err, dpop.ErrNonce):
				cur, _ := b.nonces.pair()
				return &caddyauth.Denial{Status: http.StatusUnauthorized, Reason: "dpop.use_nonce", Header: http.Header{"Dpop-Nonce": {cur}}}
			}
			return denyDPoPProof
		}
		if tc.jkt == "" || tc.jkt != p.JKT {
			return denyDPoPToken // not bound to this key (or to none)
		}
	case tc.jkt != "":
		return denyBound // a DPoP-bound token sent as Bearer
	}
	if tc.x5t != "" {
		leaf := presentedLeaf(r)
		if leaf == nil {
			return denyBound
		}
		if tc.matched.Load() != leaf {
			if !thumbprintIs(leaf, tc.x5t) {
				return denyBound
			}
			tc.matched.Store(leaf)
		}
	}
	switch b.RequireBinding {
	case "mtls":
		if tc.x5t == "" {
			return denyUnbound
		}
	case "dpop":
		if tc.jkt == "" {
			return denyUnbound
		}
	case "any":
		if tc.x5t == "" && tc.jkt == "" {
			return denyUnbound
		}
	}
	return nil
}

// presentedLeaf is the connection's client certificate. For a binding
// its chain does not matter (RFC 8705 section 3, and self-signed
// certificates): the handshake proved that the client holds its key, and
// the token names the certificate exactly. (As an identity, client_cert
// trusts only verified chains.)
func presentedLeaf(r *http.Request) *x509.Certificate {
	if r.TLS == nil || len(r.TLS.PeerCertificates) == 0 {
		return nil
	}
	return r.TLS.PeerCertificates[0]
}

// thumbprintIs compares a certificate's SHA-256 with a token's x5t#S256
// without building the text: the hash of the DER, and the decoded claim.
func thumbprintIs(c *x509.Certificate, x5t string) bool {
	var want [sha256.Size]byte
	if base64.RawURLEncoding.DecodedLen(len(x5t)) != sha256.Size {
		return false
	}
	if n, err := base64.RawURLEncoding.Strict().Decode(want[:], []byte(x5t)); err != nil || n != sha256.Size {
		return false
	}
	got := sha256.Sum256(c.Raw)
	return subtle.ConstantTimeCompare(got[:], want[:]) == 1
}

// binding names how a token is bound: mtls, dpop or "".
func (tc *tokenClaims) binding() string {
	switch {
	case tc.jkt != "":
		return "dpop"
	case tc.x5t != "":
		return "mtls"
	}
	return ""
}

// nonces are server nonces: an HMAC of the current period's number, so
// that every instance with the same key agrees without talking.
type nonces struct {
	key  []byte
	life time.Duration
}

// pair returns the current nonce and the previous one.
func (n *nonces) pair() (string, string) {
	p := time.Now().UnixNano() / int64(n.life)
	return n.of(p), n.of(p - 1)
}

func (n *nonces) of(period int64) string {
	m := hmac.New(sha256.New, n.key)
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], uint64(period))
	m.Write(b[:])
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil)[:18])
}

// storeReplays remembers proofs in a fleet's store, and in memory: a jti
// counted twice (here or by another instance) is a replay. While the
// store cannot be reached, the memory cache decides alone.
type storeReplays struct {
	store  caddyauth.ThrottleStore
	local  *dpop.MemoryReplays
	logger *zap.Logger
	window time.Duration // how long the store keeps a proof: the same for every proof (it names the counter)
	down   atomic.Bool
}

// Seen records the proof in both and reports whether either had it.
func (s *storeReplays) Seen(jkt, jti string, until time.Time) (bool, error) {
	seen, err := s.local.Seen(jkt, jti, until)
	if err != nil || seen {
		return seen, err
	}
	window := max(s.window, time.Second)
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	counts, err := s.store.Add(ctx, []caddyauth.CountKey{{Key: "dpop\x00" + jkt + "\x00" + jti, Window: window}})
	if err != nil || len(counts) != 1 {
		if !s.down.Swap(true) && s.logger != nil {
			s.logger.Warn("DPoP replay store unreachable; each instance remembers proofs alone", zap.Error(err))
		}
		return false, nil
	}
	if s.down.Swap(false) && s.logger != nil {
		s.logger.Info("DPoP replay store reachable again")
	}
	return counts[0].N > 1, nil
}

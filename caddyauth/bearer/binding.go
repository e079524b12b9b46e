package bearer

import (
	"crypto/sha256"
	"crypto/subtle"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/caddyserver/caddy/v2"

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

// provisionDPoP makes the proof checker.
func (b *Bearer) provisionDPoP() error {
	if b.DPoP == nil {
		return nil
	}
	c := dpop.NewChecker()
	if len(b.DPoP.Algorithms) > 0 {
		for _, a := range b.DPoP.Algorithms {
			if a == "none" || strings.HasPrefix(a, "HS") || !contains(dpop.DefaultAlgorithms, a) {
				return errors.New("bearer: dpop algorithms: " + a + " is not an asymmetric JWS algorithm")
			}
		}
		c.Algorithms = b.DPoP.Algorithms
	}
	if b.DPoP.Window > 0 {
		c.Window = time.Duration(b.DPoP.Window)
	}
	if b.DPoP.ReplayCacheSize > 0 {
		c.Replays = dpop.NewMemoryReplays(b.DPoP.ReplayCacheSize)
	}
	b.dpop = c
	b.dpopAlgs = strings.Join(c.Algorithms, " ")
	return nil
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
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
			if errors.Is(err, dpop.ErrFull) {
				return &caddyauth.Denial{Status: http.StatusServiceUnavailable, Reason: "dpop.busy", RetryAfter: time.Second}
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
		leaf := verifiedLeaf(r)
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

// verifiedLeaf is the connection's client certificate, when the TLS layer
// verified its chain; nil otherwise (a certificate merely presented under
// Caddy's request mode proves nothing).
func verifiedLeaf(r *http.Request) *x509.Certificate {
	if r.TLS == nil || len(r.TLS.VerifiedChains) == 0 || len(r.TLS.VerifiedChains[0]) == 0 {
		return nil
	}
	return r.TLS.VerifiedChains[0][0]
}

// certThumbprint is RFC 8705's x5t#S256: base64url SHA-256 of the DER.
func certThumbprint(c *x509.Certificate) string {
	sum := sha256.Sum256(c.Raw)
	return base64.RawURLEncoding.EncodeToString(sum[:])
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

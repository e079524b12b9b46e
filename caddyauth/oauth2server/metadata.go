package oauth2server

import (
	"crypto/sha256"
	"crypto/subtle"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/restauth/caddy-restauth/caddyauth"
	"github.com/restauth/caddy-restauth/caddyauth/dpop"
	"github.com/restauth/caddy-restauth/caddyauth/throttle"
)

// The token service's metadata (RFC 8414), also served as OpenID Connect
// discovery's document with the fields that apply, so that clients and
// resource servers configure an issuer rather than its endpoints.

// metaPaths works out where the metadata is served: RFC 8414 inserts
// /.well-known/oauth-authorization-server before the issuer's path, OpenID
// Connect appends /.well-known/openid-configuration to the issuer.
func (t *TokenService) metaPaths() error {
	u, err := url.Parse(t.Issuer)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
		return errors.New("oauth2_server: issuer must be an http(s) URL without query or fragment (RFC 8414 section 2)")
	}
	path := strings.TrimSuffix(u.EscapedPath(), "/")
	t.metaRFC = "/.well-known/oauth-authorization-server" + path
	t.metaOIDC = path + "/.well-known/openid-configuration"
	t.origin = u.Scheme + "://" + u.Host
	return nil
}

// metadata is the document.
func (t *TokenService) metadata() map[string]any {
	base := t.origin + t.BasePath
	auth := []string{"client_secret_basic", "client_secret_post", "tls_client_auth", "self_signed_tls_client_auth"}
	m := map[string]any{
		"issuer":                                t.Issuer,
		"token_endpoint":                        base + "/token",
		"jwks_uri":                              base + "/jwks",
		"introspection_endpoint":                base + "/introspect",
		"revocation_endpoint":                   base + "/revoke",
		"grant_types_supported":                 []string{"client_credentials", "password", "refresh_token"},
		"response_types_supported":              []string{},
		"token_endpoint_auth_methods_supported": auth,
		"introspection_endpoint_auth_methods_supported": auth,
		"revocation_endpoint_auth_methods_supported":    auth,
		"scopes_supported": t.scopesSupported(),
	}
	for k, v := range t.bindingMetadata() {
		m[k] = v
	}
	return m
}

// scopesSupported are the scopes the clients may be given.
func (t *TokenService) scopesSupported() []string {
	seen := map[string]bool{}
	out := []string{}
	if u := t.users.Load(); u != nil {
		for _, c := range u.clients {
			for _, s := range c.Scopes {
				if !seen[s] {
					seen[s] = true
					out = append(out, s)
				}
			}
		}
	}
	return out
}

// serveMetadata answers the metadata's two places.
func (t *TokenService) serveMetadata(w http.ResponseWriter, r *http.Request) error {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		return t.fail(w, r, oerr(http.StatusMethodNotAllowed, "invalid_request", "use GET"), "")
	}
	w.Header().Set("Cache-Control", "public, max-age=300")
	return writeOAuthJSON(w, http.StatusOK, t.metadata())
}

// binding is what a token request's access token is bound to: the key of
// its DPoP proof (a bad proof is 400 invalid_dpop_proof, RFC 9449 section
// 5), else, with certificate_bound_tokens, the verified client
// certificate of the connection; nil for neither.
func (t *TokenService) binding(r *http.Request, c *client) (*confirmation, *oauthError) {
	if proofs := r.Header["Dpop"]; len(proofs) > 0 {
		if len(proofs) > 1 {
			return nil, oerr(http.StatusBadRequest, "invalid_dpop_proof", "one DPoP proof, please")
		}
		p, err := t.dpop.Check(proofs[0], r.Method, dpop.HTU(r), "", time.Now())
		if err != nil {
			return nil, oerr(http.StatusBadRequest, "invalid_dpop_proof", "the DPoP proof is not valid")
		}
		return &confirmation{JKT: p.JKT}, nil
	}
	if c.AuthMethod != "" && r.TLS != nil && len(r.TLS.PeerCertificates) > 0 {
		// a client that authenticated with its certificate: its tokens are
		// bound to it (RFC 8705 section 3)
		return &confirmation{X5T: thumbprint(r.TLS.PeerCertificates[0])}, nil
	}
	if t.CertificateBoundTokens && r.TLS != nil && len(r.TLS.VerifiedChains) > 0 && len(r.TLS.VerifiedChains[0]) > 0 {
		return &confirmation{X5T: thumbprint(r.TLS.VerifiedChains[0][0])}, nil
	}
	return nil, nil
}

// thumbprint is a certificate's x5t#S256.
func thumbprint(c *x509.Certificate) string {
	sum := sha256.Sum256(c.Raw)
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

// certificateClient authenticates a client by the certificate of the
// connection (RFC 8705 section 2): tls_client_auth wants a chain the TLS
// layer verified whose subject DN or a DNS name is the registered one;
// self_signed_tls_client_auth wants the registered certificate itself
// (the handshake proved its key; no chain is needed). Failures count
// against the client's throttles as wrong secrets do.
func (t *TokenService) certificateClient(r *http.Request, u *tokenUsers, id string) (*client, *oauthError) {
	invalid := oerr(http.StatusUnauthorized, "invalid_client", "client authentication failed")
	if id == "" || len(id) > throttle.MaxName {
		return nil, invalid
	}
	name, ip := throttle.ClientName(id), caddyauth.ClientIP(r)
	if t.limits.Active() {
		if wait := t.limits.Wait(name, ip); wait > 0 {
			return nil, throttled("invalid_client", wait)
		}
	}
	c, known := u.clients[id]
	ok := false
	if known && r.TLS != nil && len(r.TLS.PeerCertificates) > 0 {
		switch c.AuthMethod {
		case "tls_client_auth":
			if len(r.TLS.VerifiedChains) > 0 && len(r.TLS.VerifiedChains[0]) > 0 {
				leaf := r.TLS.VerifiedChains[0][0]
				ok = c.TLSSubjectDN != "" && leaf.Subject.String() == c.TLSSubjectDN ||
					c.TLSSANDNS != "" && slices.Contains(leaf.DNSNames, c.TLSSANDNS)
			}
		case "self_signed_tls_client_auth":
			got := thumbprint(r.TLS.PeerCertificates[0])
			ok = subtle.ConstantTimeCompare([]byte(got), []byte(c.TLSCertSHA256)) == 1
		}
	}
	if !ok {
		t.limits.Fail(name, ip)
		return nil, invalid
	}
	return c, nil
}

// bindingMetadata are the metadata's words on bound tokens.
func (t *TokenService) bindingMetadata() map[string]any {
	return map[string]any{"dpop_signing_alg_values_supported": t.dpop.Algorithms,
		"tls_client_certificate_bound_access_tokens": true} // clients that authenticate with a certificate always get bound tokens
}

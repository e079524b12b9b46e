// Package clientcert is rest_auth's client-certificate authenticator
// (mutual TLS, WSO2's ClientCertificate), module
// http.rest_auth.authenticators.client_cert, its provider for Caddy's own
// authentication handler (rest_client_cert), and the
// tls.client_auth.verifier.cert_cn module that refuses unwanted
// certificates during the handshake. Only a chain the TLS layer verified
// counts; the identity is read with package certcn.
package clientcert

import (
	"crypto/x509"
	"errors"
	"fmt"
	"net/http"
	"net/textproto"
	"strings"
	"sync"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"go.uber.org/zap"

	"github.com/restauth/caddy-restauth/caddyauth"
	"github.com/restauth/caddy-restauth/certcn"
)

func init() {
	caddy.RegisterModule(ClientCert{})
}

// ClientCert authenticates a client by the certificate it presented in the
// TLS handshake (mutual TLS). Its WSO2 name is ClientCertificate.
//
// Only a certificate that the TLS layer verified counts
// (r.TLS.VerifiedChains): under Caddy's client_auth modes request and
// require the certificate is not verified, and this handler refuses it. Use
// mode require_and_verify or verify_if_given with a trust_pool.
//
// In cn mode (WSO2's intermediate certificate validation) the certificate's
// one subject CN is the user; with trusted_issuer_cn, its issuer's CN must
// be one of them. In header mode (WSO2-Identity-User) a trusted client, one
// whose CN is in trusted_client, names the user in a request header;
// anyone else gets 401. Either way the user's roles come from the user
// store; an unknown user has none.
type ClientCert struct {
	// Username is "cn" (the default) or "header".
	Username string `json:"username,omitempty"`
	// Header is the request field that names the user in header mode.
	// Default: WSO2-Identity-User. It is deleted from every request before
	// the upstream sees it, whatever the mode of authentication.
	Header string `json:"header,omitempty"`
	// TrustedIssuerCN: in cn mode, the leaf's issuer CN must be one of
	// these, compared exactly. Empty: any issuer the TLS layer trusts.
	TrustedIssuerCN []string `json:"trusted_issuer_cn,omitempty"`
	// TrustedClient: in header mode, the CNs of clients that may name a
	// user. Required in header mode.
	TrustedClient []string `json:"trusted_client,omitempty"`
	// Realm goes in the 401 challenge. Default: "restricted".
	Realm string `json:"realm,omitempty"`

	logger     *zap.Logger
	warnOnce   *sync.Once
	headerName string
	ids        *identityCache
}

// identityCache remembers the identity of verified leaf certificates. A
// kept-alive connection hands every request the same *x509.Certificate,
// so after its first request reading the identity is one map look-up.
type identityCache struct {
	mu  sync.RWMutex
	ids map[*x509.Certificate]*identityResult
}

type identityResult struct {
	id  certcn.Identity
	err error
	cn  caddyauth.PrincipalCache // cn mode's principal, per snapshot
}

const identityCacheSize = 4096

func (ic *identityCache) identity(chain []*x509.Certificate) *identityResult {
	if ic == nil || len(chain) == 0 {
		id, err := certcn.FromChain(chain)
		return &identityResult{id: id, err: err}
	}
	leaf := chain[0]
	ic.mu.RLock()
	res, ok := ic.ids[leaf]
	ic.mu.RUnlock()
	if ok {
		return res
	}
	id, err := certcn.FromChain(chain)
	res = &identityResult{id: id, err: err}
	ic.mu.Lock()
	if len(ic.ids) >= identityCacheSize {
		clear(ic.ids) // certificates of closed connections go too
	}
	ic.ids[leaf] = res
	ic.mu.Unlock()
	return res
}

// CaddyModule returns the Caddy module information.
func (ClientCert) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "http.rest_auth.authenticators.client_cert",
		New: func() caddy.Module { return new(ClientCert) },
	}
}

// Provision sets defaults.
func (c *ClientCert) Provision(ctx caddy.Context) error {
	c.logger = ctx.Logger()
	c.warnOnce = new(sync.Once)
	c.ids = &identityCache{ids: make(map[*x509.Certificate]*identityResult)}
	if c.Username == "" {
		c.Username = "cn"
	}
	if c.Realm == "" {
		c.Realm = "restricted"
	}
	if c.Username == "header" && c.Header == "" {
		c.Header = "WSO2-Identity-User"
	}
	c.headerName = textproto.CanonicalMIMEHeaderKey(c.Header)
	return nil
}

// Validate checks the settings.
func (c *ClientCert) Validate() error {
	if strings.ContainsAny(c.Realm, "\"\\\r\n") {
		return errors.New("client_cert: realm must not contain quotes, backslashes or line breaks")
	}
	switch c.Username {
	case "cn":
		if c.Header != "" || len(c.TrustedClient) > 0 {
			return errors.New("client_cert: header and trusted_client belong to username header")
		}
	case "header":
		if len(c.TrustedClient) == 0 {
			return errors.New("client_cert: username header needs trusted_client (the CNs that may name a user)")
		}
		if len(c.TrustedIssuerCN) > 0 {
			return errors.New("client_cert: trusted_issuer_cn belongs to username cn")
		}
		if strings.ContainsAny(c.Header, " :\r\n") {
			return fmt.Errorf("client_cert: %q is not a header field name", c.Header)
		}
	default:
		return fmt.Errorf("client_cert: username must be cn or header, not %q", c.Username)
	}
	return nil
}

// Name returns "client_cert".
func (*ClientCert) Name() string { return "client_cert" }

// WSO2Name returns "ClientCertificate".
func (*ClientCert) WSO2Name() string { return "ClientCertificate" }

// Present reports whether the client sent a certificate in the handshake.
func (*ClientCert) Present(r *http.Request) bool {
	return r.TLS != nil && len(r.TLS.PeerCertificates) > 0
}

// Challenge: TLS client authentication has no registered HTTP scheme, but
// every 401 must carry a challenge (RFC 7235 section 3.1), so the
// handler's WSO2 name serves as one: ClientCertificate realm="...". A
// client that can only authenticate with a certificate learns that it
// must present one in the TLS handshake.
func (c *ClientCert) Challenge(error) string {
	return `ClientCertificate realm="` + c.Realm + `"`
}

// StripHeaders names the request fields that the handler deletes before
// passing a request on: the header-mode user field.
func (c *ClientCert) StripHeaders() []string {
	if c.headerName == "" {
		return nil
	}
	return []string{c.headerName}
}

// Authenticate reads the user from the verified certificate.
func (c *ClientCert) Authenticate(r *http.Request, s *caddyauth.Snapshot) (*caddyauth.Principal, error) {
	if len(r.TLS.VerifiedChains) == 0 {
		c.warnOnce.Do(func() {
			c.logger.Warn("a client certificate arrived unverified; client_cert never trusts one. " +
				"Set the TLS client_auth mode to require_and_verify or verify_if_given with a trust_pool")
		})
		return nil, caddyauth.Deny("cert.unverified")
	}
	res := c.ids.identity(r.TLS.VerifiedChains[0])
	if res.err != nil {
		return nil, caddyauth.Deny("cert.bad_subject")
	}
	id := res.id
	user := id.SubjectCN
	if c.Username == "header" {
		if !certcn.TrustedClient(id, c.TrustedClient) {
			return nil, caddyauth.Deny("cert.untrusted_client")
		}
		vals := r.Header.Values(c.headerName)
		switch {
		case len(vals) > 1:
			return nil, &caddyauth.Denial{Status: http.StatusBadRequest, Reason: "cert.multiple_users"}
		case len(vals) == 0 || !validUser(vals[0]):
			return nil, caddyauth.Deny("cert.no_user")
		}
		user = vals[0]
	} else {
		if !certcn.IssuerTrusted(id, c.TrustedIssuerCN) {
			return nil, caddyauth.Deny("cert.untrusted_issuer")
		}
		if p := res.cn.Get(s, "client_cert"); p != nil {
			return p, nil
		}
		p, err := certPrincipal(r, user, s)
		if err == nil {
			res.cn.Put(s, "client_cert", p)
		}
		return p, err
	}
	return certPrincipal(r, user, s)
}

// certPrincipal is a certificate's user with the store's roles for it; an
// unknown user has none.
func certPrincipal(r *http.Request, user string, s *caddyauth.Snapshot) (*caddyauth.Principal, error) {
	a, err := s.Lookup(r.Context(), user)
	if err != nil {
		return nil, err // the store could not tell: 503
	}
	if a != nil {
		return s.Principal(a, "client_cert"), nil
	}
	return s.NewPrincipal(caddyauth.Principal{User: user, AuthMethod: "client_cert"}), nil
}

// validUser accepts a user name from a header: not empty, no control
// characters, no surrounding spaces, not over 256 bytes.
func validUser(u string) bool {
	if u == "" || len(u) > 256 || strings.TrimSpace(u) != u {
		return false
	}
	return !strings.ContainsFunc(u, func(r rune) bool { return r < 0x20 || r == 0x7f })
}

// UnmarshalCaddyfile sets up the handler from Caddyfile tokens:
//
//	client_cert [{
//		realm <realm>
//		username cn | header [<field>]
//		trusted_issuer_cn <cn>...
//		trusted_client <cn>...
//	}]
//
// CNs may be written with RFC 4514 escapes ("ACME\, Inc.").
func (c *ClientCert) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	d.Next() // handler name
	if d.NextArg() {
		return d.ArgErr()
	}
	for d.NextBlock(0) {
		switch d.Val() {
		case "username":
			args := d.RemainingArgs()
			switch {
			case len(args) == 1 && args[0] == "cn":
				c.Username = "cn"
			case len(args) >= 1 && len(args) <= 2 && args[0] == "header":
				c.Username = "header"
				if len(args) == 2 {
					c.Header = args[1]
				}
			default:
				return d.Err("username: cn, or header [<field>]")
			}
		case "realm":
			if err := caddyauth.OneArg(d, &c.Realm); err != nil {
				return err
			}
		case "trusted_issuer_cn":
			if err := cnArgs(d, &c.TrustedIssuerCN); err != nil {
				return err
			}
		case "trusted_client":
			if err := cnArgs(d, &c.TrustedClient); err != nil {
				return err
			}
		default:
			return caddyauth.UnknownOption(d, "client_cert", []string{"realm", "username", "trusted_issuer_cn", "trusted_client"})
		}
	}
	return nil
}

// cnArgs reads one or more CNs, written with RFC 4514 escapes or not, and
// adds their raw values to dst.
func cnArgs(d *caddyfile.Dispenser, dst *[]string) error {
	opt := d.Val()
	args := d.RemainingArgs()
	if len(args) == 0 {
		return d.ArgErr()
	}
	for _, a := range args {
		cn, err := certcn.Unescape(a)
		if err != nil {
			return d.Errf("%s %q: %v", opt, a, err)
		}
		*dst = append(*dst, cn)
	}
	return nil
}

// Interface guards
var (
	_ caddyauth.Authenticator = (*ClientCert)(nil)
	_ caddy.Provisioner       = (*ClientCert)(nil)
	_ caddy.Validator         = (*ClientCert)(nil)
	_ caddyfile.Unmarshaler   = (*ClientCert)(nil)
)

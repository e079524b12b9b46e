package clientcert

import (
	"crypto/x509"
	"errors"
	"slices"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddytls"

	"github.com/restauth/caddy-restauth/caddyauth"
	"github.com/restauth/caddy-restauth/certcn"
)

func init() {
	caddy.RegisterModule(CertCNVerifier{})
}

// CertCNVerifier refuses client certificates at the TLS handshake unless a
// verified chain passes through a trusted CA common name and/or the leaf's
// one subject CN is allowed, so unwanted certificates fail before any HTTP
// is read. It needs a client_auth mode that verifies (require_and_verify or
// verify_if_given with a trust_pool): without a verified chain it refuses.
//
//	client_auth {
//		mode require_and_verify
//		trust_pool file ca.pem
//		verifier cert_cn {
//			trusted_issuer_cn "Team A Issuing CA"
//			allowed_cn svc-gateway alice
//		}
//	}
type CertCNVerifier struct {
	// TrustedIssuerCN: a verified chain must pass through a CA (any
	// certificate after the leaf) whose subject CN is one of these,
	// compared exactly.
	TrustedIssuerCN []string `json:"trusted_issuer_cn,omitempty"`
	// AllowedCN: the leaf's one subject CN must be one of these.
	AllowedCN []string `json:"allowed_cn,omitempty"`
}

// CaddyModule returns the Caddy module information.
func (CertCNVerifier) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "tls.client_auth.verifier.cert_cn",
		New: func() caddy.Module { return new(CertCNVerifier) },
	}
}

// Validate requires at least one rule.
func (v *CertCNVerifier) Validate() error {
	if len(v.TrustedIssuerCN) == 0 && len(v.AllowedCN) == 0 {
		return errors.New("cert_cn: give trusted_issuer_cn, allowed_cn or both")
	}
	return nil
}

// Errors the handshake fails with (the client sees a TLS alert).
var (
	errUnverifiedChain = errors.New("cert_cn: the client certificate was not verified (client_auth mode must verify)")
	errCertCNRefused   = errors.New("cert_cn: the client certificate is not allowed")
)

// VerifyClientCertificate accepts when some verified chain passes both
// rules.
func (v *CertCNVerifier) VerifyClientCertificate(_ [][]byte, chains [][]*x509.Certificate) error {
	if len(chains) == 0 {
		return errUnverifiedChain
	}
	for _, chain := range chains {
		id, err := certcn.FromChain(chain)
		if err != nil {
			continue
		}
		if len(v.AllowedCN) > 0 && !slices.Contains(v.AllowedCN, id.SubjectCN) {
			continue
		}
		if len(v.TrustedIssuerCN) > 0 && !certcn.ChainThrough(chain, v.TrustedIssuerCN) {
			continue
		}
		return nil
	}
	return errCertCNRefused
}

// UnmarshalCaddyfile reads:
//
//	cert_cn {
//		trusted_issuer_cn <cn>...
//		allowed_cn <cn>...
//	}
//
// CNs may be written with RFC 4514 escapes.
func (v *CertCNVerifier) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	d.Next() // module name
	if d.NextArg() {
		return d.ArgErr()
	}
	for d.NextBlock(0) {
		opt := d.Val()
		var dst *[]string
		switch opt {
		case "trusted_issuer_cn":
			dst = &v.TrustedIssuerCN
		case "allowed_cn":
			dst = &v.AllowedCN
		default:
			return caddyauth.UnknownOption(d, "cert_cn", []string{"trusted_issuer_cn", "allowed_cn"})
		}
		if err := cnArgs(d, dst); err != nil {
			return err
		}
	}
	return nil
}

// Interface guards
var (
	_ caddytls.ClientCertificateVerifier = (*CertCNVerifier)(nil)
	_ caddy.Validator                    = (*CertCNVerifier)(nil)
	_ caddyfile.Unmarshaler              = (*CertCNVerifier)(nil)
)

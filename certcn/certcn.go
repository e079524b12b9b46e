// Package certcn reads the identity of a verified client certificate: its
// subject common name (exactly one), its issuer's common name and its
// SHA-256 fingerprint, and applies WSO2's two trust rules for mutual TLS:
// intermediate-certificate validation (the leaf's issuer CN is trusted) and
// the trusted client that may name a user in a header.
//
// It has no Caddy import. It never verifies a chain itself: it is given a
// chain that crypto/tls already verified.
package certcn

import (
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/hex"
	"errors"
	"slices"
	"strings"
	"unicode/utf8"
)

// Errors for subjects that do not name exactly one usable CN.
var (
	ErrNoChain = errors.New("certcn: no verified chain")
	ErrNoCN    = errors.New("certcn: the name has no common name")
	ErrManyCNs = errors.New("certcn: the name has more than one common name")
	ErrBadCN   = errors.New("certcn: the common name is empty, not a string, not UTF-8 or has control characters")
	ErrBadName = errors.New("certcn: the name is not a DER RDN sequence")
)

// MaxCN bounds a common name (RFC 5280's upper bound is 64 characters;
// longer ones are refused rather than truncated).
const MaxCN = 256

var oidCN = asn1.ObjectIdentifier{2, 5, 4, 3}

// An Identity is what a verified leaf certificate says about its holder.
type Identity struct {
	// SubjectCN is the leaf's one subject common name, as its bytes say:
	// no RFC 4514 escaping (a CN "a,b" is the five characters a,b).
	SubjectCN string
	// IssuerCN is the issuing CA's common name, "" when it has none.
	IssuerCN string
	// Fingerprint is the SHA-256 of the leaf's DER encoding.
	Fingerprint [32]byte
}

// FingerprintHex is the fingerprint in lower-case hex.
func (id Identity) FingerprintHex() string { return hex.EncodeToString(id.Fingerprint[:]) }

// FromChain reads the identity of a verified chain's leaf (chain[0]).
func FromChain(chain []*x509.Certificate) (Identity, error) {
	if len(chain) == 0 || chain[0] == nil {
		return Identity{}, ErrNoChain
	}
	leaf := chain[0]
	cn, err := CommonName(leaf.RawSubject)
	if err != nil {
		return Identity{}, err
	}
	issuer, err := CommonName(leaf.RawIssuer)
	if err != nil && !errors.Is(err, ErrNoCN) {
		return Identity{}, err
	}
	return Identity{SubjectCN: cn, IssuerCN: issuer, Fingerprint: sha256.Sum256(leaf.Raw)}, nil
}

// CommonName returns the one common name of a DER-encoded distinguished
// name. It reads the attributes themselves (OID 2.5.4.3), never the
// string form, so "O=CN=admin" is not a CN and two CN attributes, wherever
// they are, are an error (Go's pkix.Name would keep the last one).
func CommonName(der []byte) (string, error) {
	var rdns pkix.RDNSequence
	rest, err := asn1.Unmarshal(der, &rdns)
	if err != nil || len(rest) != 0 {
		return "", ErrBadName
	}
	var cn string
	found := false
	for _, rdn := range rdns {
		for _, atv := range rdn {
			if !atv.Type.Equal(oidCN) {
				continue
			}
			if found {
				return "", ErrManyCNs
			}
			found = true
			s, ok := atv.Value.(string)
			if !ok || !validCN(s) {
				return "", ErrBadCN
			}
			cn = s
		}
	}
	if !found {
		return "", ErrNoCN
	}
	return cn, nil
}

// validCN refuses empty, over-long, non-UTF-8 names and names with control
// characters (C0, DEL, C1).
func validCN(s string) bool {
	if s == "" || len(s) > MaxCN || !utf8.ValidString(s) {
		return false
	}
	for _, r := range s {
		if r < 0x20 || (r >= 0x7f && r < 0xa0) {
			return false
		}
	}
	return true
}

// IssuerTrusted is WSO2's intermediate-certificate validation: the leaf's
// issuer CN is one of the trusted CNs, compared exactly. An empty list
// trusts every issuer the TLS layer trusts.
func IssuerTrusted(id Identity, trusted []string) bool {
	return len(trusted) == 0 || (id.IssuerCN != "" && slices.Contains(trusted, id.IssuerCN))
}

// ChainThrough reports whether a verified chain passes through a CA (any
// certificate after the leaf) whose subject CN is one of the trusted CNs.
func ChainThrough(chain []*x509.Certificate, trusted []string) bool {
	for _, c := range chain[min(1, len(chain)):] {
		if cn, err := CommonName(c.RawSubject); err == nil && slices.Contains(trusted, cn) {
			return true
		}
	}
	return false
}

// TrustedClient is WSO2's header-mode rule: only a client whose certificate
// CN is in the trusted list may name a user. An empty list trusts nobody.
func TrustedClient(id Identity, trusted []string) bool {
	return id.SubjectCN != "" && slices.Contains(trusted, id.SubjectCN)
}

// Escape renders a CN in RFC 4514 form, for messages and logs: special
// characters get a backslash, non-printable bytes a \XX escape.
func Escape(cn string) string {
	var b strings.Builder
	for i := 0; i < len(cn); i++ {
		c := cn[i]
		switch {
		case c == ',' || c == '+' || c == '"' || c == '\\' || c == '<' || c == '>' || c == ';' || c == '=' ||
			(i == 0 && (c == '#' || c == ' ')) || (i == len(cn)-1 && c == ' '):
			b.WriteByte('\\')
			b.WriteByte(c)
		case c < 0x20 || c == 0x7f:
			b.WriteString(`\` + strings.ToUpper(hex.EncodeToString([]byte{c})))
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}

// Unescape reads a CN written in RFC 4514 form (as a configuration may
// give it: "ACME\, Inc." or "caf\C3\A9") into its raw value.
func Unescape(s string) (string, error) {
	if !strings.Contains(s, `\`) {
		return s, nil
	}
	var b []byte
	for i := 0; i < len(s); i++ {
		if s[i] != '\\' {
			b = append(b, s[i])
			continue
		}
		if i+1 >= len(s) {
			return "", errors.New("certcn: a trailing backslash")
		}
		if i+2 < len(s) && isHex(s[i+1]) && isHex(s[i+2]) {
			v, _ := hex.DecodeString(s[i+1 : i+3])
			b = append(b, v[0])
			i += 2
			continue
		}
		b = append(b, s[i+1])
		i++
	}
	if !utf8.Valid(b) {
		return "", errors.New("certcn: the escaped name is not UTF-8")
	}
	return string(b), nil
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

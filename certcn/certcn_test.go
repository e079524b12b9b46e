package certcn

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"errors"
	"math/big"
	"strings"
	"testing"
	"time"
)

func name(t *testing.T, atvs ...pkix.AttributeTypeAndValue) []byte {
	t.Helper()
	var rdns pkix.RDNSequence
	for _, a := range atvs {
		rdns = append(rdns, pkix.RelativeDistinguishedNameSET{a})
	}
	der, err := asn1.Marshal(rdns)
	if err != nil {
		t.Fatal(err)
	}
	return der
}

func cn(v any) pkix.AttributeTypeAndValue { return pkix.AttributeTypeAndValue{Type: oidCN, Value: v} }
func org(v string) pkix.AttributeTypeAndValue {
	return pkix.AttributeTypeAndValue{Type: asn1.ObjectIdentifier{2, 5, 4, 10}, Value: v}
}

func TestCommonName(t *testing.T) {
	cases := []struct {
		name string
		der  []byte
		want string
		err  error
	}{
		{"one CN", name(t, org("Acme"), cn("alice")), "alice", nil},
		{"RFC 4514 specials are plain bytes", name(t, cn(`a,b+c"d\e`)), `a,b+c"d\e`, nil},
		{"two CNs", name(t, cn("alice"), cn("admin")), "", ErrManyCNs},
		{"two CNs, reverse order", name(t, cn("admin"), cn("alice")), "", ErrManyCNs},
		{"O=CN=admin is not a CN", name(t, org("CN=admin"), cn("bob")), "bob", nil},
		{"no CN", name(t, org("Acme")), "", ErrNoCN},
		{"empty CN", name(t, cn("")), "", ErrBadCN},
		{"NUL inside", name(t, cn("admin\x00.evil")), "", ErrBadCN},
		{"newline", name(t, cn("admin\nx")), "", ErrBadCN},
		{"C1 control", name(t, cn("admin\u0085")), "", ErrBadCN},
		{"non-string value", name(t, cn(42)), "", ErrBadCN},
		{"too long", name(t, cn(strings.Repeat("a", MaxCN+1))), "", ErrBadCN},
		{"trailing space kept exactly", name(t, cn("admin ")), "admin ", nil},
		{"Cyrillic is not Latin", name(t, cn("\u0430dmin")), "\u0430dmin", nil},
		{"garbage", []byte{0x30, 0x03, 0x01}, "", ErrBadName},
		{"trailing bytes", append(name(t, cn("a")), 0), "", ErrBadName},
	}
	for _, c := range cases {
		got, err := CommonName(c.der)
		if got != c.want || !errors.Is(err, c.err) {
			t.Errorf("%s: %q, %v; want %q, %v", c.name, got, err, c.want, c.err)
		}
	}
}

// chain makes root -> intermediate -> leaf with the given subject CNs.
func chain(t *testing.T, rootCN, interCN string, leaf pkix.Name) []*x509.Certificate {
	t.Helper()
	mk := func(tmpl, parent *x509.Certificate, pub, signer any) *x509.Certificate {
		der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, pub, signer)
		if err != nil {
			t.Fatal(err)
		}
		c, err := x509.ParseCertificate(der)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	key := func() *ecdsa.PrivateKey {
		k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		return k
	}
	now := time.Now()
	rk, ik, lk := key(), key(), key()
	ca := func(n int64, cn string) *x509.Certificate {
		return &x509.Certificate{SerialNumber: big.NewInt(n), Subject: pkix.Name{CommonName: cn}, NotBefore: now.Add(-time.Hour),
			NotAfter: now.Add(time.Hour), IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	}
	root := mk(ca(1, rootCN), ca(1, rootCN), &rk.PublicKey, rk)
	inter := mk(ca(2, interCN), root, &ik.PublicKey, rk)
	l := mk(&x509.Certificate{SerialNumber: big.NewInt(3), Subject: leaf, NotBefore: now.Add(-time.Hour), NotAfter: now.Add(time.Hour),
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}, inter, &lk.PublicKey, ik)
	return []*x509.Certificate{l, inter, root}
}

func TestIdentityAndRules(t *testing.T) {
	c := chain(t, "Test Root", "Team A, Issuing", pkix.Name{CommonName: "svc-gateway", Organization: []string{"Acme"}})
	id, err := FromChain(c)
	if err != nil {
		t.Fatal(err)
	}
	if id.SubjectCN != "svc-gateway" || id.IssuerCN != "Team A, Issuing" || len(id.FingerprintHex()) != 64 {
		t.Fatalf("identity %+v", id)
	}
	esc, err := Unescape(`Team A\, Issuing`)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		ok   bool
	}{
		{"issuer trusted (escaped config form)", IssuerTrusted(id, []string{esc})},
		{"empty trusted-issuer list trusts the TLS layer", IssuerTrusted(id, nil)},
		{"chain passes through the intermediate", ChainThrough(c, []string{"Team A, Issuing"})},
		{"chain passes through the root", ChainThrough(c, []string{"Test Root"})},
		{"trusted client", TrustedClient(id, []string{"other", "svc-gateway"})},
	} {
		if !tc.ok {
			t.Errorf("%s: false", tc.name)
		}
	}
	for _, tc := range []struct {
		name string
		ok   bool
	}{
		{"issuer compared exactly (case)", IssuerTrusted(id, []string{"team a, issuing"})},
		{"issuer compared exactly (escaped text is not the name)", IssuerTrusted(id, []string{`Team A\, Issuing`})},
		{"the leaf itself is not on its own path", ChainThrough(c, []string{"svc-gateway"})},
		{"no trusted clients", TrustedClient(id, nil)},
		{"untrusted client", TrustedClient(id, []string{"svc"})},
	} {
		if tc.ok {
			t.Errorf("%s: true", tc.name)
		}
	}
	if _, err := FromChain(nil); !errors.Is(err, ErrNoChain) {
		t.Errorf("empty chain: %v", err)
	}
}

func TestEscape(t *testing.T) {
	for raw, esc := range map[string]string{
		"alice":          "alice",
		"ACME, Inc.":     `ACME\, Inc.`,
		" lead":          `\ lead`,
		"trail ":         `trail\ `,
		"#x":             `\#x`,
		"a+b=c;d<e>\"\\": `a\+b\=c\;d\<e\>\"\\`,
		"nul\x00":        `nul\00`,
	} {
		if got := Escape(raw); got != esc {
			t.Errorf("Escape(%q) = %q, want %q", raw, got, esc)
		}
		if back, err := Unescape(esc); err != nil || back != raw {
			t.Errorf("Unescape(%q) = %q, %v", esc, back, err)
		}
	}
	if got, _ := Unescape(`caf\C3\A9`); got != "café" {
		t.Errorf("hex escapes: %q", got)
	}
	for _, bad := range []string{`x\`, `\FF`} {
		if _, err := Unescape(bad); err == nil {
			t.Errorf("Unescape(%q) succeeded", bad)
		}
	}
}

// FuzzCommonName: parsing a name never panics; an accepted CN is valid and
// is the only CN attribute.
func FuzzCommonName(f *testing.F) {
	for _, n := range []pkix.RDNSequence{
		{{cn("alice")}},
		{{cn("a")}, {cn("b")}},
		{{org("CN=admin")}, {cn("bob")}},
	} {
		der, _ := asn1.Marshal(n)
		f.Add(der)
	}
	f.Fuzz(func(t *testing.T, der []byte) {
		got, err := CommonName(der)
		if err != nil {
			return
		}
		if !validCN(got) {
			t.Fatalf("accepted an invalid CN %q", got)
		}
		var rdns pkix.RDNSequence
		asn1.Unmarshal(der, &rdns)
		n := 0
		for _, rdn := range rdns {
			for _, a := range rdn {
				if a.Type.Equal(oidCN) {
					n++
				}
			}
		}
		if n != 1 {
			t.Fatalf("accepted a name with %d CNs", n)
		}
	})
}

// FuzzUnescape: what Escape writes, Unescape reads back.
func FuzzUnescape(f *testing.F) {
	for _, s := range []string{"alice", `a\,b`, `\41`, `x\`, "nul\x00"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if !validCN(s) && s != "" && !strings.ContainsRune(s, 0) {
			return
		}
		if back, err := Unescape(Escape(s)); err != nil || back != s {
			if strings.ToValidUTF8(s, "") == s {
				t.Fatalf("round trip of %q: %q, %v", s, back, err)
			}
		}
		_, _ = Unescape(s)
	})
}

package bearer

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"strings"
)

// minRSABits is the smallest RSA key accepted for signatures.
const minRSABits = 2048

// A verifyKey is one public key (or HMAC secret) that may check tokens.
type verifyKey struct {
	kid string
	alg string // the JWK's "alg", "" when it does not name one
	key crypto.PublicKey
}

// keySet is an immutable list of keys.
type keySet []verifyKey

// has reports whether some key may verify a token with this kid and alg.
// A kid is a hint (RFC 7515 section 4.1.4): a key that has one must match
// the token's, and a key without one (a PEM key, say) is a candidate for
// any token, with a kid or not. Every candidate must fit the alg.
func (ks keySet) has(kid, alg string) bool {
	for _, k := range ks {
		if k.candidate(kid, alg) {
			return true
		}
	}
	return false
}

// candidate reports whether the key may verify a token with this kid and
// alg (see has).
func (k verifyKey) candidate(kid, alg string) bool {
	return (k.kid == "" || k.kid == kid) && (k.alg == "" || k.alg == alg) && keyFits(k.key, alg)
}

// fingerprint is a digest of the keys, their ids and algs: two fetches
// of the same set have the same one.
func (ks keySet) fingerprint() [32]byte {
	h := sha256.New()
	for _, k := range ks {
		fmt.Fprintf(h, "%q %q ", k.kid, k.alg)
		if der, err := x509.MarshalPKIXPublicKey(k.key); err == nil {
			h.Write(der)
		} else if b, ok := k.key.([]byte); ok {
			h.Write(b)
		}
		h.Write([]byte{'\n'})
	}
	var out [32]byte
	h.Sum(out[:0])
	return out
}

// keyFits reports whether a key's type is the one an algorithm needs, so an
// RSA public key can never be used as an HMAC secret and a P-384 key never
// checks ES256.
func keyFits(key crypto.PublicKey, alg string) bool {
	switch k := key.(type) {
	case *rsa.PublicKey:
		return strings.HasPrefix(alg, "RS") || strings.HasPrefix(alg, "PS")
	case *ecdsa.PublicKey:
		switch alg {
		case "ES256":
			return k.Curve == elliptic.P256()
		case "ES384":
			return k.Curve == elliptic.P384()
		case "ES512":
			return k.Curve == elliptic.P521()
		}
	case ed25519.PublicKey:
		return alg == "EdDSA"
	case []byte:
		return strings.HasPrefix(alg, "HS")
	}
	return false
}

// jwk is the JSON form of a key (RFC 7517, RFC 7518 section 6, RFC 8037).
type jwk struct {
	Kty string `json:"kty"`
	Kid string `json:"kid"`
	Use string `json:"use"`
	Alg string `json:"alg"`
	N   string `json:"n"`
	E   string `json:"e"`
	Crv string `json:"crv"`
	X   string `json:"x"`
	Y   string `json:"y"`
	K   string `json:"k"`
}

// parseJWKSet reads a JWK set ({"keys":[...]}) or a single JWK. Keys that
// are not for signatures, of unknown types or too weak are skipped, and so
// are symmetric (oct) keys unless symmetric is set: a key set fetched from
// a URL is public, and a published HMAC key would let anyone sign. An
// error is returned when no key is left or the JSON is not a key set.
func parseJWKSet(data []byte, symmetric bool) (keySet, error) {
	var set struct {
		Keys []json.RawMessage `json:"keys"`
	}
	if err := json.Unmarshal(data, &set); err != nil {
		return nil, fmt.Errorf("not a JWK set: %w", err)
	}
	raws := set.Keys
	if raws == nil {
		raws = []json.RawMessage{data} // a single key
	}
	var ks keySet
	var skipped []string
	for i, raw := range raws {
		var j jwk
		if err := json.Unmarshal(raw, &j); err != nil {
			return nil, fmt.Errorf("key %d: %w", i, err)
		}
		if j.Kty == "oct" && !symmetric {
			skipped = append(skipped, fmt.Sprintf("key %d (kid %q): a symmetric key from a URL is refused", i, j.Kid))
			continue
		}
		k, err := j.publicKey()
		if err != nil {
			skipped = append(skipped, fmt.Sprintf("key %d (kid %q): %v", i, j.Kid, err))
			continue
		}
		ks = append(ks, verifyKey{kid: j.Kid, alg: j.Alg, key: k})
	}
	if len(ks) == 0 {
		if len(skipped) > 0 {
			return nil, fmt.Errorf("no usable key: %s", strings.Join(skipped, "; "))
		}
		return nil, errors.New("no keys")
	}
	return ks, nil
}

func (j *jwk) publicKey() (crypto.PublicKey, error) {
	if j.Use != "" && j.Use != "sig" {
		return nil, fmt.Errorf("use %q is not sig", j.Use)
	}
	switch j.Kty {
	case "RSA":
		n, err := b64int(j.N)
		if err != nil {
			return nil, fmt.Errorf("n: %w", err)
		}
		e, err := b64int(j.E)
		if err != nil {
			return nil, fmt.Errorf("e: %w", err)
		}
		if !e.IsInt64() || e.Int64() < 3 || e.Int64() > 1<<31-1 || e.Bit(0) == 0 {
			return nil, errors.New("bad RSA exponent")
		}
		k := &rsa.PublicKey{N: n, E: int(e.Int64())}
		if k.N.BitLen() < minRSABits {
			return nil, fmt.Errorf("RSA key of %d bits is too small", k.N.BitLen())
		}
		return k, nil
	case "EC":
		var c elliptic.Curve
		switch j.Crv {
		case "P-256":
			c = elliptic.P256()
		case "P-384":
			c = elliptic.P384()
		case "P-521":
			c = elliptic.P521()
		default:
			return nil, fmt.Errorf("unknown curve %q", j.Crv)
		}
		x, err := b64int(j.X)
		if err != nil {
			return nil, fmt.Errorf("x: %w", err)
		}
		y, err := b64int(j.Y)
		if err != nil {
			return nil, fmt.Errorf("y: %w", err)
		}
		size := (c.Params().BitSize + 7) / 8
		pt := make([]byte, 1+2*size)
		pt[0] = 4
		if len(x.Bytes()) > size || len(y.Bytes()) > size {
			return nil, errors.New("coordinate too long")
		}
		x.FillBytes(pt[1 : 1+size])
		y.FillBytes(pt[1+size:])
		// ParseUncompressedPublicKey checks that the point is on the curve.
		k, err := ecdsa.ParseUncompressedPublicKey(c, pt)
		if err != nil {
			return nil, fmt.Errorf("bad EC point: %w", err)
		}
		return k, nil
	case "OKP":
		if j.Crv != "Ed25519" {
			return nil, fmt.Errorf("unknown curve %q", j.Crv)
		}
		x, err := base64.RawURLEncoding.DecodeString(j.X)
		if err != nil || len(x) != ed25519.PublicKeySize {
			return nil, errors.New("bad Ed25519 key")
		}
		return ed25519.PublicKey(x), nil
	case "oct":
		k, err := base64.RawURLEncoding.DecodeString(j.K)
		if err != nil {
			return nil, errors.New("bad k")
		}
		if len(k) < minSecret {
			return nil, fmt.Errorf("HMAC key of %d bytes is shorter than %d", len(k), minSecret)
		}
		return k, nil
	}
	return nil, fmt.Errorf("unknown key type %q", j.Kty)
}

func b64int(s string) (*big.Int, error) {
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil || len(b) == 0 {
		return nil, errors.New("not base64url")
	}
	return new(big.Int).SetBytes(b), nil
}

// minSecret is the shortest HMAC secret accepted: 256 bits, as RFC 7518
// section 3.2 asks for HS256.
const minSecret = 32

// parseKeyFile reads public keys from PEM (PKIX public keys, certificates,
// PKCS#1 RSA public keys) or from a JWK set.
func parseKeyFile(data []byte) (keySet, error) {
	trimmed := strings.TrimSpace(string(data))
	if strings.HasPrefix(trimmed, "{") {
		return parseJWKSet(data, true) // a local file may hold an HMAC key
	}
	var ks keySet
	rest := data
	for {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			break
		}
		var key crypto.PublicKey
		var err error
		switch block.Type {
		case "PUBLIC KEY":
			key, err = x509.ParsePKIXPublicKey(block.Bytes)
		case "RSA PUBLIC KEY":
			key, err = x509.ParsePKCS1PublicKey(block.Bytes)
		case "CERTIFICATE":
			var cert *x509.Certificate
			if cert, err = x509.ParseCertificate(block.Bytes); err == nil {
				key = cert.PublicKey
			}
		default:
			return nil, fmt.Errorf("PEM block %q is not a public key (never give a private key here)", block.Type)
		}
		if err != nil {
			return nil, fmt.Errorf("PEM block %q: %w", block.Type, err)
		}
		if rk, ok := key.(*rsa.PublicKey); ok && rk.N.BitLen() < minRSABits {
			return nil, fmt.Errorf("RSA key of %d bits is too small", rk.N.BitLen())
		}
		ks = append(ks, verifyKey{key: key})
	}
	if len(ks) == 0 {
		return nil, errors.New("no PEM public key or JWK set found")
	}
	return ks, nil
}

package bearer

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	josejwt "github.com/go-jose/go-jose/v4/jwt"
	"github.com/golang-jwt/jwt/v5"

	"github.com/restauth/caddy-restauth/caddyauth"
)

// verifyFixture is one validator with an RSA key (no kid, as from PEM)
// and an EC key (kid "e"), a fixed clock, and the keys' private halves to
// sign with.
type verifyFixture struct {
	v   *JWTValidator
	rsa *rsa.PrivateKey
	ec  *ecdsa.PrivateKey
	now time.Time
}

var fixtureRSA, fixtureEC = func() (*rsa.PrivateKey, *ecdsa.PrivateKey) {
	r, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		panic(err)
	}
	e, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		panic(err)
	}
	return r, e
}()

func newVerifyFixture(t testing.TB) *verifyFixture {
	now := time.Unix(1_900_000_000, 0)
	v := &JWTValidator{
		Issuers:    []string{"https://issuer.test"},
		Audiences:  []string{"api"},
		Algorithms: []string{"RS256", "ES256"},
		keys:       keySet{{key: &fixtureRSA.PublicKey}, {kid: "e", key: &fixtureEC.PublicKey}},
		now:        func() time.Time { return now },
	}
	if err := v.setup(); err != nil {
		t.Fatal(err)
	}
	return &verifyFixture{v: v, rsa: fixtureRSA, ec: fixtureEC, now: now}
}

var b64 = base64.RawURLEncoding

// sign makes a compact JWS of exactly these header and payload bytes with
// the RSA key (rs) or the EC key.
func (f *verifyFixture) sign(t testing.TB, header, payload []byte, rs bool) string {
	input := b64.EncodeToString(header) + "." + b64.EncodeToString(payload)
	var (
		sig []byte
		err error
	)
	if rs {
		sig, err = jwt.SigningMethodRS256.Sign(input, f.rsa)
	} else {
		sig, err = jwt.SigningMethodES256.Sign(input, f.ec)
	}
	if err != nil {
		t.Fatal(err)
	}
	return input + "." + b64.EncodeToString(sig)
}

// joseAccepts is the independent answer: go-jose parses the token with
// the same algorithms, verifies it with one of the same keys, and checks
// the same claims at the same time with the same leeway. It returns the
// subject.
func (f *verifyFixture) joseAccepts(tok string) (string, bool) {
	parsed, err := josejwt.ParseSigned(tok, []jose.SignatureAlgorithm{jose.RS256, jose.ES256})
	if err != nil || len(parsed.Headers) != 1 {
		return "", false
	}
	h := parsed.Headers[0]
	for _, key := range []any{&f.rsa.PublicKey, &f.ec.PublicKey} {
		if key == any(&f.ec.PublicKey) && h.KeyID != "e" {
			continue
		}
		var c josejwt.Claims
		if parsed.Claims(key, &c) != nil {
			continue
		}
		if c.Expiry == nil || c.Subject == "" {
			return "", false
		}
		exp := josejwt.Expected{Issuer: "https://issuer.test", AnyAudience: josejwt.Audience{"api"}, Time: f.now}
		if c.ValidateWithLeeway(exp, time.Duration(*f.v.Leeway)) != nil {
			return "", false
		}
		return c.Subject, true
	}
	return "", false
}

// TestVerifyEdges: what verify refuses that a careless parser takes, and
// that the signature is checked before the payload is read.
func TestVerifyEdges(t *testing.T) {
	f := newVerifyFixture(t)
	claims := fmt.Sprintf(`{"iss":"https://issuer.test","aud":"api","sub":"alice","exp":%d}`, f.now.Add(time.Hour).Unix())
	good := f.sign(t, []byte(`{"alg":"RS256","typ":"JWT"}`), []byte(claims), true)
	if tc, err := f.v.verify(good); err != nil || tc.user != "alice" {
		t.Fatalf("good token: %v %v", tc, err)
	}
	h, p, s := func() (string, string, string) { x := strings.Split(good, "."); return x[0], x[1], x[2] }()
	sig, _ := b64.DecodeString(s)
	// the last base64 character of a 256-byte signature carries 4 unused bits
	last := s[len(s)-1]
	loose := s[:len(s)-1] + string(b64Alphabet[(strings.IndexByte(b64Alphabet, last)|1)])
	if loose == s {
		loose = s[:len(s)-1] + string(b64Alphabet[(strings.IndexByte(b64Alphabet, last)|2)])
	}
	for _, c := range []struct{ name, tok string }{
		{"four parts", good + ".x"},
		{"two parts", h + "." + p},
		{"padded signature", h + "." + p + "." + base64.URLEncoding.EncodeToString(sig)},
		{"signature with stray bits", h + "." + p + "." + loose},
		{"standard base64 alphabet", h + "." + p + "." + base64.RawStdEncoding.EncodeToString(sig)},
		{"header not JSON", b64.EncodeToString([]byte("alg=RS256")) + "." + p + "." + s},
		{"empty signature", h + "." + p + "."},
		{"payload swapped after signing", h + "." + b64.EncodeToString([]byte(strings.Replace(claims, "alice", "admin", 1))) + "." + s},
		{"alg in another case", f.sign(t, []byte(`{"alg":"rs256"}`), []byte(claims), true)},
		{"alg not allowed (RS512) but signed", f.sign(t, []byte(`{"alg":"RS512"}`), []byte(claims), true)},
		{"alg as a list", f.sign(t, []byte(`{"alg":["RS256"]}`), []byte(claims), true)},
		{"crit, even null", f.sign(t, []byte(`{"alg":"RS256","crit":null}`), []byte(claims), true)},
		{"EC key needs its kid", f.sign(t, []byte(`{"alg":"ES256","kid":"x"}`), []byte(claims), false)},
		{"payload not JSON", f.sign(t, []byte(`{"alg":"RS256"}`), []byte(`sub=alice`), true)},
		{"payload an array", f.sign(t, []byte(`{"alg":"RS256"}`), []byte(`[]`), true)},
		{"alg twice", f.sign(t, []byte(`{"alg":"ES256","kid":"e","alg":"RS256"}`), []byte(claims), true)},
		{"sub twice", f.sign(t, []byte(`{"alg":"RS256"}`), []byte(strings.Replace(claims, `"sub":"alice"`, `"sub":"alice","sub":"admin"`, 1)), true)},
		{"a nested name twice", f.sign(t, []byte(`{"alg":"RS256"}`), []byte(strings.Replace(claims, `"sub"`, `"realm_access":{"roles":["a"],"x":[{"y":1}],"roles":["admin"]},"sub"`, 1)), true)},
		{"exp as a string", f.sign(t, []byte(`{"alg":"RS256"}`), []byte(strings.Replace(claims, `"exp":`, `"exp":"`, 1)+`"`), true)},
	} {
		tc, err := f.v.verify(c.tok)
		var d *caddyauth.Denial
		if err == nil || !errors.As(err, &d) || d.Reason != "bearer.invalid" {
			t.Errorf("%s: %v %v, want bearer.invalid", c.name, tc, err)
		}
		// go-jose reads base64 loosely, takes crit: null for no crit and
		// checks only top-level names for duplicates
		stricter := map[string]bool{"crit, even null": true, "signature with stray bits": true, "a nested name twice": true}
		if _, ok := f.joseAccepts(c.tok); ok && !stricter[c.name] {
			t.Errorf("%s: go-jose accepts it; the case tests nothing", c.name)
		}
	}
	// the EC key with its kid, and an expired token's own reason
	if tc, err := f.v.verify(f.sign(t, []byte(`{"alg":"ES256","kid":"e"}`), []byte(claims), false)); err != nil || tc.user != "alice" {
		t.Fatalf("ES256 with kid e: %v %v", tc, err)
	}
	expired := strings.Replace(claims, fmt.Sprint(f.now.Add(time.Hour).Unix()), fmt.Sprint(f.now.Add(-time.Hour).Unix()), 1)
	if _, err := f.v.verify(f.sign(t, []byte(`{"alg":"RS256"}`), []byte(expired), true)); err != denyExpired {
		t.Fatalf("expired: %v", err)
	}
}

// TestDuplicateNames: a member name twice at any depth, or text that is
// not JSON, is reported; the same name in sibling objects is not.
func TestDuplicateNames(t *testing.T) {
	for _, c := range []struct {
		js   string
		want bool
	}{
		{`{"a":1,"b":2}`, false},
		{`{"a":1,"a":2}`, true},
		{`{"a":{"b":1},"c":{"b":2}}`, false},
		{`{"a":[{"b":1},{"b":2}],"c":"a"}`, false},
		{`{"a":[{"b":1,"b":2}]}`, true},
		{`{"a":{"b":{"c":1,"c":1}}}`, true},
		{`{"a":[1,"a",{"a":"a"}],"b":{}}`, false},
		{`{"a":{},"a":[]}`, true},
		{`{"a":1`, true},
		{`{"a":1}}`, true},
		{`[]`, false},
	} {
		if got := duplicateNames([]byte(c.js)); got != c.want {
			t.Errorf("%s: %v, want %v", c.js, got, c.want)
		}
	}
}

const b64Alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"

// FuzzVerifyAgainstJose holds verify to go-jose, an independent JOSE
// implementation: the fuzzer writes the header and payload bytes, which
// are signed with a real key (or given a signature of the fuzzer's own),
// and verify may accept only what go-jose accepts, for the same subject.
// A well-formed token that go-jose accepts verify accepts too, unless its
// header has crit (which verify always refuses) or a nested object in its
// payload has a name twice (go-jose looks at the top level only).
func FuzzVerifyAgainstJose(f *testing.F) {
	fx := newVerifyFixture(f)
	exp := fx.now.Add(time.Hour).Unix()
	claims := fmt.Sprintf(`{"iss":"https://issuer.test","aud":["x","api"],"sub":"alice","exp":%d,"nbf":%d,"iat":%d}`, exp, exp-7200, exp-3600)
	f.Add([]byte(`{"alg":"RS256","typ":"JWT"}`), []byte(claims), true, true, "")
	f.Add([]byte(`{"alg":"ES256","kid":"e"}`), []byte(claims), true, false, "")
	f.Add([]byte(`{"alg":"ES256","kid":"e","alg":"RS256"}`), []byte(claims), true, true, "")
	f.Add([]byte(`{"alg":"RS256"}`), []byte(`{"sub":"alice","SUB":"admin","iss":"https://issuer.test","aud":"api","exp":1900003600}`), true, true, "")
	f.Add([]byte(`{"alg":"none"}`), []byte(claims), false, false, "")
	f.Add([]byte(`{"alg":"RS256"}`), []byte(claims), false, true, "AAAA")
	f.Fuzz(func(t *testing.T, header, payload []byte, sign, rs bool, tail string) {
		var tok string
		if sign {
			tok = fx.sign(t, header, payload, rs)
		} else {
			tok = b64.EncodeToString(header) + "." + b64.EncodeToString(payload) + "." + tail
		}
		tc, err := fx.v.verify(tok)
		sub, ok := fx.joseAccepts(tok)
		switch {
		case err == nil && !ok:
			t.Fatalf("verify accepts what go-jose refuses: %q", tok)
		case err == nil && tc.user != sub:
			t.Fatalf("subject %q, go-jose reads %q: %q", tc.user, sub, tok)
		case err != nil && ok && !strings.Contains(string(header), "crit") && !duplicateNames(payload):
			t.Fatalf("verify refuses (%v) what go-jose accepts: %q", err, tok)
		}
	})
}

package bearer

import (
	"strings"
	"testing"
)

// FuzzBearerToken: a token that bearerField and validToken accept is short
// and made of b64token characters only; peeking at its issuer never fails
// loudly.
func FuzzBearerToken(f *testing.F) {
	for _, s := range []string{"Bearer abc.def.ghi", "Bearer a b", "bearer x==", "Bearer =", "Bearer eyJhbGciOiJub25lIn0.eyJpc3MiOiJ4In0."} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, v string) {
		tok, ok := bearerField(v)
		if !ok || !validToken(tok) {
			return
		}
		if len(tok) == 0 || len(tok) > maxToken || strings.ContainsAny(tok, " \t\r\n\"\\,;") {
			t.Fatalf("accepted %q", tok)
		}
		_ = peekIssuer(tok)
	})
}

// FuzzParseJWKSet: parsing never panics, and every key it returns fits at
// least one algorithm.
func FuzzParseJWKSet(f *testing.F) {
	for _, s := range []string{
		`{"keys":[{"kty":"OKP","crv":"Ed25519","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}]}`,
		`{"kty":"EC","crv":"P-256","x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU","y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"}`,
		`{"keys":[{"kty":"RSA","n":"AQAB","e":"AQAB"}]}`,
		`{"keys":[{"kty":"oct","k":"MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY"}]}`,
		`[]`, `{"keys":null}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		ks, err := parseJWKSet(data, true)
		if err != nil {
			return
		}
		for _, k := range ks {
			fits := false
			for _, a := range knownAlgs {
				fits = fits || keyFits(k.key, a)
			}
			if !fits {
				t.Fatalf("key %#v fits no algorithm", k)
			}
		}
	})
}

package bearer

import (
	"io"
	"net/http/httptest"
	"net/url"
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

// FuzzRemoveCredentials: after a request passes, the token's cookie,
// query parameter and form pair are gone by every reading Go offers (the
// cookie parser, url.ParseQuery), and every other cookie and pair is kept
// as it was, in order.
func FuzzRemoveCredentials(f *testing.F) {
	for _, s := range []string{"at=x; b=1", "a=1&access_token=t&b=2", "access%5Ftoken=t&x", "at=1; at=2;;c", "%zz&access_token=1", "at"} {
		f.Add(s)
	}
	b := &Bearer{TokenFrom: []TokenSource{{From: "cookie", Name: "at"}, {From: "query"}, {From: "form"}}}
	f.Fuzz(func(t *testing.T, v string) {
		if strings.ContainsAny(v, "\r\n\x00") {
			return
		}
		r := httptest.NewRequest("POST", "/x", strings.NewReader(v))
		r.Header.Set("Cookie", v)
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		r.URL.RawQuery = v
		keptBefore := func(sep, name string, unescape bool) []string {
			var out []string
			for _, p := range strings.Split(v, sep) {
				k, _, _ := strings.Cut(p, "=")
				if sep == ";" {
					p = strings.Trim(p, " \t\r\n")
					k, _, _ = strings.Cut(p, "=")
					k = strings.Trim(k, " \t\r\n")
				}
				uk := k
				if unescape {
					if u, err := url.QueryUnescape(k); err == nil {
						uk = u
					}
				}
				if k != name && uk != name && p != "" {
					out = append(out, p)
				}
			}
			return out
		}
		// the cookie reader finds at least what Go's finds, and the same value
		cb := &Bearer{TokenFrom: []TokenSource{{From: "cookie", Name: "at"}}}
		goes := r.CookiesNamed("at")
		f, d := cb.locate(r)
		if len(goes) > 0 && !cb.present(r) {
			t.Fatalf("Go finds cookie at in %q, present does not", v)
		}
		if len(goes) == 1 && d == nil && f.tok != goes[0].Value {
			t.Fatalf("cookie at in %q: %q, Go reads %q", v, f.tok, goes[0].Value)
		}
		if len(goes) > 1 && (d == nil || d.Reason != "bearer.ambiguous") {
			t.Fatalf("Go finds %d cookies at in %q, locate: %v", len(goes), v, d)
		}
		_ = b.present(r) // reads the form body, as the handler would
		b.RemoveCredentials(r)
		if got := r.CookiesNamed("at"); len(got) > 0 {
			t.Fatalf("cookie at left in %q", r.Header.Get("Cookie"))
		}
		if c := r.Header.Get("Cookie"); !strings.Contains(v, "at") && c != v {
			t.Fatalf("cookies %q from %q: a field without the cookie must stay as it is", c, v)
		} else if strings.Contains(v, "at") && strings.Join(keptBefore(";", "at", false), "; ") != c {
			t.Fatalf("cookies %q from %q, want the others kept", c, v)
		}
		if q, err := url.ParseQuery(r.URL.RawQuery); err == nil && q.Has("access_token") {
			t.Fatalf("query %q still has access_token", r.URL.RawQuery)
		}
		if want := strings.Join(keptBefore("&", "access_token", true), "&"); strings.Trim(r.URL.RawQuery, "&") != strings.Trim(want, "&") && !strings.Contains(v, "&&") {
			t.Fatalf("query %q from %q, want %q", r.URL.RawQuery, v, want)
		}
		body, _ := io.ReadAll(r.Body)
		if q, err := url.ParseQuery(string(body)); err == nil && q.Has("access_token") {
			t.Fatalf("form %q still has access_token", body)
		}
	})
}

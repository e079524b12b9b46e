package bearer

import (
	"net/http"
	"net/url"
	"strings"

	"github.com/restauth/caddy-restauth/caddyauth"
)

// TokenSource is a place where bearer looks for a token.
type TokenSource struct {
	// From is authorization (the Authorization header's Bearer scheme),
	// header (another header field), cookie, or query (a query parameter,
	// RFC 6750 section 2.3; it ends up in access logs and browser history,
	// which is why the RFC discourages it: use it only when nothing else
	// works).
	From string `json:"from"`
	// Name is the header field's, cookie's or query parameter's name. The
	// query parameter's default is access_token.
	Name string `json:"name,omitempty"`
	// Scheme, for a header field, is a word that must come before the
	// token, as in "Bearer <token>" (case-insensitive); empty: the whole
	// value is the token.
	Scheme string `json:"scheme,omitempty"`
}

// found is one place holding a token.
type found struct {
	tok    string
	cookie bool
}

// locate finds the token in the configured places: the token, whether it
// came from a cookie, and a denial when the places hold none or more than
// one (400: a token in two places is ambiguous, whatever the tokens).
func (b *Bearer) locate(r *http.Request) (found, *caddyauth.Denial) {
	var out found
	n := 0
	for i := range b.TokenFrom {
		s := &b.TokenFrom[i]
		var vals []string
		switch s.From {
		case "authorization":
			if v := caddyauth.Authorization(r); caddyauth.HasScheme(v, "bearer") {
				vals = []string{v[len("bearer "):]}
			}
		case "header":
			for _, v := range r.Header.Values(s.Name) {
				if s.Scheme != "" {
					if len(v) <= len(s.Scheme) || v[len(s.Scheme)] != ' ' || !strings.EqualFold(v[:len(s.Scheme)], s.Scheme) {
						vals = append(vals, "") // present, but not a token: malformed
						continue
					}
					v = v[len(s.Scheme)+1:]
				}
				vals = append(vals, v)
			}
		case "cookie":
			for _, c := range r.CookiesNamed(s.Name) {
				vals = append(vals, c.Value)
			}
		case "query":
			if r.URL.RawQuery != "" {
				q, err := url.ParseQuery(r.URL.RawQuery)
				if err != nil {
					return out, caddyauth.Deny("cred.malformed")
				}
				vals = q[s.queryName()]
			}
		}
		for _, v := range vals {
			n++
			out = found{tok: v, cookie: s.From == "cookie"}
		}
	}
	switch {
	case n > 1:
		return found{}, &caddyauth.Denial{Status: http.StatusBadRequest, Reason: "bearer.ambiguous"}
	case n == 0 || out.tok == "" || len(out.tok) > maxToken:
		return found{}, caddyauth.Deny("cred.malformed")
	}
	return out, nil
}

func (s *TokenSource) queryName() string {
	if s.Name == "" {
		return "access_token"
	}
	return s.Name
}

// present reports whether any configured place holds something.
func (b *Bearer) present(r *http.Request) bool {
	for i := range b.TokenFrom {
		s := &b.TokenFrom[i]
		switch s.From {
		case "authorization":
			if caddyauth.HasScheme(caddyauth.Authorization(r), "bearer") {
				return true
			}
		case "header":
			if len(r.Header.Values(s.Name)) > 0 {
				return true
			}
		case "cookie":
			if len(r.CookiesNamed(s.Name)) > 0 {
				return true
			}
		case "query":
			if r.URL.RawQuery != "" && strings.Contains(r.URL.RawQuery, s.queryName()) {
				if q, err := url.ParseQuery(r.URL.RawQuery); err != nil || q.Has(s.queryName()) {
					return true
				}
			}
		}
	}
	return false
}

// safeMethods are those a cookie token needs no CSRF defence for.
func safeMethod(m string) bool {
	return m == http.MethodGet || m == http.MethodHead || m == http.MethodOptions
}

// csrfOK reports whether a request with a cookie token and an unsafe
// method shows that it was not made by another site: the browser says
// the request is same-origin or user-initiated (Sec-Fetch-Site), or the
// configured header is present (a page of another origin cannot add a
// custom header to a request without the server's CORS consent).
func (b *Bearer) csrfOK(r *http.Request) bool {
	switch r.Header.Get("Sec-Fetch-Site") {
	case "same-origin", "none":
		return true
	}
	return b.CSRFHeader != "" && r.Header.Get(b.CSRFHeader) != ""
}

// StripHeaders names the header fields a token is read from besides
// Authorization, which the upstream must not see.
func (b *Bearer) StripHeaders() []string {
	var out []string
	for _, s := range b.TokenFrom {
		if s.From == "header" {
			out = append(out, s.Name)
		}
	}
	return out
}

// RemovesCredentials is true when tokens come from cookies or the query.
func (b *Bearer) RemovesCredentials() bool {
	for _, s := range b.TokenFrom {
		if s.From == "cookie" || s.From == "query" {
			return true
		}
	}
	return false
}

// RemoveCredentials takes the token's cookies and query parameters out of
// a request before it goes on.
func (b *Bearer) RemoveCredentials(r *http.Request) {
	for i := range b.TokenFrom {
		s := &b.TokenFrom[i]
		switch s.From {
		case "cookie":
			removeCookie(r, s.Name)
		case "query":
			removeQuery(r, s.queryName())
		}
	}
}

// removeCookie rewrites the Cookie fields without the named cookie.
func removeCookie(r *http.Request, name string) {
	lines := r.Header.Values("Cookie")
	if len(lines) == 0 {
		return
	}
	var kept []string
	for _, line := range lines {
		for _, part := range strings.Split(line, ";") {
			k, _, _ := strings.Cut(strings.TrimSpace(part), "=")
			if k != name && strings.TrimSpace(part) != "" {
				kept = append(kept, strings.TrimSpace(part))
			}
		}
	}
	if len(kept) == 0 {
		r.Header.Del("Cookie")
		return
	}
	r.Header.Set("Cookie", strings.Join(kept, "; "))
}

// removeQuery drops every pair of the named parameter from the URI the
// upstream sees, keeping the others as they were written.
func removeQuery(r *http.Request, name string) {
	if r.URL.RawQuery == "" {
		return
	}
	pairs := strings.Split(r.URL.RawQuery, "&")
	kept := pairs[:0]
	for _, p := range pairs {
		k, _, _ := strings.Cut(p, "=")
		if uk, err := url.QueryUnescape(k); err == nil && uk == name || k == name {
			continue
		}
		kept = append(kept, p)
	}
	r.URL.RawQuery = strings.Join(kept, "&")
	r.RequestURI = r.URL.RequestURI()
}

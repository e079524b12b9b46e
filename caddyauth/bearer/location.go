package bearer

import (
	"bytes"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/restauth/caddy-restauth/caddyauth"
)

// TokenSource is a place where bearer looks for a token.
type TokenSource struct {
	// From is authorization (the Authorization header's Bearer scheme),
	// header (another header field), cookie, form (the access_token
	// parameter of a form-encoded body, RFC 6750 section 2.2; a body of at
	// most 64 KiB, not for GET or HEAD), or query (a query parameter, RFC
	// 6750 section 2.3; it ends up in access logs and browser history,
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
	dpop   bool // Authorization: DPoP
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
			if tok, isDPoP, ok := authorizationToken(caddyauth.Authorization(r)); ok {
				n++
				out = found{tok: tok, dpop: isDPoP}
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
			for _, line := range r.Header["Cookie"] {
				for line != "" {
					var part string
					part, line, _ = strings.Cut(line, ";")
					// as Go's own cookie reader: trim the pair, then the name
					k, v, _ := strings.Cut(strings.Trim(part, ows), "=")
					if strings.Trim(k, ows) == s.Name {
						if len(v) > 1 && v[0] == '"' && v[len(v)-1] == '"' {
							v = v[1 : len(v)-1]
						}
						n++
						out = found{tok: v, cookie: true}
					}
				}
			}
		case "query":
			if r.URL.RawQuery != "" {
				q, err := url.ParseQuery(r.URL.RawQuery)
				if err != nil {
					return out, caddyauth.Deny("cred.malformed")
				}
				vals = q[s.queryName()]
			}
		case "form":
			if body, ok := formBody(r); ok {
				q, err := url.ParseQuery(string(body))
				if err != nil {
					return out, caddyauth.Deny("cred.malformed")
				}
				vals = q["access_token"]
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
			if v := caddyauth.Authorization(r); caddyauth.HasScheme(v, "bearer") || b.dpop != nil && caddyauth.HasScheme(v, "dpop") {
				return true
			}
		case "header":
			if len(r.Header.Values(s.Name)) > 0 {
				return true
			}
		case "cookie":
			for _, line := range r.Header["Cookie"] {
				if strings.Contains(line, s.Name) {
					return true
				}
			}
		case "query":
			if r.URL.RawQuery != "" && strings.Contains(r.URL.RawQuery, s.queryName()) {
				if q, err := url.ParseQuery(r.URL.RawQuery); err != nil || q.Has(s.queryName()) {
					return true
				}
			}
		case "form":
			if body, ok := formBody(r); ok && bytes.Contains(body, []byte("access_token")) {
				if q, err := url.ParseQuery(string(body)); err != nil || q.Has("access_token") {
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

// RemovesCredentials is true when tokens come from cookies, the query or
// the form body.
func (b *Bearer) RemovesCredentials() bool {
	for _, s := range b.TokenFrom {
		if s.From == "cookie" || s.From == "query" || s.From == "form" {
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
		case "form":
			removeFormToken(r)
		}
	}
}

// maxFormBody is the largest body looked at for a form token; a larger
// one goes on untouched and holds no token for bearer.
const maxFormBody = 64 << 10

// formBuffered marks a body formBody has read: the bytes, kept for the
// next look and for the upstream.
type formBuffered struct {
	*bytes.Reader
	data []byte
}

func (formBuffered) Close() error { return nil }

// formBody returns a form-encoded request body (RFC 6750 section 2.2: a
// single-part application/x-www-form-urlencoded body, not with GET or
// HEAD), read once and put back for whoever reads it next. A body over
// maxFormBody, or of another type, gives false and is left as it was.
func formBody(r *http.Request) ([]byte, bool) {
	if r.Body == nil || r.Body == http.NoBody || r.Method == http.MethodGet || r.Method == http.MethodHead {
		return nil, false
	}
	if fb, ok := r.Body.(formBuffered); ok {
		return fb.data, true
	}
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mt != "application/x-www-form-urlencoded" || r.ContentLength > maxFormBody {
		return nil, false
	}
	data, err := io.ReadAll(io.LimitReader(r.Body, maxFormBody+1))
	if err != nil || len(data) > maxFormBody {
		// too long (or broken): the upstream gets what was read and the rest
		r.Body = struct {
			io.Reader
			io.Closer
		}{io.MultiReader(bytes.NewReader(data), r.Body), r.Body}
		return nil, false
	}
	_ = r.Body.Close()
	r.Body = formBuffered{bytes.NewReader(data), data}
	return data, true
}

// removeFormToken takes access_token out of a form body (read now if no
// one has), keeping the other pairs as they were written.
func removeFormToken(r *http.Request) {
	if _, ok := formBody(r); !ok {
		return
	}
	fb := r.Body.(formBuffered)
	text, changed := dropPairs(string(fb.data), "access_token")
	if !changed {
		return
	}
	data := []byte(text)
	r.Body = formBuffered{bytes.NewReader(data), data}
	r.ContentLength = int64(len(data))
	r.Header.Set("Content-Length", strconv.Itoa(len(data)))
}

// ows is the white space trimmed around cookie pairs and names.
const ows = " \t\r\n"

// removeCookie rewrites the Cookie fields without the named cookie.
func removeCookie(r *http.Request, name string) {
	lines := r.Header["Cookie"]
	if len(lines) == 0 {
		return
	}
	if len(lines) == 1 {
		// the common cases without building anything: the cookie is the
		// only one, or not there at all
		k, _, _ := strings.Cut(strings.Trim(lines[0], ows), "=")
		if strings.Trim(k, ows) == name && !strings.Contains(lines[0], ";") {
			delete(r.Header, "Cookie")
			return
		}
		if !strings.Contains(lines[0], name) {
			return
		}
	}
	var kept []string
	for _, line := range lines {
		for _, part := range strings.Split(line, ";") {
			part = strings.Trim(part, ows)
			k, _, _ := strings.Cut(part, "=")
			if strings.Trim(k, ows) != name && part != "" {
				kept = append(kept, part)
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
	if q, changed := dropPairs(r.URL.RawQuery, name); changed {
		r.URL.RawQuery = q
		r.RequestURI = r.URL.RequestURI()
	}
}

// dropPairs removes every name=value pair of a name (in clear or escaped)
// from a form-encoded text, keeping the others as they were written; it
// reports whether it removed any. Most texts hold neither the name nor an
// escape, and are returned as they are without a split.
func dropPairs(raw, name string) (string, bool) {
	if raw == "" || !strings.Contains(raw, name) && !strings.Contains(raw, "%") {
		return raw, false
	}
	pairs := strings.Split(raw, "&")
	kept := pairs[:0]
	for _, p := range pairs {
		k, _, _ := strings.Cut(p, "=")
		if uk, err := url.QueryUnescape(k); err == nil && uk == name || k == name {
			continue
		}
		kept = append(kept, p)
	}
	if len(kept) == len(pairs) {
		return raw, false
	}
	return strings.Join(kept, "&"), true
}

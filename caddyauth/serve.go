package caddyauth

import (
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.uber.org/zap"

	"github.com/restauth/caddy-restauth/permissions"
)

// Identity headers set for the upstream with forward_identity.
const (
	HeaderUser       = "X-Restauth-User"
	HeaderRoles      = "X-Restauth-Roles"
	HeaderScopes     = "X-Restauth-Scopes"
	HeaderAuthMethod = "X-Restauth-Auth-Method"
)

// ServeHTTP runs the pipeline: canonical path, rule, authentication,
// authorization; then the next handler with the principal in the context.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request, next caddyhttp.Handler) error {
	stripIdentityHeaders(r.Header)
	s := h.store.Load()

	if len(r.Header["Authorization"]) > 1 {
		return h.refuse(w, r, "", "", &Denial{Status: http.StatusBadRequest, Reason: "cred.multiple"}, nil, nil)
	}
	// the canonical path and the rule that decides: one look-up for a
	// path sent recently
	path, i, err := s.Policy.Decide(r.Method, r.URL.EscapedPath())
	if err != nil {
		return h.refuse(w, r, "", "", &Denial{Status: http.StatusBadRequest, Reason: "path.noncanonical"}, nil, nil)
	}
	if path != r.URL.Path {
		// forward what was authorized: the decoded path with '/' runs collapsed
		r.URL.Path, r.URL.RawPath = path, ""
	}
	if h.corsPreflight() && r.Method == http.MethodOptions &&
		r.Header.Get("Origin") != "" && r.Header.Get("Access-Control-Request-Method") != "" {
		return h.pass(w, r, next)
	}

	if i < 0 {
		if s.Policy.Default == permissions.Allow {
			h.metrics.passed.Inc()
			return h.pass(w, r, next)
		}
		return h.refuse(w, r, path, "", deny("authz.no_rule"), h.authenticators, nil)
	}
	rule, name := s.Policy.Rule(i), s.Policy.Name(i)
	if !rule.Secured {
		h.metrics.passed.Inc()
		return h.pass(w, r, next)
	}

	allowed := h.allowedOn(rule)
	var auth Authenticator
	for _, a := range allowed {
		if a.Present(r) {
			auth = a
			break
		}
	}
	if auth == nil {
		return h.refuse(w, r, path, name, deny("cred.missing"), allowed, nil)
	}
	p, err := h.authenticate(auth, r, s)
	if err != nil {
		d := asDenial(err)
		if d.Status == http.StatusServiceUnavailable {
			h.logger.Error("authentication failed", zap.String("auth_method", auth.Name()), zap.Error(err))
		}
		// a challenge for every handler the rule allows (RFC 7235 section
		// 4.1), the failing one's saying what was wrong
		return h.refuse(w, r, path, name, d, allowed, auth)
	}
	sub := s.subject(p)
	if verdict := s.Policy.Authorize(i, &sub); verdict != permissions.Granted {
		d := &Denial{Status: http.StatusForbidden, Reason: "authz.denied"}
		if p.Token && verdict == permissions.MissingScope {
			w.Header().Set("WWW-Authenticate", `Bearer error="insufficient_scope"`)
		}
		return h.refuseAs(w, r, path, name, d, nil, nil, p)
	}
	if len(h.authorizers) > 0 {
		if d := h.runAuthorizers(r, p, rule); d != nil {
			return h.refuseAs(w, r, path, name, d, nil, nil, p)
		}
	}

	if ce := h.logger.Check(zap.DebugLevel, "request granted"); ce != nil {
		ce.Write(zap.String("handler", h.Name), zap.String("user", p.User), zap.String("auth_method", p.AuthMethod),
			zap.String("method", r.Method), zap.String("path", path), zap.String("rule", name))
	}
	h.metrics.grant(p.AuthMethod)
	h.setIdentity(r, p)
	caddyhttp.SetVar(r.Context(), principalVar, p)
	return h.pass(w, r, next)
}

// pass hands the request on, without the fields that authenticators read
// and the upstream must not see.
func (h *Handler) pass(w http.ResponseWriter, r *http.Request, next caddyhttp.Handler) error {
	for _, f := range h.stripFields {
		stripField(r.Header, f)
	}
	return next.ServeHTTP(w, r)
}

// authenticate runs an authenticator and turns a panic into a denial, so a
// bug in a handler fails closed rather than taking the request through.
func (h *Handler) authenticate(a Authenticator, r *http.Request, s *Snapshot) (p *Principal, err error) {
	defer func() {
		if v := recover(); v != nil {
			h.logger.Error("authenticator panicked", errorField(a.Name(), v)...)
			p, err = nil, &Denial{Status: http.StatusServiceUnavailable, Reason: "auth.unavailable"}
		}
	}()
	start := time.Now()
	p, err = a.Authenticate(r, s)
	h.metrics.observeAuth(a.Name(), start)
	if err == nil && (p == nil || p.User == "") {
		return nil, deny("auth.no_principal")
	}
	if p != nil && p.AuthMethod == "" {
		// principals may be shared between requests: never change one
		cp := *p
		cp.AuthMethod = a.Name()
		cp.provide = nil // it would answer the old method
		p = &cp
	}
	return p, err
}

func (h *Handler) corsPreflight() bool { return h.CORSPreflight == nil || *h.CORSPreflight }

// allowedOn returns the configured authenticators that the rule allows, in
// the configured order.
func (h *Handler) allowedOn(rule *permissions.Rule) []Authenticator {
	return pick(h.authenticators, rule.Handlers)
}

// setIdentity fills the placeholders and, with forward_identity, the
// headers for the upstream.
func (h *Handler) setIdentity(r *http.Request, p *Principal) {
	roles, scopes := p.texts()
	if repl, ok := r.Context().Value(caddy.ReplacerCtxKey).(*caddy.Replacer); ok {
		// a shared principal made its provider once; a new one makes it now
		provide := p.provide
		if provide == nil {
			provide = placeholders([4]any{p.User, roles, scopes, p.AuthMethod})
		}
		repl.Map(provide)
	}
	if h.ForwardIdentity {
		r.Header.Set(HeaderUser, p.User)
		r.Header.Set(HeaderRoles, roles)
		r.Header.Set(HeaderScopes, scopes)
		r.Header.Set(HeaderAuthMethod, p.AuthMethod)
	}
}

// stripField deletes a field in any case and with '_' for '-'.
func stripField(hdr http.Header, field string) {
	for name := range hdr {
		if len(name) == len(field) && strings.EqualFold(strings.ReplaceAll(name, "_", "-"), field) {
			delete(hdr, name)
		}
	}
}

// stripIdentityHeaders deletes every client-sent copy of the identity
// headers, in any case and with '_' for '-', and the method-override
// headers (X-HTTP-Method-Override, X-HTTP-Method, X-Method-Override): rules
// decide on the request's method, so an upstream must never be told
// another.
func stripIdentityHeaders(hdr http.Header) {
	for name := range hdr {
		// every name stripped here starts with X: most fields are passed
		// over on their first byte
		if len(name) < 12 || name[0]|0x20 != 'x' {
			continue
		}
		if strings.EqualFold(strings.ReplaceAll(name[:11], "_", "-"), "x-restauth-") {
			delete(hdr, name)
			continue
		}
		if len(name) <= 22 && isMethodOverride(name) {
			delete(hdr, name)
		}
	}
}

func isMethodOverride(name string) bool {
	n := strings.ReplaceAll(name, "_", "-")
	return strings.EqualFold(n, "X-HTTP-Method-Override") || strings.EqualFold(n, "X-HTTP-Method") ||
		strings.EqualFold(n, "X-Method-Override")
}

// refuse answers a denial: status, challenges, JSON body, one log line.
// A 401 carries the challenges of challengers; failed, when a presented
// credential was refused, is the one told what was wrong.
func (h *Handler) refuse(w http.ResponseWriter, r *http.Request, path, rule string, d *Denial, challengers []Authenticator, failed Authenticator) error {
	return h.refuseAs(w, r, path, rule, d, challengers, failed, nil)
}

// refuseAs is refuse for an authenticated principal p (403 and the
// authorizers' denials); rule is the rule's name, "" when none matched.
func (h *Handler) refuseAs(w http.ResponseWriter, r *http.Request, path, rule string, d *Denial, challengers []Authenticator, failed Authenticator, p *Principal) error {
	hdr := w.Header()
	if d.Status == http.StatusUnauthorized {
		for _, a := range challengers {
			var err error
			if a == failed {
				err = d
			}
			if c := a.Challenge(err); c != "" {
				hdr.Add("WWW-Authenticate", c)
			}
		}
	}
	if (d.Status == http.StatusTooManyRequests || d.Status == http.StatusServiceUnavailable) && d.RetryAfter > 0 {
		hdr.Set("Retry-After", strconv.Itoa(int(d.RetryAfter.Seconds()+0.999)))
	}
	fields := []zap.Field{
		zap.String("handler", h.Name),
		zap.Int("status", d.Status),
		zap.String("reason", d.Reason),
		zap.String("remote_ip", clientIP(r)),
		zap.String("method", r.Method),
	}
	if path != "" {
		fields = append(fields, zap.String("path", path))
	}
	if rule != "" {
		fields = append(fields, zap.String("rule", rule))
	}
	if p != nil {
		fields = append(fields, zap.String("user", p.User), zap.String("auth_method", p.AuthMethod))
	}
	h.logger.Info("request denied", fields...)
	auth := ""
	if p != nil {
		auth = p.AuthMethod
	} else if failed != nil {
		auth = failed.Name()
	}
	h.metrics.deny(d.Reason, auth)
	writeDenial(w, d)
	return nil
}

// writeDenial writes a denial's status and JSON body. A status a denial
// may not have (a third party's 500, say) is answered 503.
func writeDenial(w http.ResponseWriter, d *Denial) {
	status, reason := d.Status, d.Reason
	if _, ok := statusDescriptions[status]; !ok {
		status, reason = http.StatusServiceUnavailable, ""
	}
	writeBody(w, status, denialBody(status, reason))
}

func writeBody(w http.ResponseWriter, status int, body []byte) {
	hdr := w.Header()
	hdr["Content-Type"] = jsonType
	hdr["Cache-Control"] = noStore
	hdr.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

var (
	jsonType = []string{"application/json"}
	noStore  = []string{"no-store"}
)

// Denial bodies: WSO2's shape, {"code":401,"message":"Unauthorized",
// "description":"..."}, with a fixed text per reason that says what
// happened, never the request's own words and never whether a user
// exists. A reason without a text of its own (a third party's) gets its
// status's.
var descriptions = map[string]string{
	"path.noncanonical":     "The request path is ambiguous or malformed.",
	"cred.multiple":         "The request carries more than one Authorization header.",
	"authz.no_rule":         "No rule allows this request.",
	"cred.missing":          "Authentication is required.",
	"cred.malformed":        "The credentials are malformed.",
	"basic.invalid":         "The user name or password is not valid.",
	"basic.throttled":       "Too many failed attempts; try again later.",
	"basic.busy":            "The server is busy; try again later.",
	"auth.no_principal":     "The credentials name no user.",
	"cert.unverified":       "The client certificate was not verified by the server's TLS settings.",
	"cert.bad_subject":      "The client certificate is not accepted.",
	"cert.untrusted_issuer": "The client certificate is not accepted.",
	"cert.untrusted_client": "The client certificate is not accepted.",
	"cert.no_user":          "The trusted client named no user.",
	"cert.multiple_users":   "The trusted client named the user more than once.",
	"bearer.invalid":        "The access token is not valid.",
	"bearer.expired":        "The access token has expired.",
	"bearer.no_subject":     "The access token names no user.",
	"bearer.inactive":       "The access token is not active.",
	"bearer.refresh_token":  "A refresh token is not an access token.",
	"bearer.revoked":        "The access token has been revoked.",
	"authz.denied":          "The caller lacks a permission or scope this resource requires.",
	"auth.unavailable":      "Authentication could not be completed; try again later.",
	"authz.unavailable":     "Authorization could not be completed; try again later.",
}

var statusDescriptions = map[int]string{
	http.StatusBadRequest:         "The request is malformed or ambiguous.",
	http.StatusUnauthorized:       "Authentication is required, or the credentials are not valid.",
	http.StatusForbidden:          "The caller may not use this resource.",
	http.StatusTooManyRequests:    "Too many failed attempts; try again later.",
	http.StatusServiceUnavailable: "Authentication could not be completed; try again later.",
}

type bodyKey struct {
	status int
	reason string
}

// bodies holds the built denial bodies: a denial writes one that exists.
var bodies sync.Map // bodyKey -> []byte

// denialBody returns the body for a status and reason, built once.
func denialBody(status int, reason string) []byte {
	k := bodyKey{status, reason}
	if b, ok := bodies.Load(k); ok {
		return b.([]byte)
	}
	desc, ok := descriptions[reason]
	if !ok {
		if desc, ok = statusDescriptions[status]; !ok {
			desc = "The request was refused."
		}
	}
	b, _ := json.Marshal(struct {
		Code        int    `json:"code"`
		Message     string `json:"message"`
		Description string `json:"description"`
	}{status, http.StatusText(status), desc})
	if _, known := descriptions[reason]; known || reason == "" {
		bodies.Store(k, b) // a third party's reasons are not kept: they are unbounded
	}
	return b
}

// errorField describes a failing guest module for a log line.
func errorField(module string, v any) []zap.Field {
	return []zap.Field{zap.String("module", module), zap.Any("error", v)}
}

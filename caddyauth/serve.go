package caddyauth

import (
	"encoding/json"
	"net/http"
	"slices"
	"strconv"
	"strings"
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
	HeaderTenant     = "X-Restauth-Tenant" // with tenants configured
)

// ServeHTTP runs the pipeline: canonical path, rule, authentication,
// authorization; then the next handler with the principal in the context.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request, next caddyhttp.Handler) error {
	stripIdentityHeaders(r.Header)
	s := h.store.Load()

	if len(r.Header["Authorization"]) > 1 {
		return h.refuse(w, r, s, refusal{d: errMultiple, rule: -1, failed: -1})
	}
	// the canonical path and the rule that decides: one look-up for a
	// path sent recently
	path, i, err := s.Policy.Decide(r.Method, r.URL.EscapedPath())
	if err != nil {
		return h.refuse(w, r, s, refusal{d: errNoncanonical, rule: -1, failed: -1})
	}
	if path != r.URL.Path {
		// forward what was authorized: the decoded path with '/' runs collapsed
		r.URL.Path, r.URL.RawPath = path, ""
	}
	// the request's tenant: an unknown or inactive one is a 404 before
	// any rule counts, unsecured ones included (WSO2 does the same)
	var reqTenant string
	if s.tenants != nil {
		t, ok := s.tenants.pathTenant(path)
		if !ok {
			return h.refuse(w, r, s, refusal{d: errBadTenant, path: path, rule: -1, failed: -1})
		}
		reqTenant = t
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
		return h.refuse(w, r, s, refusal{d: errNoRule, path: path, rule: -1, failed: -1})
	}
	rule := s.Policy.Rule(i)
	if !rule.Secured {
		h.metrics.passed.Inc()
		return h.pass(w, r, next)
	}

	// the first allowed authenticator whose credential is present: only
	// Present runs for the others, and nothing reads a credential that no
	// allowed handler takes
	auth := -1
	for _, k := range s.pipe.allowed(i) {
		if h.authenticators[k].Present(r) {
			auth = k
			break
		}
	}
	if auth < 0 {
		return h.refuse(w, r, s, refusal{d: errMissing, path: path, rule: i, failed: -1})
	}
	p, err := h.authenticate(h.authenticators[auth], r, s)
	if err != nil {
		// a challenge for every handler the rule allows (RFC 7235 section
		// 4.1), the failing one's saying what was wrong
		return h.refuse(w, r, s, refusal{d: asDenial(err), path: path, rule: i, failed: auth, cause: err})
	}
	// a rule that wants sender-constrained tokens
	if rule.Binding != "" && p.Token && !(p.Binding != "" && (rule.Binding == "any" || rule.Binding == p.Binding)) {
		return h.refuse(w, r, s, refusal{d: errUnbound, path: path, rule: i, failed: auth, p: p})
	}
	// a user acts in its own tenant, or in another where the rule lets it
	ts, userTenant := s, ""
	if s.tenants != nil {
		userTenant = s.tenants.userTenant(p.User)
		if !crossAllowed(rule, userTenant, reqTenant) {
			return h.refuse(w, r, s, refusal{d: errCrossTenant, path: path, rule: i, failed: -1, p: p})
		}
		if ts = s.tenantSnapshot(userTenant); ts == nil {
			return h.refuse(w, r, s, refusal{d: errUserTenant, path: path, rule: i, failed: -1, p: p})
		}
	}
	sub := s.subjectIn(ts, p)
	if verdict := ts.Policy.Authorize(i, &sub); verdict != permissions.Granted {
		if p.Token && verdict == permissions.MissingScope {
			w.Header()["Www-Authenticate"] = insufficientScope
		}
		return h.refuse(w, r, s, refusal{d: errDenied, path: path, rule: i, failed: -1, p: p})
	}
	if len(h.authorizers) > 0 {
		if d := h.runAuthorizers(r, p, rule); d != nil {
			return h.refuse(w, r, s, refusal{d: d, path: path, rule: i, failed: -1, p: p})
		}
	}

	if ce := h.logger.Check(zap.DebugLevel, "request granted"); ce != nil {
		ce.Write(zap.String("handler", h.Name), zap.String("user", p.User), zap.String("auth_method", p.AuthMethod),
			zap.String("method", r.Method), zap.String("path", path), zap.String("rule", s.Policy.Name(i)))
	}
	h.metrics.grant(p.AuthMethod)
	h.setIdentity(r, p, userTenant)
	caddyhttp.SetVar(r.Context(), principalVar, p)
	return h.pass(w, r, next)
}

// pass hands the request on, without the fields that authenticators read
// and the upstream must not see.
func (h *Handler) pass(w http.ResponseWriter, r *http.Request, next caddyhttp.Handler) error {
	for _, f := range h.stripFields {
		stripField(r.Header, f)
	}
	for _, cr := range h.removers {
		cr.RemoveCredentials(r)
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

// setIdentity fills the placeholders and, with forward_identity, the
// headers for the upstream.
func (h *Handler) setIdentity(r *http.Request, p *Principal, tenant string) {
	roles, scopes := p.texts()
	if repl, ok := r.Context().Value(caddy.ReplacerCtxKey).(*caddy.Replacer); ok {
		// a shared principal made its provider once; a new one makes it now
		provide := p.provide
		if provide == nil || p.Tenant != tenant {
			provide = placeholders([6]any{p.User, roles, scopes, p.AuthMethod, tenant, p.Binding})
		}
		repl.Map(provide)
	}
	if h.ForwardIdentity {
		r.Header.Set(HeaderUser, p.User)
		r.Header.Set(HeaderRoles, roles)
		r.Header.Set(HeaderScopes, scopes)
		r.Header.Set(HeaderAuthMethod, p.AuthMethod)
		if tenant != "" {
			r.Header.Set(HeaderTenant, tenant)
		}
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

// The pipeline's own denials, made once.
var (
	errMultiple     = &Denial{Status: http.StatusBadRequest, Reason: "cred.multiple"}
	errNoncanonical = &Denial{Status: http.StatusBadRequest, Reason: "path.noncanonical"}
	errNoRule       = deny("authz.no_rule")
	errMissing      = deny("cred.missing")
	errDenied       = &Denial{Status: http.StatusForbidden, Reason: "authz.denied"}
	errBadTenant    = &Denial{Status: http.StatusNotFound, Reason: "tenant.invalid"}
	errCrossTenant  = deny("authz.cross_tenant")
	errUnbound      = deny("bearer.unbound")
	errUserTenant   = deny("auth.unknown_tenant")

	insufficientScope = []string{`Bearer error="insufficient_scope"`}
)

// A refusal is what a denial's answer and log line are made of.
type refusal struct {
	d      *Denial
	path   string     // canonical; "" when it was refused
	rule   int        // the matched rule, -1 for none
	failed int        // the authenticator whose credential was refused, -1 for none
	p      *Principal // the authenticated principal of a 403
	cause  error      // why authentication could not decide (503), for the log
}

// refuse answers a denial: status, challenges, Retry-After, the JSON body,
// a log line (sampled per reason) and the metrics. A 401 carries the
// challenges of the rule's allowed authenticators, or of every configured
// one when no rule matched; the refused one's says what was wrong. What a
// denial writes is built once per (rule, authenticator, reason), so a flood
// of denials costs little more than the answer itself.
func (h *Handler) refuse(w http.ResponseWriter, r *http.Request, s *Snapshot, f refusal) error {
	d := f.d
	hdr := w.Header()
	if d.Status == http.StatusUnauthorized {
		if ch := h.challenges(s, f); ch != nil {
			hdr["Www-Authenticate"] = ch
		}
	}
	if (d.Status == http.StatusTooManyRequests || d.Status == http.StatusServiceUnavailable) && d.RetryAfter > 0 {
		hdr["Retry-After"] = retryAfter(d.RetryAfter)
	}
	for k, v := range d.Header {
		if !strings.EqualFold(k, "Www-Authenticate") && !strings.EqualFold(k, "Content-Type") && !strings.EqualFold(k, "Content-Length") {
			hdr[k] = v
		}
	}
	auth := ""
	if f.p != nil {
		auth = f.p.AuthMethod
	} else if f.failed >= 0 {
		auth = h.authNames[f.failed]
	}
	if h.denials.allow(d.Reason) {
		fields := []zap.Field{
			zap.String("handler", h.Name),
			zap.Int("status", d.Status),
			zap.String("reason", d.Reason),
			zap.String("remote_ip", clientIP(r)),
			zap.String("method", r.Method),
		}
		if f.path != "" {
			fields = append(fields, zap.String("path", f.path))
		}
		if f.rule >= 0 {
			fields = append(fields, zap.String("rule", s.Policy.Name(f.rule)))
		}
		if f.p != nil {
			fields = append(fields, zap.String("user", f.p.User))
		}
		if auth != "" {
			fields = append(fields, zap.String("auth_method", auth))
		}
		if d.Status == http.StatusServiceUnavailable && f.cause != nil {
			fields = append(fields, zap.Error(f.cause))
		}
		h.logger.Info("request denied", fields...)
	}
	h.metrics.deny(d.Reason, auth)
	writeDenial(w, d)
	return nil
}

// challengeKey names a 401's challenges: whose, and what was refused.
type challengeKey struct {
	rule, failed, status int
	reason               string
}

// challenges returns the WWW-Authenticate values of a 401, built once per
// snapshot, rule, refused authenticator and reason (an authenticator's
// Challenge depends on no more than the denial's status and reason). The
// slice is shared: its capacity is its length, so adding to the header
// copies it.
func (h *Handler) challenges(s *Snapshot, f refusal) []string {
	k := challengeKey{rule: f.rule, failed: f.failed, status: f.d.Status, reason: f.d.Reason}
	if v, ok := s.pipe.challenges.load(k); ok {
		return v
	}
	var out []string
	var who []int
	if f.rule >= 0 {
		who = s.pipe.allowed(f.rule)
	} else {
		who = s.pipe.everyone
	}
	for _, i := range who {
		var err error
		if i == f.failed {
			err = f.d
		}
		if c := h.authenticators[i].Challenge(err); c != "" {
			out = append(out, c)
		}
	}
	out = slices.Clip(out)
	if _, known := descriptions[f.d.Reason]; known {
		s.pipe.challenges.store(k, out) // a third party's reasons are not kept: they are unbounded
	}
	return out
}

// writeDenial writes a denial's status and JSON body. A status a denial
// may not have (a third party's 500, say) is answered 503.
func writeDenial(w http.ResponseWriter, d *Denial) {
	status, reason := d.Status, d.Reason
	if _, ok := statusDescriptions[status]; !ok {
		status, reason = http.StatusServiceUnavailable, ""
	}
	b := denialBody(status, reason)
	hdr := w.Header()
	hdr["Content-Type"] = jsonType
	hdr["Cache-Control"] = noStore
	hdr["Content-Length"] = b.length
	w.WriteHeader(status)
	_, _ = w.Write(b.body)
}

// retryAfters are Retry-After values by seconds, made once each.
var retryAfters cowMap[int, []string]

// retryAfter is the Retry-After value of a wait, in whole seconds rounded
// up; the slice is shared.
func retryAfter(d time.Duration) []string {
	n := int(d.Seconds() + 0.999)
	if v, ok := retryAfters.load(n); ok {
		return v
	}
	v := []string{strconv.Itoa(n)}
	if n <= 3600 {
		retryAfters.store(n, v)
	}
	return v
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
	"bearer.ambiguous":      "The request carries an access token in more than one place.",
	"bearer.csrf":           "A cookie token needs a same-origin request for this method.",
	"tenant.invalid":        "The tenant domain is not valid.",
	"authz.cross_tenant":    "The user cannot act in this tenant.",
	"auth.unknown_tenant":   "The user's tenant is not valid.",
	"bearer.unbound":        "This resource needs a token bound to its holder (DPoP or a client certificate).",
	"dpop.invalid_proof":    "The DPoP proof is not valid.",
	"dpop.invalid_token":    "The access token is not valid for this DPoP proof.",
	"dpop.use_nonce":        "Send a DPoP proof with the server's nonce.",
	"dpop.busy":             "The server is busy; try again later.",
	"bearer.throttled":      "Too many invalid access tokens from this address; try again later.",
	"authz.denied":          "The caller lacks a permission or scope this resource requires.",
	"auth.unavailable":      "Authentication could not be completed; try again later.",
	"authz.unavailable":     "Authorization could not be completed; try again later.",
}

var statusDescriptions = map[int]string{
	http.StatusBadRequest:         "The request is malformed or ambiguous.",
	http.StatusUnauthorized:       "Authentication is required, or the credentials are not valid.",
	http.StatusForbidden:          "The caller may not use this resource.",
	http.StatusNotFound:           "Not found.",
	http.StatusTooManyRequests:    "Too many failed attempts; try again later.",
	http.StatusServiceUnavailable: "Authentication could not be completed; try again later.",
}

type bodyKey struct {
	status int
	reason string
}

// builtBody is a denial's body and its Content-Length value.
type builtBody struct {
	body   []byte
	length []string
}

// bodies holds the built denial bodies: a denial writes one that exists.
var bodies cowMap[bodyKey, builtBody]

// denialBody returns the body for a status and reason, built once.
func denialBody(status int, reason string) builtBody {
	k := bodyKey{status, reason}
	if b, ok := bodies.load(k); ok {
		return b
	}
	desc, ok := descriptions[reason]
	if !ok {
		if desc, ok = statusDescriptions[status]; !ok {
			desc = "The request was refused."
		}
	}
	body, _ := json.Marshal(struct {
		Code        int    `json:"code"`
		Message     string `json:"message"`
		Description string `json:"description"`
	}{status, http.StatusText(status), desc})
	b := builtBody{body: body, length: []string{strconv.Itoa(len(body))}}
	if _, known := descriptions[reason]; known || reason == "" {
		bodies.store(k, b) // a third party's reasons are not kept: they are unbounded
	}
	return b
}

// errorField describes a failing guest module for a log line.
func errorField(module string, v any) []zap.Field {
	return []zap.Field{zap.String("module", module), zap.Any("error", v)}
}

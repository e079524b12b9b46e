// Package bearer is rest_auth's bearer-token authenticator (RFC 6750,
// WSO2's OAuthAuthentication), module http.rest_auth.authenticators.bearer,
// and its provider for Caddy's own authentication handler (rest_bearer):
// JWTs checked with keys from files, secrets or JWK sets fetched from a
// URL; opaque tokens asked about with RFC 7662 introspection; and the
// tokens of a token service running in the same Caddy, found through
// caddyauth's issuer registry. Verified tokens are cached by their
// SHA-256.
package bearer

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"go.uber.org/zap"
	"golang.org/x/sync/singleflight"

	"github.com/restauth/caddy-restauth/caddyauth"
	"github.com/restauth/caddy-restauth/caddyauth/dpop"
	"github.com/restauth/caddy-restauth/caddyauth/throttle"
	"github.com/restauth/caddy-restauth/permissions"
)

func init() {
	caddy.RegisterModule(Bearer{})
}

// maxToken is the largest bearer token looked at; longer ones are refused
// before any parsing.
const maxToken = 8 << 10

// Bearer authenticates OAuth2 bearer tokens (RFC 6750): JWTs checked with
// keys (jwt), opaque tokens asked about with RFC 7662 introspection
// (introspect), or both, in which case a token of three dot-separated parts
// goes to jwt and any other to introspect. Its WSO2 name is
// OAuthAuthentication.
//
// The principal is the token's user, holding the token's scopes. Its roles
// are, by default, those of the token's roles claim together with those the
// user store gives that user (roles_from).
type Bearer struct {
	// Realm goes in the WWW-Authenticate challenge. Default: "restricted".
	Realm string `json:"realm,omitempty"`
	// JWT validators, one per issuer (or group of issuers sharing keys).
	// With several, a token goes to the one that lists its iss.
	JWT []*JWTValidator `json:"jwt,omitempty"`
	// Introspect checks tokens that are not JWTs (or all tokens, without jwt).
	Introspect *Introspector `json:"introspect,omitempty"`
	// Builtin trusts the access tokens of the oauth2_server token services
	// running in this Caddy (checked in process, revocations included).
	// It is on by default when neither jwt nor introspect is configured.
	Builtin bool `json:"builtin,omitempty"`
	// Audiences are the aud values a built-in token must hold one of.
	// Default: the audiences its oauth2_server issues for (its audience
	// setting, which defaults to its issuer).
	Audiences []string `json:"audiences,omitempty"`
	// RolesFrom is where a token principal's roles come from: "both" (the
	// default: the token's roles claim and the user store), "token" or
	// "store". Introspected tokens have store roles only.
	RolesFrom string `json:"roles_from,omitempty"`
	// CacheSize bounds the cache of verified tokens (keyed by the token's
	// SHA-256; an entry lives until the token expires). Default 10000; -1
	// turns it off.
	CacheSize int `json:"cache_size,omitempty"`
	// DPoP switches on DPoP-bound tokens (RFC 9449): Authorization: DPoP
	// with a proof. Tokens bound to a key (cnf.jkt) are refused without
	// their proof whether or not it is on.
	DPoP *DPoPConfig `json:"dpop,omitempty"`
	// RequireBinding refuses tokens that are not sender-constrained:
	// "mtls" (cnf x5t#S256, RFC 8705), "dpop" (cnf jkt) or "any". Default:
	// bound tokens are checked, unbound ones accepted.
	RequireBinding string `json:"require_binding,omitempty"`
	// TokenFrom lists the places a token is looked for, tried in order:
	// the Authorization header, another header, a cookie, a query
	// parameter. Default: the Authorization header alone. A token found in
	// more than one place is refused (400). Tokens from other headers,
	// cookies and query parameters are removed before the request goes on.
	TokenFrom []TokenSource `json:"token_from,omitempty"`
	// CSRFHeader names a header field whose presence shows that a request
	// with a cookie token and an unsafe method (not GET, HEAD or OPTIONS)
	// comes from the site's own pages. Without it (or a Sec-Fetch-Site of
	// same-origin or none) such a request gets 403.
	CSRFHeader string `json:"csrf_header,omitempty"`
	// BadTokenLimit bounds the tokens one client address may present that
	// fail their signature or key check, in BadTokenWindow: beyond it, a
	// token from that address that is not already known good gets 429
	// with Retry-After and costs no signature check (a flood of forged
	// tokens costs little more than a flood of requests without one).
	// Tokens verified before, expired, revoked or of the wrong audience
	// do not count. Default 100; -1 turns the limit off.
	BadTokenLimit int `json:"bad_token_limit,omitempty"`
	// BadTokenWindow is the limit's window. Default 1m.
	BadTokenWindow caddy.Duration `json:"bad_token_window,omitempty"`
	// BadTokenIPv6Prefix is the prefix length by which IPv6 clients are
	// counted. Default 64.
	BadTokenIPv6Prefix int `json:"bad_token_ipv6_prefix,omitempty"`
	// ThrottleStoreRaw shares the forged-token counts with the other
	// instances of a fleet (a module in http.rest_auth.throttle_stores,
	// such as redis). Without it each instance counts alone.
	ThrottleStoreRaw json.RawMessage `json:"throttle_store,omitempty" caddy:"namespace=http.rest_auth.throttle_stores inline_key=store"`

	limits   *throttle.Limits // bad tokens per client address
	dpop     *dpop.Checker    // nil without DPoP
	dpopAlgs string           // for the DPoP challenge
	nonces   *nonces          // with dpop nonce
	cache    *tokenCache
	refused  *refusedCache       // recent refusals, apart (a flood of forged tokens fills only this)
	flight   *singleflight.Group // one verification for concurrent requests with one token
	logger   *zap.Logger
}

// CaddyModule returns the Caddy module information.
func (Bearer) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "http.rest_auth.authenticators.bearer",
		New: func() caddy.Module { return new(Bearer) },
	}
}

// Provision loads keys and starts JWK set refreshes.
func (b *Bearer) Provision(ctx caddy.Context) error {
	b.logger = ctx.Logger()
	if err := caddyauth.RegisterMetrics(ctx.GetMetricsRegistry()); err != nil {
		return err
	}
	if err := caddyauth.RegisterCollectors(ctx.GetMetricsRegistry(), jwksFetches, introspectionCalls); err != nil {
		return err
	}
	if b.Realm == "" {
		b.Realm = "restricted"
	}
	if b.RolesFrom == "" {
		b.RolesFrom = "both"
	}
	if b.CacheSize == 0 {
		b.CacheSize = 10000
	}
	if len(b.JWT) == 0 && b.Introspect == nil {
		b.Builtin = true
	}
	if b.CacheSize > 0 {
		b.cache, b.refused = newTokenCache(b.CacheSize), new(refusedCache)
	}
	b.flight = new(singleflight.Group)
	if b.BadTokenWindow == 0 {
		b.BadTokenWindow = caddy.Duration(time.Minute)
	}
	if b.BadTokenIPv6Prefix == 0 {
		b.BadTokenIPv6Prefix = 64
	}
	if b.BadTokenLimit == 0 {
		b.BadTokenLimit = 100
	}
	if err := b.provisionDPoP(&ctx); err != nil {
		return err
	}
	b.limits = throttle.PerAddress("bearer", b.BadTokenLimit, time.Duration(b.BadTokenWindow), b.BadTokenIPv6Prefix)
	store, err := caddyauth.LoadThrottleStore(ctx, b.ThrottleStoreRaw)
	if err != nil {
		return fmt.Errorf("bearer: %w", err)
	}
	if store != nil && b.limits == nil {
		return errors.New("bearer: throttle_store with bad_token_limit off: there is nothing to share")
	}
	b.limits = b.limits.WithStore(store, b.logger)
	for i, v := range b.JWT {
		if err := v.provision(ctx, b.logger); err != nil {
			return fmt.Errorf("bearer: jwt %d: %w", i+1, err)
		}
	}
	if b.Introspect != nil {
		if err := b.Introspect.provision(); err != nil {
			return fmt.Errorf("bearer: %w", err)
		}
	}
	return nil
}

// Validate checks the settings.
func (b *Bearer) Validate() error {
	switch b.RequireBinding {
	case "", "mtls", "dpop", "any":
	default:
		return fmt.Errorf("bearer: require_binding must be mtls, dpop or any, not %q", b.RequireBinding)
	}
	if b.RequireBinding == "dpop" && b.DPoP == nil {
		return errors.New("bearer: require_binding dpop needs dpop switched on")
	}
	for _, s := range b.TokenFrom {
		switch s.From {
		case "authorization", "query", "form":
		case "header", "cookie":
			if s.Name == "" {
				return fmt.Errorf("bearer: token_from %s needs a name", s.From)
			}
			if s.From == "header" && strings.EqualFold(s.Name, "Authorization") {
				return errors.New("bearer: token_from header Authorization: write token_from authorization")
			}
		default:
			return fmt.Errorf("bearer: token_from %q: want authorization, header, cookie, form or query", s.From)
		}
	}
	if b.BadTokenLimit < -1 || b.BadTokenWindow < 0 || b.BadTokenIPv6Prefix < 0 || b.BadTokenIPv6Prefix > 128 {
		return errors.New("bearer: bad_token_limit must be positive (or -1 for off), its window positive, its IPv6 prefix 1 to 128")
	}
	if len(b.JWT) == 0 && b.Introspect == nil && !b.Builtin {
		return errors.New("bearer: configure jwt, introspect, builtin, or leave the block empty for builtin")
	}
	if strings.ContainsAny(b.Realm, "\"\\\r\n") {
		return errors.New("bearer: realm must not contain quotes, backslashes or line breaks")
	}
	switch b.RolesFrom {
	case "both", "token", "store":
	default:
		return fmt.Errorf("bearer: roles_from must be both, token or store, not %q", b.RolesFrom)
	}
	open := 0
	for _, v := range b.JWT {
		if len(v.Issuers) == 0 {
			open++
		}
	}
	if open > 0 && len(b.JWT) > 1 {
		return errors.New("bearer: with several jwt blocks, each needs its issuer")
	}
	return nil
}

// Cleanup releases shared JWK sets.
func (b *Bearer) Cleanup() error {
	for _, v := range b.JWT {
		v.cleanup()
	}
	return nil
}

// Name returns "bearer".
func (*Bearer) Name() string { return "bearer" }

// WSO2Name returns "OAuthAuthentication".
func (*Bearer) WSO2Name() string { return "OAuthAuthentication" }

// Present reports whether the Authorization header uses the Bearer scheme,
// or, with token_from, whether any of its places holds something.
func (b *Bearer) Present(r *http.Request) bool {
	if len(b.TokenFrom) > 0 {
		return b.present(r)
	}
	v := caddyauth.Authorization(r)
	return caddyauth.HasScheme(v, "bearer") || b.dpop != nil && caddyauth.HasScheme(v, "dpop")
}

// Challenge returns the Bearer challenge, with error="invalid_token" when
// a token was refused.
func (b *Bearer) Challenge(err error) string {
	var d *caddyauth.Denial
	dpopCh := ""
	if b.dpop != nil {
		dpopCh = `, DPoP algs="` + b.dpopAlgs + `"`
	}
	if errors.As(err, &d) && d.Status == http.StatusUnauthorized {
		switch d.Reason {
		case "dpop.invalid_proof":
			return `DPoP error="invalid_dpop_proof", algs="` + b.dpopAlgs + `"`
		case "dpop.use_nonce":
			return `DPoP error="use_dpop_nonce", algs="` + b.dpopAlgs + `"`
		case "dpop.invalid_token":
			if b.dpop == nil {
				return `Bearer realm="` + b.Realm + `"` // DPoP is not offered here
			}
			return `DPoP error="invalid_token", algs="` + b.dpopAlgs + `"`
		}
		return `Bearer realm="` + b.Realm + `", error="invalid_token"` + dpopCh
	}
	return `Bearer realm="` + b.Realm + `"` + dpopCh
}

// Authenticate checks the token, and the proof of possession a bound
// token needs (a DPoP proof, the client certificate).
func (b *Bearer) Authenticate(r *http.Request, s *caddyauth.Snapshot) (*caddyauth.Principal, error) {
	var tok string
	var dpopScheme bool
	if len(b.TokenFrom) == 0 {
		var ok bool
		if tok, dpopScheme, ok = authorizationToken(caddyauth.Authorization(r)); !ok {
			return nil, caddyauth.Deny("cred.malformed")
		}
	} else {
		f, d := b.locate(r)
		if d != nil {
			return nil, d
		}
		if f.cookie && !safeMethod(r.Method) && !b.csrfOK(r) {
			return nil, &caddyauth.Denial{Status: http.StatusForbidden, Reason: "bearer.csrf"}
		}
		tok, dpopScheme = f.tok, f.dpop
	}
	if dpopScheme && b.dpop == nil {
		return nil, denyDPoPToken // DPoP is not switched on here
	}
	e, err := b.verified(r, tok)
	if err != nil {
		if d, ok := err.(*caddyauth.Denial); ok && dpopScheme && d.Status == http.StatusUnauthorized {
			return nil, denyDPoPToken
		}
		return nil, err
	}
	if d := b.binding(r, tok, dpopScheme, e.claims); d != nil {
		return nil, d
	}
	return b.principal(e, s)
}

// verified returns a token's cache entry: from the cache, or verified now.
func (b *Bearer) verified(r *http.Request, tok string) (*tokenEntry, error) {
	now := time.Now()
	key := tokenKey(tok)
	// a cached token passed validToken when it was first seen, so only a
	// miss needs the character check
	if e := b.cache.get(key, now); e != nil && !e.claims.stale() {
		cacheHit.Inc()
		if e.claims.issuer != nil && e.claims.issuer.Revoked(e.claims.jti, e.claims.sid) {
			return nil, caddyauth.Deny("bearer.revoked")
		}
		if e.claims.exp.IsZero() || now.Before(e.claims.exp) {
			return e, nil
		}
	}
	if d := b.refused.get(key, now); d != nil {
		cacheHit.Inc()
		return nil, d
	}
	cacheMiss.Inc()
	if !validToken(tok) {
		return nil, caddyauth.Deny("cred.malformed")
	}
	if b.limits.Active() {
		if wait := b.limits.Wait("", caddyauth.ClientIP(r)); wait > 0 {
			return nil, &caddyauth.Denial{Status: http.StatusTooManyRequests, Reason: "bearer.throttled", RetryAfter: wait}
		}
	}
	if b.limits.Shared() {
		// a fleet: an address blocked on another instance is blocked here
		if wait := b.limits.WaitShared(r.Context(), "", caddyauth.ClientIP(r)); wait > 0 {
			return nil, &caddyauth.Denial{Status: http.StatusTooManyRequests, Reason: "bearer.throttled", RetryAfter: wait}
		}
	}
	var e *tokenEntry
	jwtShaped := strings.Count(tok, ".") == 2
	var builtin caddyauth.Issuer
	if b.Builtin && jwtShaped {
		builtin = caddyauth.LookupIssuer(peekIssuer(tok))
	}
	switch {
	case builtin != nil:
		gen := builtin.Generation()
		it, err := once(b.flight, key, func() (*caddyauth.IssuedToken, error) { return builtin.Verify(tok) })
		if err != nil {
			// the service's own tokens always verify and name a subject and
			// an id: an invalid one was not issued by it
			d, ok := err.(*caddyauth.Denial)
			b.refusal(r, key, err, now, ok && d.Reason == "bearer.invalid")
			return nil, err
		}
		if !audienceHeld(it.Audience, b.builtinAudiences(builtin)) {
			err := caddyauth.Deny("bearer.invalid")
			b.refusal(r, key, err, now, false)
			return nil, err
		}
		tc := &tokenClaims{user: it.Subject, client: it.Client, scopes: strings.Fields(it.Scope), exp: it.Expires,
			issuer: builtin, jti: it.ID, sid: it.Family, src: builtin, gen: gen, all: issuedClaims(it, peekIssuer(tok)),
			jkt: it.JKT, x5t: it.X5T}
		e = &tokenEntry{claims: tc, expires: tc.exp}
	case len(b.JWT) > 0 && jwtShaped:
		v := b.validatorFor(tok)
		if v == nil {
			return nil, caddyauth.Deny("bearer.invalid")
		}
		tc, err := once(b.flight, key, func() (*tokenClaims, error) { return v.verify(tok) })
		if err != nil {
			b.refusal(r, key, err, now, err == denyForged)
			return nil, err
		}
		if b.RolesFrom == "store" {
			tc.roles = nil
		}
		e = &tokenEntry{claims: tc, expires: tc.exp}
	case b.Introspect != nil:
		var err error
		if e, err = b.Introspect.lookup(key, tok); err != nil {
			return nil, err
		}
		if e.denial != nil {
			b.refused.put(key, e.denial, e.expires)
			return nil, e.denial
		}
	default:
		return nil, caddyauth.Deny("bearer.invalid")
	}
	b.cache.put(key, e)
	return e, nil
}

// issuedClaims are a built-in token's claims, as its JWT holds them.
func issuedClaims(it *caddyauth.IssuedToken, iss string) map[string]any {
	aud := make([]any, len(it.Audience))
	for i, a := range it.Audience {
		aud[i] = a
	}
	c := map[string]any{"sub": it.Subject, "aud": aud, "exp": float64(it.Expires.Unix()), "jti": it.ID}
	if it.ClientID != "" {
		c["client_id"] = it.ClientID
	}
	if it.Scope != "" {
		c["scope"] = it.Scope
	}
	if it.Family != "" {
		c["sid"] = it.Family
	}
	if iss != "" {
		c["iss"] = iss
	}
	return c
}

// once runs a token's verification once for all the requests that carry
// the token at the same moment (a fleet of clients of one service account
// after a restart): the others wait for its answer instead of each
// checking the signature. Without a group (a Bearer not provisioned) it
// just runs.
func once[T any](g *singleflight.Group, key [32]byte, verify func() (T, error)) (T, error) {
	if g == nil {
		return verify()
	}
	v, err, _ := g.Do(string(key[:]), func() (any, error) { return verify() })
	out, _ := v.(T)
	return out, err
}

// builtinAudiences are the audiences a built-in token must hold one of.
func (b *Bearer) builtinAudiences(o caddyauth.Issuer) []string {
	if len(b.Audiences) > 0 {
		return b.Audiences
	}
	return o.Audiences()
}

// audienceHeld reports whether a token's aud holds one of the wanted.
func audienceHeld(aud, want []string) bool {
	for _, a := range aud {
		if slices.Contains(want, a) {
			return true
		}
	}
	return false
}

// negativeTTL is how long a refused JWT is answered from the cache: a
// client (or attacker) repeating a bad token then costs a map look-up,
// not a signature check. It is short, so a key that appears in the JWK set
// later is not hidden for long.
const negativeTTL = 5 * time.Second

// refusal remembers a JWT's refusal and, for a forged one (it failed its
// parse, signature or key check), counts it against the client's address.
// An expired, revoked or other-audience token was signed by the issuer,
// and a client may well hold one: it does not count.
func (b *Bearer) refusal(r *http.Request, key [32]byte, err error, now time.Time, forged bool) {
	b.rememberRefusal(key, err, now)
	if forged && b.limits != nil {
		b.limits.Fail("", caddyauth.ClientIP(r))
	}
}

// rememberRefusal caches a JWT's refusal briefly. Errors that are not
// about the token (no keys yet) are never cached.
func (b *Bearer) rememberRefusal(key [32]byte, err error, now time.Time) {
	var d *caddyauth.Denial
	if errors.As(err, &d) && d.Status == http.StatusUnauthorized {
		b.refused.put(key, d, now.Add(negativeTTL))
	}
}

// validatorFor picks the JWT validator for a token by its iss.
func (b *Bearer) validatorFor(tok string) *JWTValidator {
	if len(b.JWT) == 1 {
		return b.JWT[0]
	}
	iss := peekIssuer(tok)
	for _, v := range b.JWT {
		for _, i := range v.Issuers {
			if i == iss {
				return v
			}
		}
	}
	return nil
}

// principal builds (once per snapshot) the principal of a cached token:
// its claims' roles and, unless roles_from is token, the user store's
// roles for its user (a client's own token: the client's roles).
func (b *Bearer) principal(e *tokenEntry, s *caddyauth.Snapshot) (*caddyauth.Principal, error) {
	if p := e.derived.Get(s, "bearer"); p != nil {
		return p, nil
	}
	tc := e.claims
	roles := tc.roles
	if b.RolesFrom != "token" {
		var extra []string
		if tc.client {
			extra = s.ClientRoles(tc.user)
		} else {
			acct, err := s.Lookup(context.Background(), tc.user)
			if err != nil {
				return nil, err // the store could not tell: 503, never fewer or more roles by chance
			}
			if acct != nil {
				extra = acct.Roles
			}
		}
		if len(extra) > 0 {
			roles = append(slices.Clone(roles), extra...)
		}
	}
	p := s.NewPrincipal(caddyauth.Principal{User: tc.user, AuthMethod: "bearer", Roles: roles, Scopes: tc.scopes, Token: true, Client: tc.client, Claims: tc.all, Binding: tc.binding()})
	e.derived.Put(s, "bearer", p)
	return p, nil
}

// bearerField is what follows "Bearer " (one space), if its length is
// possible (at most 8 KiB); its characters are checked apart (validToken),
// on a cache miss only.
func bearerField(v string) (string, bool) {
	if len(v) < 8 || len(v) > maxToken+7 || v[6] != ' ' {
		return "", false
	}
	return v[7:], true
}

// validToken reports whether tok is a b64token: its characters, then '='.
func validToken(tok string) bool {
	end := len(tok)
	for end > 0 && tok[end-1] == '=' {
		end--
	}
	if end == 0 {
		return false
	}
	for i := 0; i < end; i++ {
		if !b64tokenByte[tok[i]] {
			return false
		}
	}
	return true
}

// b64tokenByte marks the characters of RFC 6750's b64token (before its
// trailing '='): letters, digits and - . _ ~ + /.
var b64tokenByte = func() (t [256]bool) {
	for c := 0; c < 256; c++ {
		t[c] = 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' ||
			c == '-' || c == '.' || c == '_' || c == '~' || c == '+' || c == '/'
	}
	return t
}()

// UnmarshalCaddyfile sets up the handler from Caddyfile tokens:
//
//	bearer [{
//		builtin                  # trust this Caddy's oauth2_server (default without jwt/introspect)
//		audience <aud>...        # built-in tokens: default the oauth2_server's audience
//		realm <realm>
//		roles_from both|token|store
//		cache_size <n>|off
//		jwt {
//			issuer <iss>...
//			audience <aud>... | any
//			jwks_url <url> | key <file> | secret <value>
//			algorithms <alg>...
//			typ <typ>...
//			user_claim <claim>
//			roles_claim <claim>
//			roles_delimiter <delimiter>
//			leeway <duration>
//			refresh <duration>
//			kid_cooldown <duration>
//		}
//		introspect {
//			endpoint <url>
//			client_id <id>
//			client_secret <secret>
//			timeout <duration>
//			cache_ttl <duration>|off
//			negative_ttl <duration>
//			max_concurrent <n>
//		}
//	}]
func (b *Bearer) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	d.Next() // handler name
	if d.NextArg() {
		return d.ArgErr()
	}
	for d.NextBlock(0) {
		switch d.Val() {
		case "realm":
			if err := caddyauth.OneArg(d, &b.Realm); err != nil {
				return err
			}
		case "roles_from":
			if err := caddyauth.OneArg(d, &b.RolesFrom); err != nil {
				return err
			}
		case "cache_size":
			var v string
			if err := caddyauth.OneArg(d, &v); err != nil {
				return err
			}
			if v == "off" {
				b.CacheSize = -1
				continue
			}
			n, err := strconv.Atoi(v)
			if err != nil || n < 1 {
				return d.Errf("cache_size must be a positive number or off, not %q", v)
			}
			b.CacheSize = n
		case "jwt":
			v, err := parseJWT(d)
			if err != nil {
				return err
			}
			b.JWT = append(b.JWT, v)
		case "builtin":
			if d.NextArg() {
				return d.ArgErr()
			}
			b.Builtin = true
		case "audience":
			if err := caddyauth.SomeArgs(d, &b.Audiences); err != nil {
				return err
			}
		case "token_from":
			args := d.RemainingArgs()
			if len(args) == 0 {
				return d.Err("token_from: write token_from authorization | header <name> [<scheme>] | cookie <name> | form | query [<name>]")
			}
			s := TokenSource{From: args[0]}
			switch {
			case args[0] == "authorization" && len(args) == 1:
			case args[0] == "header" && (len(args) == 2 || len(args) == 3):
				s.Name = args[1]
				if len(args) == 3 {
					s.Scheme = args[2]
				}
			case args[0] == "cookie" && len(args) == 2:
				s.Name = args[1]
			case args[0] == "form" && len(args) == 1:
			case args[0] == "query" && len(args) <= 2:
				if len(args) == 2 {
					s.Name = args[1]
				}
			default:
				return d.Errf("token_from %s: write token_from authorization | header <name> [<scheme>] | cookie <name> | form | query [<name>]%s",
					strings.Join(args, " "), permissions.DidYouMean(args[0], []string{"authorization", "header", "cookie", "form", "query"}))
			}
			b.TokenFrom = append(b.TokenFrom, s)
		case "require_binding":
			if err := caddyauth.OneArg(d, &b.RequireBinding); err != nil {
				return err
			}
		case "dpop":
			cfg := new(DPoPConfig)
			if d.NextArg() {
				return d.ArgErr()
			}
			for nest := d.Nesting(); d.NextBlock(nest); {
				switch d.Val() {
				case "algorithms":
					if err := caddyauth.SomeArgs(d, &cfg.Algorithms); err != nil {
						return err
					}
				case "window":
					var v string
					if err := caddyauth.OneArg(d, &v); err != nil {
						return err
					}
					w, err := caddyauth.ParseDuration(d, "window", v)
					if err != nil {
						return err
					}
					cfg.Window = caddy.Duration(w)
				case "replay_store":
					raw, err := caddyauth.ThrottleStoreArg(d)
					if err != nil {
						return err
					}
					cfg.ReplayStoreRaw = raw
				case "nonce":
					cfg.Nonce = true
					if d.NextArg() {
						cfg.NonceKey = d.Val()
					}
				case "nonce_lifetime":
					var v string
					if err := caddyauth.OneArg(d, &v); err != nil {
						return err
					}
					w, err := caddyauth.ParseDuration(d, "nonce_lifetime", v)
					if err != nil {
						return err
					}
					cfg.NonceLifetime = caddy.Duration(w)
				case "replay_cache_size":
					var v string
					if err := caddyauth.OneArg(d, &v); err != nil {
						return err
					}
					n, err := strconv.Atoi(v)
					if err != nil || n < 1 {
						return d.Errf("replay_cache_size must be a positive number, not %q", v)
					}
					cfg.ReplayCacheSize = n
				default:
					return caddyauth.UnknownOption(d, "dpop", []string{"algorithms", "window", "replay_cache_size", "replay_store", "nonce", "nonce_lifetime"})
				}
			}
			b.DPoP = cfg
		case "csrf_header":
			if err := caddyauth.OneArg(d, &b.CSRFHeader); err != nil {
				return err
			}
		case "bad_token_limit":
			n, w, err := throttle.ParseLimit(d, "bad_token_limit", "100 1m")
			if err != nil {
				return err
			}
			b.BadTokenLimit = n
			if w > 0 {
				b.BadTokenWindow = caddy.Duration(w)
			}
		case "throttle_store":
			raw, err := caddyauth.ThrottleStoreArg(d)
			if err != nil {
				return err
			}
			b.ThrottleStoreRaw = raw
		case "bad_token_ipv6_prefix":
			n, err := throttle.ParsePrefix(d, "bad_token_ipv6_prefix")
			if err != nil {
				return err
			}
			b.BadTokenIPv6Prefix = n
		case "introspect":
			if b.Introspect != nil {
				return d.Err("introspect given twice")
			}
			in, err := parseIntrospect(d)
			if err != nil {
				return err
			}
			b.Introspect = in
		default:
			return caddyauth.UnknownOption(d, "bearer", []string{"realm", "roles_from", "cache_size", "dpop", "require_binding", "token_from", "csrf_header", "bad_token_limit", "bad_token_ipv6_prefix", "throttle_store", "jwt", "builtin", "audience", "introspect"})
		}
	}
	return nil
}

func parseJWT(d *caddyfile.Dispenser) (*JWTValidator, error) {
	v := new(JWTValidator)
	if d.NextArg() {
		return nil, d.ArgErr()
	}
	for nest := d.Nesting(); d.NextBlock(nest); {
		var err error
		switch opt := d.Val(); opt {
		case "issuer":
			err = caddyauth.SomeArgs(d, &v.Issuers)
		case "audience":
			var auds []string
			if err = caddyauth.SomeArgs(d, &auds); err == nil {
				if len(auds) == 1 && auds[0] == "any" {
					v.AnyAudience = true
				} else {
					v.Audiences = append(v.Audiences, auds...)
				}
			}
		case "jwks_url":
			err = caddyauth.OneArg(d, &v.JWKSURL)
		case "discovery":
			err = caddyauth.OneArg(d, &v.Discovery)
		case "key":
			err = caddyauth.OneArg(d, &v.KeyFile)
		case "secret":
			err = caddyauth.OneArg(d, &v.Secret)
		case "algorithms":
			err = caddyauth.SomeArgs(d, &v.Algorithms)
		case "typ":
			err = caddyauth.SomeArgs(d, &v.Types)
		case "user_claim":
			err = caddyauth.OneArg(d, &v.UserClaim)
		case "tenant_claim":
			err = caddyauth.OneArg(d, &v.TenantClaim)
		case "roles_claim":
			err = caddyauth.OneArg(d, &v.RolesClaim)
		case "roles_delimiter":
			err = caddyauth.OneArg(d, &v.RolesDelimiter)
		case "leeway":
			var l caddy.Duration
			if err = caddyauth.DurationArgMin(d, &l, 0); err == nil {
				v.Leeway = &l
			}
		case "refresh":
			err = caddyauth.DurationArg(d, &v.Refresh)
		case "kid_cooldown":
			err = caddyauth.DurationArg(d, &v.KidCooldown)
		default:
			return nil, caddyauth.UnknownOption(d, "jwt", []string{"issuer", "audience", "jwks_url", "discovery", "key", "tenant_claim", "secret", "algorithms", "typ",
				"user_claim", "roles_claim", "roles_delimiter", "leeway", "refresh", "kid_cooldown"})
		}
		if err != nil {
			return nil, err
		}
	}
	return v, nil
}

func parseIntrospect(d *caddyfile.Dispenser) (*Introspector, error) {
	in := new(Introspector)
	if d.NextArg() {
		return nil, d.ArgErr()
	}
	for nest := d.Nesting(); d.NextBlock(nest); {
		var err error
		switch opt := d.Val(); opt {
		case "endpoint":
			err = caddyauth.OneArg(d, &in.Endpoint)
		case "client_id":
			err = caddyauth.OneArg(d, &in.ClientID)
		case "client_secret":
			err = caddyauth.OneArg(d, &in.ClientSecret)
		case "timeout":
			err = caddyauth.DurationArg(d, &in.Timeout)
		case "cache_ttl":
			var v string
			if err = caddyauth.OneArg(d, &v); err == nil {
				if v == "off" {
					in.CacheTTL = -1
					continue
				}
				ttl, perr := caddyauth.ParseDuration(d, "cache_ttl", v)
				if perr != nil {
					return nil, perr
				}
				if ttl <= 0 {
					return nil, d.Errf("cache_ttl must be a positive duration or off, not %q", v)
				}
				in.CacheTTL = caddy.Duration(ttl)
			}
		case "negative_ttl":
			err = caddyauth.DurationArg(d, &in.NegativeTTL)
		case "max_concurrent":
			var s string
			if err = caddyauth.OneArg(d, &s); err == nil {
				n, perr := strconv.Atoi(s)
				if perr != nil || n < 1 {
					return nil, d.Errf("max_concurrent must be a positive number, not %q", s)
				}
				in.MaxConcurrent = n
			}
		default:
			return nil, caddyauth.UnknownOption(d, "introspect", []string{"endpoint", "client_id", "client_secret", "timeout", "cache_ttl", "negative_ttl", "max_concurrent"})
		}
		if err != nil {
			return nil, err
		}
	}
	return in, nil
}

// Interface guards
var (
	_ caddyauth.Authenticator     = (*Bearer)(nil)
	_ caddyauth.HeaderStripper    = (*Bearer)(nil)
	_ caddyauth.CredentialRemover = (*Bearer)(nil)
	_ caddy.Provisioner           = (*Bearer)(nil)
	_ caddy.Validator             = (*Bearer)(nil)
	_ caddy.CleanerUpper          = (*Bearer)(nil)
	_ caddyfile.Unmarshaler       = (*Bearer)(nil)
)

package bearer

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/golang-jwt/jwt/v5"
	"go.uber.org/zap"

	"github.com/restauth/caddy-restauth/caddyauth"
)

// JWTValidator checks JWT access tokens from one issuer (or a few that
// share keys). The keys come from exactly one of jwks_url, key_file and
// secret. The headers jku, x5u, jwk and x5c are never used to find a key,
// and a token with a crit header is refused.
type JWTValidator struct {
	// Issuers are the accepted iss values; empty accepts any issuer (and
	// then this validator only fits when it is the only one).
	Issuers []string `json:"issuers,omitempty"`
	// Audiences: the token's aud must contain one of them. Required
	// (RFC 9068 section 4: a resource server checks that a token was
	// meant for it) unless AnyAudience is set.
	Audiences []string `json:"audiences,omitempty"`
	// AnyAudience accepts a token for any audience, in so many words
	// (audience any in the Caddyfile).
	AnyAudience bool `json:"any_audience,omitempty"`
	// JWKSURL is a JWK set URL, fetched in the background and refreshed.
	JWKSURL string `json:"jwks_url,omitempty"`
	// Discovery is an issuer URL whose metadata (RFC 8414, or OpenID
	// Connect discovery) names the JWK set, instead of JWKSURL. The
	// metadata's issuer must equal it exactly; it is also the accepted
	// iss unless Issuers are given (which must then hold it).
	Discovery string `json:"discovery,omitempty"`
	// KeyFile is a file with PEM public keys or certificates (RSA, ECDSA,
	// Ed25519) or a JWK set.
	KeyFile string `json:"key_file,omitempty"`
	// Secret is the raw HMAC key, at least 32 bytes. Placeholders such as
	// {env.JWT_SECRET} are replaced when the config loads.
	Secret string `json:"secret,omitempty"`
	// Algorithms is the required allow-list of alg values (RS256, RS384,
	// RS512, PS256, PS384, PS512, ES256, ES384, ES512, EdDSA, HS256,
	// HS384, HS512). "none" is never accepted.
	Algorithms []string `json:"algorithms,omitempty"`
	// Types, when set, is an allow-list for the typ header, such as
	// at+jwt (RFC 9068); "application/" may be left out, case is ignored.
	Types []string `json:"types,omitempty"`
	// UserClaim names the claim that holds the user name. Default: sub.
	UserClaim string `json:"user_claim,omitempty"`
	// TenantClaim names a claim holding the user's tenant (WSO2's tenant
	// domain), for issuers that keep it apart from the user claim: the
	// user is then user@tenant. Default: the user claim's own @tenant.
	TenantClaim string `json:"tenant_claim,omitempty"`
	// RolesClaim names the claim that holds roles: an array of strings or
	// a delimited string; a dotted path reaches into nested objects
	// (realm_access.roles). Default: roles.
	RolesClaim string `json:"roles_claim,omitempty"`
	// RolesDelimiter splits a string roles claim. Default: a comma; spaces
	// around roles are trimmed.
	RolesDelimiter string `json:"roles_delimiter,omitempty"`
	// Leeway allows for clock skew on exp, nbf and iat. Default 30s; 0 is
	// strict (an explicit 0 differs from leaving it out).
	Leeway *caddy.Duration `json:"leeway,omitempty"`
	// Refresh is how often a JWK set is fetched again when the endpoint's
	// Cache-Control gives no max-age (max-age is kept between 5 minutes
	// and 24 hours). Default 1h.
	Refresh caddy.Duration `json:"refresh,omitempty"`
	// KidCooldown is the least time between two fetches caused by a token
	// whose kid is not in the set. Default 30s.
	KidCooldown caddy.Duration `json:"kid_cooldown,omitempty"`

	keys    keySet      // from key_file or secret
	remote  *remoteKeys // from jwks_url
	poolKey string
	// validator checks exp, nbf, iat and aud of a verified token
	validator *jwt.Validator
	now       func() time.Time // the clock claims are checked against; nil is time.Now (tests set it)
}

var knownAlgs = []string{"RS256", "RS384", "RS512", "PS256", "PS384", "PS512",
	"ES256", "ES384", "ES512", "EdDSA", "HS256", "HS384", "HS512"}

// provision loads the keys and builds the parser.
func (v *JWTValidator) provision(ctx caddy.Context, logger *zap.Logger) error {
	sources := 0
	for _, s := range []string{v.JWKSURL, v.KeyFile, v.Secret, v.Discovery} {
		if s != "" {
			sources++
		}
	}
	if sources != 1 {
		return errors.New("give exactly one of jwks_url, discovery, key_file and secret")
	}
	if v.Discovery != "" {
		if len(v.Issuers) == 0 {
			v.Issuers = []string{v.Discovery}
		} else if !slices.Contains(v.Issuers, v.Discovery) {
			return fmt.Errorf("discovery %s: the issuers listed must hold it", v.Discovery)
		}
	}
	if len(v.Algorithms) == 0 {
		return errors.New("algorithms is required (for example: algorithms RS256)")
	}
	if len(v.Audiences) == 0 && !v.AnyAudience {
		return errors.New("audience is required: a resource server must check that a token was meant for it (RFC 9068 section 4), " +
			"and without it a token the issuer made for any other API, or an ID token, would pass; " +
			"give the audiences this API accepts, or write \"audience any\" to accept every audience")
	}
	if len(v.Audiences) > 0 && v.AnyAudience {
		return errors.New("audience: give audiences or any, not both")
	}
	for _, a := range v.Algorithms {
		if !slices.Contains(knownAlgs, a) {
			return fmt.Errorf("unknown or refused algorithm %q", a)
		}
		hmac := strings.HasPrefix(a, "HS")
		switch {
		case hmac && (v.JWKSURL != "" || v.Discovery != ""):
			return fmt.Errorf("algorithm %s needs a secret: a key set from a URL is public, so its symmetric keys are never used", a)
		case hmac != (v.Secret != "") && v.JWKSURL == "" && v.Discovery == "":
			if hmac {
				return fmt.Errorf("algorithm %s needs a secret", a)
			}
			return fmt.Errorf("algorithm %s needs a public key, not a secret", a)
		}
	}
	if v.Refresh == 0 {
		v.Refresh = caddy.Duration(time.Hour)
	}
	if v.KidCooldown == 0 {
		v.KidCooldown = caddy.Duration(30 * time.Second)
	}
	if v.Leeway != nil && *v.Leeway < 0 || v.Refresh < 0 || v.KidCooldown < 0 {
		return errors.New("durations must be positive")
	}
	repl := caddy.NewReplacer()
	switch {
	case v.Secret != "":
		secret := repl.ReplaceKnown(v.Secret, "")
		if len(secret) < minSecret {
			return fmt.Errorf("secret must be at least %d bytes", minSecret)
		}
		v.keys = keySet{{key: []byte(secret)}}
	case v.KeyFile != "":
		data, err := os.ReadFile(v.KeyFile)
		if err != nil {
			return err
		}
		ks, err := parseKeyFile(data)
		if err != nil {
			return fmt.Errorf("%s: %w", v.KeyFile, err)
		}
		for _, k := range ks {
			if !slices.ContainsFunc(v.Algorithms, func(a string) bool { return keyFits(k.key, a) }) {
				return fmt.Errorf("%s: a key (kid %q) fits none of the algorithms %v", v.KeyFile, k.kid, v.Algorithms)
			}
		}
		v.keys = ks
	case v.Discovery != "":
		if !strings.HasPrefix(v.Discovery, "https://") && !strings.HasPrefix(v.Discovery, "http://") {
			return fmt.Errorf("discovery %q is not an http(s) URL", v.Discovery)
		}
		rk, key, err := loadRemoteKeys("", v.Discovery, time.Duration(v.Refresh), time.Duration(v.KidCooldown), logger)
		if err != nil {
			return err
		}
		v.remote, v.poolKey = rk, key
	default:
		url := repl.ReplaceKnown(v.JWKSURL, "")
		if !strings.HasPrefix(url, "https://") && !strings.HasPrefix(url, "http://") {
			return fmt.Errorf("jwks_url %q is not an http(s) URL", url)
		}
		rk, key, err := loadRemoteKeys(url, "", time.Duration(v.Refresh), time.Duration(v.KidCooldown), logger)
		if err != nil {
			return err
		}
		v.remote, v.poolKey = rk, key
	}
	return v.setup()
}

// setup fills in defaults and builds the claims validator.
func (v *JWTValidator) setup() error {
	if v.Leeway == nil {
		d := caddy.Duration(30 * time.Second)
		v.Leeway = &d
	}
	if v.UserClaim == "" {
		v.UserClaim = "sub"
	}
	if v.RolesClaim == "" {
		v.RolesClaim = "roles"
	}
	if v.RolesDelimiter == "" {
		v.RolesDelimiter = ","
	}
	opts := []jwt.ParserOption{
		jwt.WithExpirationRequired(),
		jwt.WithIssuedAt(),
		jwt.WithLeeway(time.Duration(*v.Leeway)),
	}
	if v.now != nil {
		opts = append(opts, jwt.WithTimeFunc(v.now))
	}
	if len(v.Audiences) > 0 {
		opts = append(opts, jwt.WithAudience(v.Audiences...))
	}
	v.validator = jwt.NewValidator(opts...)
	return nil
}

// cleanup releases the shared key set.
func (v *JWTValidator) cleanup() {
	if v.poolKey != "" {
		_, _ = jwksPool.Delete(v.poolKey)
		v.poolKey = ""
	}
}

// errNoKeys means the key set could not be loaded: not the token's fault.
var errNoKeys = errors.New("no JWT keys available yet")

// segment decodes one part of a compact JWS: base64url without padding,
// strict (no stray bits), as RFC 7515 section 2 writes it.
var segment = base64.RawURLEncoding.Strict()

// The denials verify returns; a Denial is never changed once made, so one
// value serves every refused token.
var (
	denyInvalid = caddyauth.Deny("bearer.invalid")
	// denyForged is the same answer for a token that failed its parse,
	// signature or key check, which bearer counts per client address.
	denyForged  = caddyauth.Deny("bearer.invalid")
	denyExpired = caddyauth.Deny("bearer.expired")
)

// verify checks a token and returns its claims, a *caddyauth.Denial for a
// bad token, or errNoKeys. The signature is checked before the claims are
// read (RFC 7519 section 7.2): a forged token costs the small header and
// one signature check, and its payload, whatever it holds, is never parsed.
func (v *JWTValidator) verify(tok string) (*tokenClaims, error) {
	var gen uint64
	if v.remote != nil {
		gen = v.remote.Generation() // before the keys are read: a change meanwhile makes the entry stale
	}
	head, rest, ok := strings.Cut(tok, ".")
	if !ok {
		return nil, denyForged
	}
	payload, sig64, ok := strings.Cut(rest, ".")
	if !ok || strings.IndexByte(sig64, '.') >= 0 {
		return nil, denyForged
	}
	hb, err := segment.DecodeString(head)
	if err != nil {
		return nil, denyForged
	}
	var header map[string]any
	if json.Unmarshal(hb, &header) != nil {
		return nil, denyForged
	}
	alg, _ := header["alg"].(string)
	method := jwt.GetSigningMethod(alg)
	if method == nil || !slices.Contains(v.Algorithms, alg) {
		return nil, denyForged
	}
	if _, ok := header["crit"]; ok {
		return nil, denyForged
	}
	if len(v.Types) > 0 {
		typ, _ := header["typ"].(string)
		if !typeAllowed(typ, v.Types) {
			return nil, denyForged
		}
	}
	kid, _ := header["kid"].(string)
	ks := v.keys
	if v.remote != nil {
		ks = v.remote.current()
		if ks == nil || !ks.has(kid, alg) {
			// a new key (or the first set): fetch, at most once per cooldown
			if v.remote.refetch() {
				ks = v.remote.current()
			}
			if ks == nil {
				return nil, errNoKeys
			}
		}
	}
	sig, err := segment.DecodeString(sig64)
	if err != nil {
		return nil, denyForged
	}
	signed := tok[:len(head)+1+len(payload)]
	verified := false
	for _, k := range ks {
		if k.candidate(kid, alg) && method.Verify(signed, sig, k.key) == nil {
			verified = true
			break
		}
	}
	if !verified {
		return nil, denyForged
	}
	pb, err := segment.DecodeString(payload)
	if err != nil {
		return nil, denyInvalid
	}
	claims := jwt.MapClaims{}
	if json.Unmarshal(pb, &claims) != nil || duplicateNames(hb) || duplicateNames(pb) {
		return nil, denyInvalid
	}
	if err := v.validator.Validate(claims); err != nil {
		if errors.Is(err, jwt.ErrTokenExpired) {
			return nil, denyExpired
		}
		return nil, denyInvalid
	}
	tc, err := v.claims(claims)
	if err == nil && v.remote != nil {
		tc.src, tc.gen = v.remote, gen
	}
	return tc, err
}

// duplicateNames reports whether a JSON text has an object with a member
// name twice (or is not JSON). RFC 7515 section 4 lets a parser keep the
// last of duplicates or refuse them; another parser (the issuer's, an
// upstream's) may keep the first, so a token whose two readings differ
// is refused. Only verified tokens are checked: the cost is paid once per
// token, not per forgery.
func duplicateNames(data []byte) bool {
	dec := json.NewDecoder(bytes.NewReader(data))
	type level struct {
		names map[string]bool // nil in an array
		key   bool            // the next string is a member name
	}
	var stack []level
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			return len(stack) != 0 // cut short
		}
		if err != nil {
			return true
		}
		top := len(stack) - 1
		if d, ok := tok.(json.Delim); ok {
			switch d {
			case '{':
				stack = append(stack, level{names: map[string]bool{}, key: true})
			case '[':
				stack = append(stack, level{})
			default:
				stack = stack[:top]
				if top > 0 && stack[top-1].names != nil {
					stack[top-1].key = true
				}
			}
			continue
		}
		if top < 0 || stack[top].names == nil {
			continue
		}
		if stack[top].key {
			name := tok.(string)
			if stack[top].names[name] {
				return true
			}
			stack[top].names[name] = true
		}
		stack[top].key = !stack[top].key
	}
}

// claims reads the user, roles, scopes and expiry of a verified token.
func (v *JWTValidator) claims(c jwt.MapClaims) (*tokenClaims, error) {
	if len(v.Issuers) > 0 {
		iss, _ := c["iss"].(string)
		if !slices.Contains(v.Issuers, iss) {
			return nil, caddyauth.Deny("bearer.invalid")
		}
	}
	user, _ := c[v.UserClaim].(string)
	if user == "" {
		return nil, caddyauth.Deny("bearer.no_subject")
	}
	if v.TenantClaim != "" {
		if t, _ := lookupClaim(c, v.TenantClaim).(string); t != "" && !strings.Contains(user, "@") {
			user += "@" + t
		}
	}
	exp, err := c.GetExpirationTime()
	if err != nil || exp == nil {
		return nil, caddyauth.Deny("bearer.invalid")
	}
	tc := &tokenClaims{user: user, exp: exp.Time, client: clientClaims(c, user), all: c}
	tc.jkt, tc.x5t = confirmation(c["cnf"])
	tc.roles = stringsClaim(lookupClaim(c, v.RolesClaim), v.RolesDelimiter)
	if s, ok := c["scope"].(string); ok {
		tc.scopes = strings.Fields(s)
	} else {
		tc.scopes = stringsClaim(c["scp"], " ")
	}
	return tc, nil
}

// confirmation reads a cnf claim (RFC 7800): a DPoP key's thumbprint and
// a certificate's.
func confirmation(v any) (jkt, x5t string) {
	cnf, _ := v.(map[string]any)
	jkt, _ = cnf["jkt"].(string)
	x5t, _ = cnf["x5t#S256"].(string)
	return jkt, x5t
}

// clientClaims reports whether a token is a client's own, with no user
// (client credentials): its gty says so (Auth0 writes client-credentials),
// or its client_id or azp is its user. Such a token never takes the store
// roles of a user who happens to share the client's name.
func clientClaims(c jwt.MapClaims, user string) bool {
	switch c["gty"] {
	case "client_credentials", "client-credentials":
		return true
	}
	for _, k := range []string{"client_id", "azp"} {
		if id, _ := c[k].(string); id != "" && id == user {
			return true
		}
	}
	return false
}

// typeAllowed compares a typ header with an allow-list, ignoring case and
// an "application/" prefix (RFC 7515 section 4.1.9).
func typeAllowed(typ string, allowed []string) bool {
	typ = strings.TrimPrefix(strings.ToLower(typ), "application/")
	for _, a := range allowed {
		if strings.TrimPrefix(strings.ToLower(a), "application/") == typ {
			return true
		}
	}
	return false
}

// lookupClaim follows a dotted path into nested objects. A claim whose
// own name contains dots is found too.
func lookupClaim(c map[string]any, path string) any {
	if v, ok := c[path]; ok {
		return v
	}
	head, rest, ok := strings.Cut(path, ".")
	if !ok {
		return nil
	}
	sub, _ := c[head].(map[string]any)
	if sub == nil {
		return nil
	}
	return lookupClaim(sub, rest)
}

// stringsClaim reads an array of strings or a delimited string; anything
// else gives nothing.
func stringsClaim(v any, delim string) []string {
	var out []string
	switch x := v.(type) {
	case string:
		var parts []string
		if delim == " " {
			parts = strings.Fields(x)
		} else {
			parts = strings.Split(x, delim)
		}
		for _, p := range parts {
			if p = strings.TrimSpace(p); p != "" {
				out = append(out, p)
			}
		}
	case []any:
		for _, e := range x {
			if s, ok := e.(string); ok && s != "" {
				out = append(out, s)
			}
		}
	}
	return out
}

// peekIssuer reads iss from a JWT's payload without verifying anything, to
// choose among validators. The token is three dot-separated parts.
func peekIssuer(tok string) string {
	first := strings.IndexByte(tok, '.')
	last := strings.LastIndexByte(tok, '.')
	if first < 0 || last <= first {
		return ""
	}
	payload, err := base64.RawURLEncoding.DecodeString(tok[first+1 : last])
	if err != nil {
		return ""
	}
	var c struct {
		Iss string `json:"iss"`
	}
	if json.Unmarshal(payload, &c) != nil {
		return ""
	}
	return c.Iss
}

// Package oauth2server is caddy-restauth's token service, the
// oauth2_server directive (module http.handlers.oauth2_server): a small
// OAuth2 authorization server in the same Caddy, as WSO2 Identity Server
// is its APIs' own token issuer. Its issuer is registered with caddyauth,
// so that bearer's builtin mode trusts it with no configuration of its
// own.
package oauth2server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.uber.org/zap"

	"github.com/restauth/caddy-restauth/caddyauth"
	"github.com/restauth/caddy-restauth/caddyauth/dpop"
	"github.com/restauth/caddy-restauth/caddyauth/passwords"
	"github.com/restauth/caddy-restauth/caddyauth/throttle"
	"github.com/restauth/caddy-restauth/permissions"
)

func init() {
	caddy.RegisterModule(TokenService{})
	httpcaddyfile.RegisterHandlerDirective("oauth2_server", parseTokenService)
	httpcaddyfile.RegisterDirectiveOrder("oauth2_server", httpcaddyfile.Before, "basic_auth") // so before rest_auth too
}

// TokenService is a small OAuth2 authorization server, so that
// caddy-restauth is complete on one machine, as WSO2 Identity Server is its
// APIs' own token issuer. Under base_path (default /oauth2) it answers:
//
//	POST token       RFC 6749: client_credentials, password (legacy),
//	                 refresh_token (rotated; reuse revokes the family)
//	GET  jwks        the public keys (RFC 7517)
//	POST introspect  RFC 7662, for authenticated clients
//	POST revoke      RFC 7009, for authenticated clients
//
// Other requests go to the next handler. Access tokens are JWTs in the RFC
// 9068 profile (typ at+jwt), ES256 by default, signed with keys made on
// first start and kept in Caddy's storage: instances sharing a storage
// share keys and revocations. The bearer authenticator trusts this issuer
// with no configuration of its own.
type TokenService struct {
	// Issuer is the iss of the tokens: the service's public URL.
	Issuer string `json:"issuer,omitempty"`
	// Users are users.toml files with [[clients]], and the users and roles
	// the password grant checks.
	Users []string `json:"users,omitempty"`
	// BasePath is the endpoints' path prefix. Default /oauth2.
	BasePath string `json:"base_path,omitempty"`
	// Audience is the tokens' aud. Default: the issuer.
	Audience []string `json:"audience,omitempty"`
	// AccessTTL is an access token's lifetime. Default 1h.
	AccessTTL caddy.Duration `json:"access_ttl,omitempty"`
	// RefreshTTL is a refresh token's lifetime. Default 24h.
	RefreshTTL caddy.Duration `json:"refresh_ttl,omitempty"`
	// KeyRotation is how long a signing key signs before a new one takes
	// over; the old one stays published until its tokens expire. Default
	// 720h.
	KeyRotation caddy.Duration `json:"key_rotation,omitempty"`
	// Algorithm signs access tokens: ES256 (default) or EdDSA.
	Algorithm string `json:"algorithm,omitempty"`
	// The limits on failed client authentications and password-grant
	// checks, per name (a user, or a client id) and client address, per
	// address and per name: Basic's settings (throttle_failures, ...,
	// throttle_store), and for a user Basic's counters: failures on either
	// path count on both.
	throttle.Settings

	// UserStoreRaw is where the password grant's users come from, a module
	// in http.rest_auth.user_stores. Default: file (the users files' own
	// [[users]]).
	UserStoreRaw json.RawMessage `json:"user_store,omitempty" caddy:"namespace=http.rest_auth.user_stores inline_key=store"`
	// SecondaryStores are WSO2's secondary user stores for the password
	// grant and refreshes: DOMAIN/alice is looked up in DOMAIN's store.
	SecondaryStores []caddyauth.SecondaryStore `json:"secondary_stores,omitempty"`
	// Tenant makes this a tenant's token service (WSO2's per-tenant
	// /t/{tenant}/oauth2/ endpoints): its users are that tenant's, and
	// their tokens name them user@tenant, so that rest_auth's tenants
	// place them. Clients' own tokens keep their client id.
	Tenant string `json:"tenant,omitempty"`
	// CertificateBoundTokens binds access tokens to the client certificate
	// of the token request's connection, when the TLS layer verified one
	// (RFC 8705 section 3: cnf x5t#S256). Tokens of requests without one
	// are not bound.
	CertificateBoundTokens bool `json:"certificate_bound_tokens,omitempty"`
	// DPoPAlgorithms are the DPoP proof algorithms accepted on the token
	// endpoint; a request with a DPoP proof gets a DPoP-bound token
	// (RFC 9449 section 5). Default: the asymmetric JWS algorithms.
	DPoPAlgorithms []string `json:"dpop_algorithms,omitempty"`

	iss        *oauthIssuer
	poolKey    string
	users      *atomic.Pointer[tokenUsers] // pointers: the module is copied by value (CaddyModule)
	reloadMu   *sync.Mutex
	userStore  caddyauth.UserStore
	limits     *throttle.Limits
	unregister []func()
	logger     *zap.Logger
	dpop       *dpop.Checker // the token endpoint's proofs
	metaRFC    string        // where the metadata is served (RFC 8414, OpenID Connect)
	metaOIDC   string
	origin     string // the issuer's scheme://host, for the endpoints' URLs
}

// tokenUsers are the clients, roles and users a token service checks,
// read from its users files (and its user store) and swapped whole by a
// reload.
type tokenUsers struct {
	users       *permissions.Users // roles (for their scopes) and clients
	accounts    caddyauth.Accounts // the password grant's users
	clients     map[string]*client
	clientFakes *passwords.StandIns // what an unknown client id is checked against
}

// loadTokenUsers reads users files for a token service.
func loadTokenUsers(files []string, store caddyauth.UserStore) (*tokenUsers, error) {
	users := &permissions.Users{}
	if len(files) > 0 {
		var err error
		if users, err = permissions.LoadUsers(files...); err != nil {
			return nil, err
		}
	}
	pol, err := permissions.NewPolicy(nil, users.Roles, permissions.Options{})
	if err != nil {
		return nil, err
	}
	u := &tokenUsers{users: users, clients: map[string]*client{}}
	if u.accounts, err = store.Accounts(users, pol); err != nil {
		return nil, err
	}
	var params []permissions.HashParams
	for _, c := range users.Clients {
		if c.AuthMethod != "" {
			u.clients[c.ID] = &client{Client: c} // a certificate, no secret
			continue
		}
		h, err := passwords.Parse(c.Hash)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", c.Source, err)
		}
		params = append(params, h.Params)
		u.clients[c.ID] = &client{Client: c, secret: h}
	}
	// unknown clients cost what a wrong secret costs
	if u.clientFakes, err = passwords.NewStandIns(params); err != nil {
		return nil, err
	}
	return u, nil
}

// Reload reads the users files again and swaps the clients and users in
// whole; on an error the running ones stay.
func (t *TokenService) Reload() (caddyauth.TokenServiceReload, error) {
	t.reloadMu.Lock()
	defer t.reloadMu.Unlock()
	res := caddyauth.TokenServiceReload{Issuer: t.Issuer}
	u, err := loadTokenUsers(t.Users, t.userStore)
	if err != nil {
		caddyauth.CountReload(false)
		t.logger.Error("token service: reload refused; the running clients and users stay", zap.Error(err))
		return res, err
	}
	caddyauth.CountReload(true)
	t.users.Store(u)
	res.Clients, res.Users = len(u.clients), len(u.users.Users)
	t.logger.Info("token service: users reloaded", zap.String("issuer", t.Issuer), zap.Int("clients", res.Clients), zap.Int("users", res.Users))
	return res, nil
}

type client struct {
	permissions.Client
	secret passwords.Hash
}

// CaddyModule returns the Caddy module information.
func (TokenService) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{ID: "http.handlers.oauth2_server", New: func() caddy.Module { return new(TokenService) }}
}

// Provision loads clients and users, and the issuer's keys.
func (t *TokenService) Provision(ctx caddy.Context) error {
	t.logger = ctx.Logger()
	if t.Issuer == "" {
		return errors.New("oauth2_server: issuer is required (the service's public URL)")
	}
	if t.BasePath == "" {
		t.BasePath = "/oauth2"
	}
	t.BasePath = "/" + strings.Trim(t.BasePath, "/")
	if err := t.metaPaths(); err != nil {
		return err
	}
	t.dpop = dpop.NewChecker()
	if err := t.dpop.SetAlgorithms(t.DPoPAlgorithms); err != nil {
		return fmt.Errorf("oauth2_server: dpop_algorithms: %w", err)
	}
	if len(t.Audience) == 0 {
		t.Audience = []string{t.Issuer}
	}
	if t.AccessTTL == 0 {
		t.AccessTTL = caddy.Duration(time.Hour)
	}
	if t.RefreshTTL == 0 {
		t.RefreshTTL = caddy.Duration(24 * time.Hour)
	}
	if t.KeyRotation == 0 {
		t.KeyRotation = caddy.Duration(720 * time.Hour)
	}
	if t.Algorithm == "" {
		t.Algorithm = "ES256"
	}
	limits, store, err := t.Settings.Limits(ctx, "oauth2_server")
	if err != nil {
		return err
	}
	t.limits = limits
	if t.AccessTTL < 0 || t.RefreshTTL < 0 || t.KeyRotation < caddy.Duration(time.Minute) {
		return errors.New("oauth2_server: lifetimes must be positive and key_rotation at least 1m")
	}
	if t.Algorithm != "ES256" && t.Algorithm != "EdDSA" {
		return fmt.Errorf("oauth2_server: algorithm must be ES256 or EdDSA, not %q", t.Algorithm)
	}
	if t.userStore, err = caddyauth.LoadUserStores(ctx, t.UserStoreRaw, t.SecondaryStores); err != nil {
		return fmt.Errorf("oauth2_server: %w", err)
	}
	if err := caddyauth.RegisterMetrics(ctx.GetMetricsRegistry()); err != nil {
		return fmt.Errorf("oauth2_server: %w", err)
	}
	if err := caddyauth.RegisterCollectors(ctx.GetMetricsRegistry(), append(passwords.Collectors(), throttle.Collectors()...)...); err != nil {
		return fmt.Errorf("oauth2_server: %w", err)
	}
	u, err := loadTokenUsers(t.Users, t.userStore)
	if err != nil {
		return fmt.Errorf("oauth2_server: %w", err)
	}
	t.users, t.reloadMu = new(atomic.Pointer[tokenUsers]), new(sync.Mutex)
	t.users.Store(u)
	t.iss, t.poolKey, err = loadIssuer(ctx, t.Issuer, t.Algorithm, t.Audience, time.Duration(t.AccessTTL), time.Duration(t.KeyRotation))
	if err != nil {
		return fmt.Errorf("oauth2_server: %w", err)
	}
	t.unregister = append(t.unregister, caddyauth.RegisterIssuer(t.Issuer, t.iss), caddyauth.RegisterTokenService(t))
	if bus, ok := store.(caddyauth.Broadcaster); ok {
		t.unregister = append(t.unregister, t.iss.useBus(bus))
	}
	return nil
}

// RotateKeys makes a new signing key current now (the admin API's
// rotate-keys); the old key verifies until its tokens expire, and the
// fleet hears of it at once when a message bus is configured.
func (t *TokenService) RotateKeys() (issuer, kid string, err error) {
	k, err := t.iss.rotate()
	if err != nil {
		return t.Issuer, "", err
	}
	return t.Issuer, k, nil
}

// Cleanup releases the issuer's shared state.
func (t *TokenService) Cleanup() error {
	for _, f := range t.unregister {
		f()
	}
	if t.poolKey != "" {
		_, _ = oauthPool.Delete(t.poolKey)
	}
	return nil
}

// maxToken is the longest token looked at.
const maxToken = 8 << 10

// oauthError is an RFC 6749 section 5.2 error.
type oauthError struct {
	status     int
	code       string
	desc       string
	retryAfter time.Duration // for 429
}

func (e *oauthError) Error() string { return e.code + ": " + e.desc }

func oerr(status int, code, desc string) *oauthError {
	return &oauthError{status: status, code: code, desc: desc}
}

// throttled is the answer for a name and address that must wait.
func throttled(code string, wait time.Duration) *oauthError {
	return &oauthError{status: http.StatusTooManyRequests, code: code, desc: "too many failed attempts; try again later", retryAfter: wait}
}

// ServeHTTP answers the service's endpoints and passes anything else on.
func (t *TokenService) ServeHTTP(w http.ResponseWriter, r *http.Request, next caddyhttp.Handler) error {
	if r.URL.Path == t.metaRFC || r.URL.Path == t.metaOIDC {
		return t.serveMetadata(w, r)
	}
	rest, ok := strings.CutPrefix(r.URL.Path, t.BasePath+"/")
	if !ok {
		return next.ServeHTTP(w, r)
	}
	switch rest {
	case "jwks":
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			return t.fail(w, r, oerr(http.StatusMethodNotAllowed, "invalid_request", "use GET"), "")
		}
		var keys []map[string]string
		for _, k := range t.iss.ring.all() {
			keys = append(keys, k.jwk())
		}
		w.Header().Set("Cache-Control", "public, max-age=300")
		return writeOAuthJSON(w, http.StatusOK, map[string]any{"keys": keys})
	case "token", "introspect", "revoke":
	default:
		return next.ServeHTTP(w, r)
	}
	if r.Method != http.MethodPost {
		return t.fail(w, r, oerr(http.StatusMethodNotAllowed, "invalid_request", "use POST"), "")
	}
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	if err := r.ParseForm(); err != nil || !strings.HasPrefix(r.Header.Get("Content-Type"), "application/x-www-form-urlencoded") {
		return t.fail(w, r, oerr(http.StatusBadRequest, "invalid_request", "send a form (application/x-www-form-urlencoded)"), "")
	}
	for k, v := range r.PostForm {
		if len(v) > 1 {
			return t.fail(w, r, oerr(http.StatusBadRequest, "invalid_request", "parameter "+k+" given twice"), "")
		}
	}
	u := t.users.Load()
	c, oe := t.authenticateClient(r, u)
	if oe != nil {
		return t.fail(w, r, oe, "")
	}
	switch rest {
	case "token":
		resp, oe := t.token(r, u, c)
		if oe != nil {
			return t.fail(w, r, oe, c.ID)
		}
		t.logger.Info("token issued", zap.String("client_id", c.ID), zap.String("grant_type", r.PostForm.Get("grant_type")),
			zap.String("sub", resp["sub"].(string)), zap.String("scope", resp["scope"].(string)))
		delete(resp, "sub")
		return writeOAuthJSON(w, http.StatusOK, resp)
	case "introspect":
		return writeOAuthJSON(w, http.StatusOK, t.introspect(r.Context(), r.PostForm.Get("token")))
	default: // revoke
		if oe := t.revoke(r.Context(), c, r.PostForm.Get("token")); oe != nil {
			return t.fail(w, r, oe, c.ID)
		}
		w.Header().Set("Cache-Control", "no-store")
		w.WriteHeader(http.StatusOK)
		return nil
	}
}

// authenticateClient checks client_secret_basic or client_secret_post.
func (t *TokenService) authenticateClient(r *http.Request, u *tokenUsers) (*client, *oauthError) {
	invalid := oerr(http.StatusUnauthorized, "invalid_client", "client authentication failed")
	id, secret, basicOK := r.BasicAuth()
	_, postID := r.PostForm["client_id"]
	_, postSecret := r.PostForm["client_secret"]
	switch {
	case basicOK && postSecret:
		return nil, oerr(http.StatusBadRequest, "invalid_request", "use one client authentication method")
	case basicOK:
		// RFC 6749 section 2.3.1: both parts are form-encoded first
		var err1, err2 error
		id, err1 = url.QueryUnescape(id)
		secret, err2 = url.QueryUnescape(secret)
		if err1 != nil || err2 != nil {
			return nil, invalid
		}
		if postID && r.PostForm.Get("client_id") != id {
			return nil, oerr(http.StatusBadRequest, "invalid_request", "client_id differs from the authenticated client")
		}
	case postID && postSecret:
		id, secret = r.PostForm.Get("client_id"), r.PostForm.Get("client_secret")
	case postID:
		return t.certificateClient(r, u, r.PostForm.Get("client_id"))
	default:
		return nil, invalid
	}
	if id == "" || secret == "" || len(id) > throttle.MaxName || len(secret) > passwords.MaxPassword {
		return nil, invalid
	}
	name, ip := throttle.ClientName(id), caddyauth.ClientIP(r)
	if t.limits.Active() {
		if wait := t.limits.Wait(name, ip); wait > 0 {
			return nil, throttled("invalid_client", wait)
		}
	}
	if wait := t.limits.WaitShared(r.Context(), name, ip); wait > 0 {
		return nil, throttled("invalid_client", wait)
	}
	c, known := u.clients[id]
	if known && c.AuthMethod != "" {
		known = false // a certificate client has no secret: a secret for it is a wrong one
	}
	hash := u.clientFakes.Pick([]byte(id))
	if known {
		hash = c.secret
	}
	// cached when verified before; else one hash in a bounded slot for all
	// concurrent requests of the client; an unknown client's stand-in
	// costs the same
	good, err := passwords.CheckSecret(name, hash, []byte(secret), known)
	if errors.Is(err, passwords.ErrBusy) {
		return nil, oerr(http.StatusServiceUnavailable, "temporarily_unavailable", "busy; try again")
	}
	if err != nil || !good {
		t.limits.Fail(name, ip)
		return nil, invalid
	}
	return c, nil
}

// token runs a grant; the answer includes "sub" for the log line only.
func (t *TokenService) token(r *http.Request, u *tokenUsers, c *client) (map[string]any, *oauthError) {
	cnf, oe := t.binding(r, c)
	if oe != nil {
		return nil, oe
	}
	grant := r.PostForm.Get("grant_type")
	if grant == "" {
		return nil, oerr(http.StatusBadRequest, "invalid_request", "grant_type is required")
	}
	if !slices.Contains(permissions.GrantTypes, grant) {
		return nil, oerr(http.StatusBadRequest, "unsupported_grant_type", "grant types: client_credentials, password, refresh_token")
	}
	if !slices.Contains(c.GrantTypes, grant) {
		return nil, oerr(http.StatusBadRequest, "unauthorized_client", "this client may not use "+grant)
	}
	requested := strings.Fields(r.PostForm.Get("scope"))
	switch grant {
	case "client_credentials":
		scopes, oe := grantScopes(requested, c.Scopes)
		if oe != nil {
			return nil, oe
		}
		return t.issue(c, grantOf{sub: c.ID, scopes: scopes, cnf: cnf})
	case "password":
		user, pass := r.PostForm.Get("username"), r.PostForm.Get("password")
		acct, oe := t.checkUser(r, u, user, pass)
		if oe != nil {
			return nil, oe
		}
		scopes, oe := grantScopes(requested, intersect(c.Scopes, u.roleScopes(acct.Roles)))
		if oe != nil {
			return nil, oe
		}
		g := grantOf{sub: user, scopes: scopes, user: true, cnf: cnf}
		if slices.Contains(c.GrantTypes, "refresh_token") {
			g.family, g.grant, g.cred = randomID(16), grant, acct.Tag
			g.familyEnds = time.Now().Add(time.Duration(t.RefreshTTL)).UTC()
		}
		return t.issue(c, g)
	default: // refresh_token
		return t.refresh(r, u, c, requested, cnf)
	}
}

// grantOf is what a grant hands out.
type grantOf struct {
	sub    string
	scopes []string
	user   bool // a resource owner's token; false: the client's own (client credentials)
	// with a refresh token: its family, the grant that began the family,
	// the user's credential tag then (caddyauth.Account.Tag), and the
	// family's end
	family, grant, cred string
	familyEnds          time.Time
	cnf                 *confirmation // what the access token is bound to, or nil
}

// grantScopes: the requested scopes the caller may have; none requested
// means all it may have.
func grantScopes(requested, allowed []string) ([]string, *oauthError) {
	if len(requested) == 0 {
		return allowed, nil
	}
	out := intersect(requested, allowed)
	if len(out) == 0 {
		return nil, oerr(http.StatusBadRequest, "invalid_scope", "none of the requested scopes may be granted")
	}
	return out, nil
}

func intersect(a, b []string) []string {
	out := []string{}
	for _, s := range a {
		if slices.Contains(b, s) && !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	return out
}

func (u *tokenUsers) roleScopes(roles []string) []string {
	var out []string
	for _, r := range u.users.Roles {
		if slices.Contains(roles, r.Name) {
			out = append(out, r.Scopes...)
		}
	}
	return out
}

// checkUser is the password grant's user check: throttled, bounded, and an
// unknown user costs what a wrong password costs.
func (t *TokenService) checkUser(r *http.Request, u *tokenUsers, user, pass string) (*caddyauth.Account, *oauthError) {
	bad := oerr(http.StatusBadRequest, "invalid_grant", "the user name or password is wrong")
	if user == "" || pass == "" || len(user) > throttle.MaxName || len(pass) > passwords.MaxPassword {
		return nil, bad
	}
	ip := caddyauth.ClientIP(r)
	tname := caddyauth.ThrottleName(u.accounts, user) // ALICE and alice are one user to a directory
	if t.limits.Active() {
		if wait := t.limits.Wait(tname, ip); wait > 0 {
			return nil, throttled("invalid_grant", wait)
		}
	}
	if wait := t.limits.WaitShared(r.Context(), tname, ip); wait > 0 {
		return nil, throttled("invalid_grant", wait)
	}
	acct, err := u.accounts.Verify(r.Context(), []byte(user), []byte(pass))
	var un *caddyauth.Unavailable
	switch {
	case err == nil:
		return acct, nil
	case errors.Is(err, caddyauth.ErrBadCredential):
		t.limits.Fail(tname, ip)
		return nil, bad
	case errors.As(err, &un) && un.Busy:
		return nil, oerr(http.StatusServiceUnavailable, "temporarily_unavailable", "busy; try again")
	}
	t.logger.Error("token service: the user store could not check a password", zap.Error(err))
	return nil, oerr(http.StatusServiceUnavailable, "temporarily_unavailable", "the user store could not be asked; try again")
}

// issue signs an access token and, for a grant with a family, a refresh
// token in it.
func (t *TokenService) issue(c *client, g grantOf) (map[string]any, *oauthError) {
	scope := strings.Join(g.scopes, " ")
	subject := g.sub
	if g.user && t.Tenant != "" && !strings.Contains(subject, "@") {
		subject += "@" + strings.ToLower(t.Tenant)
	}
	at, exp, err := t.iss.sign(subject, c.ID, scope, g.family, !g.user, g.cnf)
	if err != nil {
		t.logger.Error("token service: signing failed", zap.Error(err))
		return nil, oerr(http.StatusServiceUnavailable, "temporarily_unavailable", "could not sign a token")
	}
	resp := map[string]any{
		"access_token": at, "token_type": "Bearer", "expires_in": int(time.Until(exp).Round(time.Second).Seconds()),
		"scope": scope, "sub": subject,
	}
	if g.cnf != nil && g.cnf.JKT != "" {
		resp["token_type"] = "DPoP" // RFC 9449 section 5
	}
	if g.family != "" {
		rt, err := t.iss.newRefresh(refreshRecord{ClientID: c.ID, Subject: g.sub, Scope: scope, Family: g.family,
			Grant: g.grant, Cred: g.cred, Expires: g.familyEnds})
		if err != nil {
			t.logger.Error("token service: storing a refresh token failed", zap.Error(err))
			return nil, oerr(http.StatusServiceUnavailable, "temporarily_unavailable", "could not store a refresh token")
		}
		resp["refresh_token"] = rt
	}
	return resp, nil
}

// refresh rotates a refresh token. Reusing a rotated one revokes its whole
// family (RFC 6819 section 5.2.2.3): the thief and the victim both lose it.
// Every refresh checks again what the grant checked: the user still
// exists with the same password (a changed one ends the family), the
// client may still use the grant that began the family, and the scopes are
// cut to what the client and the user's roles hold now. A family ends
// refresh_ttl after the grant that began it, however often it is rotated
// (RFC 9700 section 4.14.2).
func (t *TokenService) refresh(r *http.Request, u *tokenUsers, c *client, requested []string, cnf *confirmation) (map[string]any, *oauthError) {
	bad := oerr(http.StatusBadRequest, "invalid_grant", "the refresh token is not valid")
	tok := r.PostForm.Get("refresh_token")
	if tok == "" || len(tok) > 512 {
		return nil, oerr(http.StatusBadRequest, "invalid_request", "refresh_token is required")
	}
	ctx, cancel := context.WithTimeout(r.Context(), 15*time.Second)
	defer cancel()
	unavailable := oerr(http.StatusServiceUnavailable, "temporarily_unavailable", "storage unavailable")
	lock := refreshKey(t.iss.prefix, tok) + ".lock"
	if err := t.iss.storage.Lock(ctx, lock); err != nil {
		return nil, oerr(http.StatusServiceUnavailable, "temporarily_unavailable", "busy; try again")
	}
	defer func() { _ = t.iss.storage.Unlock(context.Background(), lock) }()
	rec, err := t.iss.loadRefresh(ctx, tok)
	if err != nil {
		return nil, unavailable
	}
	if rec == nil || rec.ClientID != c.ID {
		return nil, bad
	}
	endFamily := func() { _ = t.iss.revoke("sid", rec.Family, rec.Expires.Add(time.Duration(t.AccessTTL))) }
	if rec.Used {
		endFamily()
		t.logger.Warn("token service: a rotated refresh token was used again; its family is revoked",
			zap.String("client_id", c.ID), zap.String("sub", rec.Subject), zap.String("remote_ip", caddyauth.ClientIP(r)))
		return nil, bad
	}
	if time.Now().After(rec.Expires) {
		return nil, bad
	}
	// another instance may have revoked the family a moment ago: storage
	// says, not the copy in memory
	revoked, err := t.iss.familyRevoked(ctx, rec.Family)
	if err != nil {
		return nil, unavailable
	}
	if revoked {
		return nil, bad
	}
	if rec.Grant != "" && !slices.Contains(c.GrantTypes, rec.Grant) {
		return nil, bad
	}
	acct, err := u.accounts.Lookup(ctx, rec.Subject)
	if err != nil {
		return nil, unavailable
	}
	if acct == nil || acct.Tag != rec.Cred {
		endFamily()
		t.logger.Info("token service: a refresh family ended: its user is gone or changed password",
			zap.String("client_id", c.ID), zap.String("sub", rec.Subject))
		return nil, bad
	}
	scopes := intersect(intersect(strings.Fields(rec.Scope), c.Scopes), u.roleScopes(acct.Roles))
	if len(requested) > 0 {
		for _, s := range requested {
			if !slices.Contains(strings.Fields(rec.Scope), s) {
				return nil, oerr(http.StatusBadRequest, "invalid_scope", "a refresh cannot widen the scope")
			}
		}
		scopes = intersect(requested, scopes)
	}
	rec.Used = true
	if err := t.iss.storeRefresh(ctx, tok, rec); err != nil {
		return nil, unavailable
	}
	return t.issue(c, grantOf{sub: rec.Subject, scopes: scopes, user: true, family: rec.Family, grant: rec.Grant,
		cred: rec.Cred, familyEnds: rec.Expires, cnf: cnf})
}

// introspect answers RFC 7662 for the service's own tokens.
func (t *TokenService) introspect(ctx context.Context, tok string) map[string]any {
	inactive := map[string]any{"active": false}
	if tok == "" || len(tok) > maxToken {
		return inactive
	}
	if strings.Count(tok, ".") == 2 {
		c, err := t.iss.verify(tok)
		if err != nil {
			return inactive
		}
		// RFC 7662 section 2.2: token_type is the token's type (RFC 6749
		// section 5.1), Bearer; username only for a resource owner's token
		out := map[string]any{"active": true, "token_type": "Bearer", "iss": c.Issuer, "sub": c.Subject,
			"client_id": c.ClientID, "scope": c.Scope, "exp": c.ExpiresAt.Unix(), "iat": c.IssuedAt.Unix(), "jti": c.ID, "aud": c.Audience}
		if c.Cnf != nil {
			out["cnf"] = c.Cnf
			if c.Cnf.JKT != "" {
				out["token_type"] = "DPoP"
			}
		}
		if !c.clientToken() {
			out["username"] = c.Subject
		}
		return out
	}
	rec, err := t.iss.loadRefresh(ctx, tok)
	if err != nil || rec == nil || rec.Used || time.Now().After(rec.Expires) || t.iss.revoked("", rec.Family) {
		return inactive
	}
	return map[string]any{"active": true, "token_type": "refresh_token", "iss": t.Issuer, "sub": rec.Subject,
		"client_id": rec.ClientID, "scope": rec.Scope, "exp": rec.Expires.Unix()}
}

// revoke implements RFC 7009: an access token's id is refused until it
// would expire, and the token's refresh family (if it has one) ends with
// it; a refresh token takes its family with it. Unknown and invalid
// tokens get 200 (section 2.2); another client's token is refused with
// unauthorized_client (section 2.1); when the revocation could not be
// stored the answer is 503, never a 200 that saved nothing.
func (t *TokenService) revoke(ctx context.Context, c *client, tok string) *oauthError {
	if tok == "" || len(tok) > maxToken {
		return nil
	}
	notYours := oerr(http.StatusBadRequest, "unauthorized_client", "the token was not issued to this client")
	unsaved := func(err error) *oauthError {
		if err == nil {
			return nil
		}
		t.logger.Error("token service: storing a revocation failed", zap.Error(err))
		return oerr(http.StatusServiceUnavailable, "temporarily_unavailable", "the revocation could not be stored; try again")
	}
	familyEnds := time.Now().Add(time.Duration(t.RefreshTTL) + time.Duration(t.AccessTTL))
	if strings.Count(tok, ".") == 2 {
		ac, err := t.iss.verify(tok)
		if err != nil {
			return nil
		}
		if ac.ClientID != c.ID {
			return notYours
		}
		if err := t.iss.revoke("jti", ac.ID, ac.ExpiresAt.Time.Add(time.Minute)); err != nil {
			return unsaved(err)
		}
		if ac.Family != "" {
			return unsaved(t.iss.revoke("sid", ac.Family, familyEnds))
		}
		return nil
	}
	rec, err := t.iss.loadRefresh(ctx, tok)
	if err != nil {
		return unsaved(err)
	}
	if rec == nil {
		return nil
	}
	if rec.ClientID != c.ID {
		return notYours
	}
	return unsaved(t.iss.revoke("sid", rec.Family, familyEnds))
}

// fail answers an RFC 6749 error and logs it without secrets.
func (t *TokenService) fail(w http.ResponseWriter, r *http.Request, e *oauthError, clientID string) error {
	if e.status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Basic realm="oauth2"`)
	}
	if e.retryAfter > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(int(e.retryAfter.Seconds()+0.999)))
	}
	t.logger.Info("token request refused", zap.String("error", e.code), zap.Int("status", e.status),
		zap.String("client_id", clientID), zap.String("remote_ip", caddyauth.ClientIP(r)), zap.String("path", r.URL.Path))
	return writeOAuthJSON(w, e.status, map[string]string{"error": e.code, "error_description": e.desc})
}

func writeOAuthJSON(w http.ResponseWriter, status int, v any) error {
	body, err := json.Marshal(v)
	if err != nil {
		return err
	}
	h := w.Header()
	h.Set("Content-Type", "application/json")
	if h.Get("Cache-Control") == "" {
		h.Set("Cache-Control", "no-store")
	}
	h.Set("Pragma", "no-cache")
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	_, err = w.Write(body)
	return err
}

func parseTokenService(h httpcaddyfile.Helper) (caddyhttp.MiddlewareHandler, error) {
	t := new(TokenService)
	return t, t.UnmarshalCaddyfile(h.Dispenser)
}

// UnmarshalCaddyfile reads:
//
//	oauth2_server [<matcher>] {
//		issuer <url>
//		users <file>...
//		base_path <path>
//		audience <aud>...
//		access_ttl <duration>
//		refresh_ttl <duration>
//		key_rotation <duration>
//		throttle_store <module> { ... }   # counts and messages shared by a fleet, e.g. redis
//		algorithm ES256|EdDSA
//		throttle <failures> [<window>] | off
//		throttle_address <failures>|off
//		throttle_user <failures>|off
//		throttle_ipv6_prefix <bits>
//	}
func (t *TokenService) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	d.Next() // directive name
	if d.NextArg() {
		return d.ArgErr()
	}
	for d.NextBlock(0) {
		var err error
		switch opt := d.Val(); opt {
		case "issuer":
			err = caddyauth.OneArg(d, &t.Issuer)
		case "users":
			err = caddyauth.SomeArgs(d, &t.Users)
		case "user_store":
			var raw json.RawMessage
			if raw, err = caddyauth.UserStoreArg(d); err == nil {
				t.UserStoreRaw = raw
			}
		case "secondary_store":
			var sec caddyauth.SecondaryStore
			if sec, err = caddyauth.SecondaryStoreArg(d); err == nil {
				t.SecondaryStores = append(t.SecondaryStores, sec)
			}
		case "base_path":
			err = caddyauth.OneArg(d, &t.BasePath)
		case "audience":
			err = caddyauth.SomeArgs(d, &t.Audience)
		case "access_ttl":
			err = caddyauth.DurationArg(d, &t.AccessTTL)
		case "refresh_ttl":
			err = caddyauth.DurationArg(d, &t.RefreshTTL)
		case "key_rotation":
			err = caddyauth.DurationArg(d, &t.KeyRotation)
		case "algorithm":
			err = caddyauth.OneArg(d, &t.Algorithm)
		case "tenant":
			err = caddyauth.OneArg(d, &t.Tenant)
		case "certificate_bound_tokens":
			if d.NextArg() {
				return d.ArgErr()
			}
			t.CertificateBoundTokens = true
		case "dpop_algorithms":
			err = caddyauth.SomeArgs(d, &t.DPoPAlgorithms)
		default:
			var ok bool
			if ok, err = t.Settings.UnmarshalOption(d); !ok {
				return caddyauth.UnknownOption(d, "oauth2_server", append([]string{"issuer", "users", "user_store", "secondary_store", "base_path",
					"audience", "access_ttl", "refresh_ttl", "key_rotation", "algorithm", "certificate_bound_tokens", "dpop_algorithms", "tenant"},
					throttle.Options...))
			}
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// Interface guards
var (
	_ caddyauth.KeyRotator        = (*TokenService)(nil)
	_ caddy.Provisioner           = (*TokenService)(nil)
	_ caddy.CleanerUpper          = (*TokenService)(nil)
	_ caddyhttp.MiddlewareHandler = (*TokenService)(nil)
	_ caddyfile.Unmarshaler       = (*TokenService)(nil)
)

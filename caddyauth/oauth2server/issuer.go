package oauth2server

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/certmagic"
	"github.com/golang-jwt/jwt/v5"
	"go.uber.org/zap"

	"github.com/restauth/caddy-restauth/caddyauth"
)

// oauthPool holds one issuer's keys and revocations across config reloads.
var oauthPool = caddy.NewUsagePool()

// oauthIssuer is the state of one built-in issuer: its signing keys and the
// revoked token ids and refresh-token families, mirrored from storage.
type oauthIssuer struct {
	issuer, prefix, alg string
	audience            []string // the aud of its tokens
	accessTTL, rotation time.Duration
	storage             certmagic.Storage
	logger              *zap.Logger
	ring                keyRing
	parser              *jwt.Parser
	lastReload          atomic.Int64 // when an unknown kid last made the ring be read again

	mu         sync.RWMutex
	revokedJTI map[string]time.Time // until the token's exp
	revokedSID map[string]time.Time // refresh families, until their last token's exp

	fleet fleetBus // the fleet's message bus, when configured

	stop, done chan struct{}
}

// refreshRecord is a refresh token's state, stored under the token's hash.
type refreshRecord struct {
	ClientID string `json:"client_id"`
	Subject  string `json:"sub"`
	Scope    string `json:"scope"`
	Family   string `json:"sid"`
	// Grant began the family (password); the client must still be allowed it.
	Grant string `json:"grant,omitempty"`
	// Cred is the hashTag of the user's password hash when the family
	// began; a refresh after a password change ends the family.
	Cred string `json:"cred,omitempty"`
	// Expires is the family's end: refresh_ttl after the grant that began
	// it, kept through rotations.
	Expires time.Time `json:"exp"`
	Used    bool      `json:"used"`
}

func loadIssuer(ctx caddy.Context, issuer, alg string, audience []string, accessTTL, rotation time.Duration) (*oauthIssuer, string, error) {
	key := fmt.Sprintf("%s|%s|%q|%s|%s", issuer, alg, audience, accessTTL, rotation)
	v, _, err := oauthPool.LoadOrNew(key, func() (caddy.Destructor, error) {
		return newOAuthIssuer(ctx.Storage(), ctx.Logger(), issuer, alg, audience, accessTTL, rotation)
	})
	if err != nil {
		return nil, "", err
	}
	return v.(*oauthIssuer), key, nil
}

// newOAuthIssuer reads (or makes) the issuer's keys and revocations in a
// storage and starts its background loop.
func newOAuthIssuer(st certmagic.Storage, logger *zap.Logger, issuer, alg string, audience []string, accessTTL, rotation time.Duration) (*oauthIssuer, error) {
	o := &oauthIssuer{
		issuer: issuer, prefix: storagePrefix(issuer), alg: alg, audience: audience, accessTTL: accessTTL, rotation: rotation,
		storage: st, logger: logger,
		revokedJTI: map[string]time.Time{}, revokedSID: map[string]time.Time{},
		stop: make(chan struct{}), done: make(chan struct{}),
	}
	o.parser = jwt.NewParser(jwt.WithValidMethods([]string{alg}), jwt.WithExpirationRequired(), jwt.WithIssuedAt(),
		jwt.WithIssuer(issuer), jwt.WithLeeway(30*time.Second), jwt.WithStrictDecoding())
	if err := o.syncKeys(); err != nil {
		return nil, err
	}
	o.syncRevocations()
	go o.loop()
	return o, nil
}

// Destruct stops the background loop.
func (o *oauthIssuer) Destruct() error {
	close(o.stop)
	<-o.done
	return nil
}

func (o *oauthIssuer) syncKeys() error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	keys, err := syncKeys(ctx, o.storage, o.prefix, o.alg, o.rotation, o.accessTTL+time.Minute)
	if err != nil {
		return err
	}
	o.ring.set(keys)
	return nil
}

// ringReloadEvery bounds how often tokens with unknown kids make the key
// ring be read again from storage.
const ringReloadEvery = 5 * time.Second

// reloadKeys reads the key ring from storage again, when a token names a
// kid this instance does not know: another instance sharing the storage
// may have rotated. At most once per ringReloadEvery, however many such
// tokens arrive; it reports whether it read.
func (o *oauthIssuer) reloadKeys() bool {
	last := o.lastReload.Load()
	now := time.Now().UnixNano()
	if now-last < int64(ringReloadEvery) || !o.lastReload.CompareAndSwap(last, now) {
		return false
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	keys, err := loadKeys(ctx, o.storage, o.prefix)
	if err != nil || len(keys) == 0 {
		if err != nil {
			o.logger.Warn("token service: reading the key ring for an unknown kid failed", zap.Error(err))
		}
		return false
	}
	o.ring.set(keys)
	return true
}

// sweepEvery is how often stale refresh records are looked for, and
// sweepBatch how many are read at most each time.
const (
	sweepEvery = 10 * time.Minute
	sweepBatch = 1000
)

// loop rotates keys, picks up revocations made by other instances and
// deletes refresh records that can no longer matter.
func (o *oauthIssuer) loop() {
	defer close(o.done)
	keyTick := time.NewTicker(min(o.rotation/4, time.Hour))
	revTick := time.NewTicker(30 * time.Second)
	sweepTick := time.NewTicker(sweepEvery)
	defer keyTick.Stop()
	defer revTick.Stop()
	defer sweepTick.Stop()
	for {
		select {
		case <-o.stop:
			return
		case <-keyTick.C:
			gen := o.ring.generation()
			if err := o.syncKeys(); err != nil {
				o.logger.Error("token service: key rotation failed; the current key stays", zap.Error(err))
			} else if o.ring.generation() != gen {
				o.publish(fleetMsg{Kind: "keys"})
			}
		case <-revTick.C:
			o.syncRevocations()
		case <-sweepTick.C:
			o.sweepRefresh(sweepBatch)
		}
	}
}

// sweepRefresh deletes refresh records whose family has ended: used or
// not, they can no longer be refreshed, and a used one has no reuse left
// to catch (a used record is kept until then, so that its reuse still
// revokes the family). It reads at most batch records, so that a large
// backlog is cleared over several ticks; it returns how many it deleted.
func (o *oauthIssuer) sweepRefresh(batch int) int {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	keys, err := o.storage.List(ctx, o.prefix+"/refresh", false)
	if err != nil {
		return 0
	}
	now := time.Now()
	deleted := 0
	for i, k := range keys {
		if i >= batch || ctx.Err() != nil {
			break
		}
		data, err := o.storage.Load(ctx, k)
		if err != nil {
			continue
		}
		var rec refreshRecord
		if json.Unmarshal(data, &rec) == nil && now.After(rec.Expires) && o.storage.Delete(ctx, k) == nil {
			deleted++
		}
	}
	return deleted
}

// syncRevocations reads revoked ids from storage, dropping expired ones.
func (o *oauthIssuer) syncRevocations() {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	now := time.Now()
	read := func(dir string) map[string]time.Time {
		out := map[string]time.Time{}
		keys, err := o.storage.List(ctx, o.prefix+"/"+dir, false)
		if err != nil {
			return out
		}
		for _, k := range keys {
			data, err := o.storage.Load(ctx, k)
			if err != nil {
				continue
			}
			sec, _ := strconv.ParseInt(strings.TrimSpace(string(data)), 10, 64)
			until := time.Unix(sec, 0)
			if now.After(until) {
				_ = o.storage.Delete(ctx, k)
				continue
			}
			out[path.Base(k)] = until
		}
		return out
	}
	jti, sid := read("revoked-jti"), read("revoked-sid")
	o.mu.Lock()
	for k, v := range jti {
		o.revokedJTI[k] = v
	}
	for k, v := range sid {
		o.revokedSID[k] = v
	}
	for k, v := range o.revokedJTI {
		if now.After(v) {
			delete(o.revokedJTI, k)
		}
	}
	for k, v := range o.revokedSID {
		if now.After(v) {
			delete(o.revokedSID, k)
		}
	}
	o.mu.Unlock()
}

// revoke records a revoked token id or family until a time, in memory and
// in storage.
func (o *oauthIssuer) revoke(kind, id string, until time.Time) error {
	if id == "" || strings.ContainsAny(id, "/\\.") {
		return nil
	}
	o.mu.Lock()
	if kind == "jti" {
		o.revokedJTI[id] = until
	} else {
		o.revokedSID[id] = until
	}
	o.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := o.storage.Store(ctx, o.prefix+"/revoked-"+kind+"/"+id, []byte(strconv.FormatInt(until.Unix(), 10))); err != nil {
		return err
	}
	o.publish(fleetMsg{Kind: kind, ID: id, Until: until.Unix()})
	return nil
}

func (o *oauthIssuer) revoked(jti, sid string) bool {
	o.mu.RLock()
	defer o.mu.RUnlock()
	_, j := o.revokedJTI[jti]
	_, s := o.revokedSID[sid]
	return j || (sid != "" && s)
}

// familyRevoked reports whether a refresh family is revoked, asking the
// storage (another instance may have revoked it since the last sync), and
// remembers a revocation it finds there.
func (o *oauthIssuer) familyRevoked(ctx context.Context, sid string) (bool, error) {
	if sid == "" || o.revoked("", sid) {
		return sid != "", nil
	}
	data, err := o.storage.Load(ctx, o.prefix+"/revoked-sid/"+sid)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	sec, _ := strconv.ParseInt(strings.TrimSpace(string(data)), 10, 64)
	o.mu.Lock()
	o.revokedSID[sid] = time.Unix(sec, 0)
	o.mu.Unlock()
	return true, nil
}

// accessClaims are the claims of the service's access tokens (RFC 9068).
type accessClaims struct {
	jwt.RegisteredClaims
	ClientID string `json:"client_id"`
	Scope    string `json:"scope,omitempty"`
	Family   string `json:"sid,omitempty"`
	// GrantType is client_credentials on a client's own token, whose
	// subject is the client id and never a user (RFC 9068 section 5).
	GrantType string `json:"gty,omitempty"`
	// Cnf binds the token to a DPoP key or a client certificate.
	Cnf *confirmation `json:"cnf,omitempty"`
}

// confirmation is a token's cnf (RFC 7800): the thumbprint of the DPoP
// key (RFC 9449) or of the client certificate (RFC 8705) it is bound to.
type confirmation struct {
	JKT string `json:"jkt,omitempty"`
	X5T string `json:"x5t#S256,omitempty"`
}

// clientToken reports whether the token is a client's own (client
// credentials), with no user: the grant says so, or its subject is its
// client id.
func (c *accessClaims) clientToken() bool {
	return c.GrantType == "client_credentials" || c.ClientID != "" && c.ClientID == c.Subject
}

// sign issues an access token; client marks a client's own token.
func (o *oauthIssuer) sign(sub, clientID, scope, family string, client bool, cnf *confirmation) (string, time.Time, error) {
	k := o.ring.current()
	if k == nil {
		return "", time.Time{}, errors.New("no signing key")
	}
	now := time.Now()
	exp := now.Add(o.accessTTL)
	c := accessClaims{
		RegisteredClaims: jwt.RegisteredClaims{
			Issuer: o.issuer, Subject: sub, Audience: o.audience, ID: randomID(16),
			IssuedAt: jwt.NewNumericDate(now), ExpiresAt: jwt.NewNumericDate(exp),
		},
		ClientID: clientID, Scope: scope, Family: family, Cnf: cnf,
	}
	if client {
		c.GrantType = "client_credentials"
	}
	method := jwt.GetSigningMethod(k.Alg)
	tok := jwt.NewWithClaims(method, c)
	tok.Header["typ"] = "at+jwt"
	tok.Header["kid"] = k.Kid
	s, err := tok.SignedString(k.signer)
	return s, exp, err
}

// verify checks one of the service's access tokens, revocation included.
func (o *oauthIssuer) verify(tok string) (*accessClaims, error) {
	var c accessClaims
	_, err := o.parser.ParseWithClaims(tok, &c, func(t *jwt.Token) (any, error) {
		if _, ok := t.Header["crit"]; ok {
			return nil, errors.New("crit")
		}
		if typ, _ := t.Header["typ"].(string); !typeAllowed(typ, []string{"at+jwt"}) {
			return nil, errors.New("typ")
		}
		kid, _ := t.Header["kid"].(string)
		k := o.ring.byKid(kid)
		if k == nil && o.reloadKeys() {
			k = o.ring.byKid(kid) // another instance rotated
		}
		if k == nil {
			return nil, errors.New("unknown kid")
		}
		return k.signer.Public(), nil
	})
	if err != nil {
		if errors.Is(err, jwt.ErrTokenExpired) {
			return nil, caddyauth.Deny("bearer.expired")
		}
		return nil, caddyauth.Deny("bearer.invalid")
	}
	if c.Subject == "" || c.ID == "" {
		return nil, caddyauth.Deny("bearer.invalid")
	}
	if o.revoked(c.ID, c.Family) {
		return nil, caddyauth.Deny("bearer.revoked")
	}
	return &c, nil
}

// Verify checks one of the service's access tokens for bearer's builtin
// mode (caddyauth.Issuer).
func (o *oauthIssuer) Verify(tok string) (*caddyauth.IssuedToken, error) {
	c, err := o.verify(tok)
	if err != nil {
		return nil, err
	}
	it := &caddyauth.IssuedToken{Subject: c.Subject, ClientID: c.ClientID, Scope: c.Scope, ID: c.ID, Family: c.Family,
		Audience: c.Audience, Expires: c.ExpiresAt.Time, Client: c.clientToken()}
	if c.Cnf != nil {
		it.JKT, it.X5T = c.Cnf.JKT, c.Cnf.X5T
	}
	return it, nil
}

// Revoked reports whether a token's id or its family was revoked.
func (o *oauthIssuer) Revoked(jti, family string) bool { return o.revoked(jti, family) }

// Audiences are the aud values of the service's tokens.
func (o *oauthIssuer) Audiences() []string { return o.audience }

// Generation counts the changes of the key ring.
func (o *oauthIssuer) Generation() uint64 { return o.ring.generation() }

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

// refresh tokens: opaque random strings; storage keeps their hash only.

func refreshKey(prefix, tok string) string {
	sum := sha256.Sum256([]byte(tok))
	return prefix + "/refresh/" + hex.EncodeToString(sum[:])
}

func (o *oauthIssuer) newRefresh(rec refreshRecord) (string, error) {
	tok := randomID(32)
	data, err := json.Marshal(rec)
	if err != nil {
		return "", err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return tok, o.storage.Store(ctx, refreshKey(o.prefix, tok), data)
}

// loadRefresh reads a refresh token's record; nil when unknown.
func (o *oauthIssuer) loadRefresh(ctx context.Context, tok string) (*refreshRecord, error) {
	data, err := o.storage.Load(ctx, refreshKey(o.prefix, tok))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var rec refreshRecord
	if err := json.Unmarshal(data, &rec); err != nil {
		return nil, err
	}
	return &rec, nil
}

func (o *oauthIssuer) storeRefresh(ctx context.Context, tok string, rec *refreshRecord) error {
	data, err := json.Marshal(rec)
	if err != nil {
		return err
	}
	return o.storage.Store(ctx, refreshKey(o.prefix, tok), data)
}

func randomID(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic("crypto/rand: " + err.Error())
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

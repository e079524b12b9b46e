package bearer

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"
)

// Bounds on what a JWKS endpoint's Cache-Control may ask for.
const (
	jwksMinRefresh = 5 * time.Minute
	jwksMaxRefresh = 24 * time.Hour
	jwksMaxBody    = 1 << 20
	jwksTimeout    = 10 * time.Second
	jwksRetry      = 30 * time.Second // after a failed fetch
)

// jwksFetches counts JWK set fetches (caddy_rest_auth_jwks_fetches_total).
var jwksFetches = prometheus.NewCounterVec(prometheus.CounterOpts{
	Namespace: "caddy", Subsystem: "rest_auth", Name: "jwks_fetches_total",
	Help: "JWK set fetches, by result (ok, error).",
}, []string{"result"})

// jwksPool shares remote key sets across config reloads: a reload that
// keeps the same jwks_url keeps the keys and the refresh loop.
var jwksPool = caddy.NewUsagePool()

// remoteKeys is a JWK set fetched from a URL, refreshed in the background.
// When the endpoint fails the last good set stays. A token whose kid is
// unknown triggers a refetch, at most once per cooldown.
type remoteKeys struct {
	url       string // the key set's; with discovery, "" until the metadata names it
	discovery string // an issuer whose metadata names the key set, or ""

	refresh  time.Duration
	cooldown time.Duration
	client   *http.Client
	logger   *zap.Logger

	keys atomic.Pointer[keySet]
	gen  atomic.Uint64 // counts changes of keys (keySource)
	sum  [32]byte      // the current set's fingerprint, under fetchMu

	fetchMu     sync.Mutex   // one fetch at a time
	lastRefetch atomic.Int64 // when a token last caused a fetch
	stop        chan struct{}
	done        chan struct{}
}

// loadRemoteKeys returns the shared key set for a URL and settings,
// starting it when it is new. Release it with jwksPool.Delete(key).
func loadRemoteKeys(url, discovery string, refresh, cooldown time.Duration, logger *zap.Logger) (*remoteKeys, string, error) {
	key := fmt.Sprintf("%s|%s|%s|%s", url, discovery, refresh, cooldown)
	v, _, err := jwksPool.LoadOrNew(key, func() (caddy.Destructor, error) {
		rk := &remoteKeys{
			url: url, discovery: discovery, refresh: refresh, cooldown: cooldown, logger: logger,
			client: &http.Client{Timeout: jwksTimeout, CheckRedirect: func(*http.Request, []*http.Request) error {
				return http.ErrUseLastResponse // a key set does not move
			}},
			stop: make(chan struct{}), done: make(chan struct{}),
		}
		go rk.loop()
		return rk, nil
	})
	if err != nil {
		return nil, "", err
	}
	return v.(*remoteKeys), key, nil
}

// Destruct stops the refresh loop when the last user is gone.
func (rk *remoteKeys) Destruct() error {
	close(rk.stop)
	<-rk.done
	return nil
}

// loop fetches at once and then whenever the refresh interval (or the
// endpoint's max-age within bounds) has passed; after a failure it retries
// sooner.
func (rk *remoteKeys) loop() {
	defer close(rk.done)
	for {
		next, err := rk.fetch()
		if err != nil {
			next = min(jwksRetry, rk.refresh)
		}
		t := time.NewTimer(next)
		select {
		case <-rk.stop:
			t.Stop()
			return
		case <-t.C:
		}
	}
}

// current returns the keys, nil before the first successful fetch.
func (rk *remoteKeys) current() keySet {
	if ks := rk.keys.Load(); ks != nil {
		return *ks
	}
	return nil
}

// refetch fetches now unless a fetch happened within the cooldown; it
// reports whether it fetched. Used for an unknown kid and for a set that
// was never loaded.
func (rk *remoteKeys) refetch() bool {
	last := rk.lastRefetch.Load()
	now := time.Now().UnixNano()
	if now-last < int64(rk.cooldown) || !rk.lastRefetch.CompareAndSwap(last, now) {
		return false
	}
	_, err := rk.fetch()
	return err == nil
}

// fetch gets the set and swaps it in; it returns how long to keep it.
func (rk *remoteKeys) fetch() (time.Duration, error) {
	rk.fetchMu.Lock()
	defer rk.fetchMu.Unlock()
	ttl, err := rk.get()
	if err != nil {
		jwksFetches.WithLabelValues("error").Inc()
		rk.logger.Warn("JWKS fetch failed; keeping the last good key set",
			zap.String("jwks_url", rk.url), zap.Error(err))
		return 0, err
	}
	jwksFetches.WithLabelValues("ok").Inc()
	return ttl, nil
}

func (rk *remoteKeys) get() (time.Duration, error) {
	if rk.discovery != "" && rk.url == "" {
		u, err := discoverJWKS(rk.client, rk.discovery)
		if err != nil {
			return 0, fmt.Errorf("discovery of %s: %w", rk.discovery, err)
		}
		rk.url = u
	}
	ttl, err := rk.getSet()
	if err != nil && rk.discovery != "" {
		rk.url = "" // read the metadata again next time: the key set may have moved
	}
	return ttl, err
}

func (rk *remoteKeys) getSet() (time.Duration, error) {
	ctx, cancel := context.WithTimeout(context.Background(), jwksTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, rk.url, nil)
	if err != nil {
		return 0, err
	}
	req.Header.Set("Accept", "application/jwk-set+json, application/json")
	resp, err := rk.client.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return 0, fmt.Errorf("status %d", resp.StatusCode)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, jwksMaxBody+1))
	if err != nil {
		return 0, err
	}
	if len(body) > jwksMaxBody {
		return 0, errors.New("key set larger than 1 MiB")
	}
	ks, err := parseJWKSet(body, false)
	if err != nil {
		return 0, err
	}
	rk.keys.Store(&ks)
	if sum := ks.fingerprint(); sum != rk.sum {
		rk.sum = sum
		rk.gen.Add(1)
	}
	return cacheLifetime(resp.Header.Get("Cache-Control"), rk.refresh), nil
}

// Generation counts the changes of the set.
func (rk *remoteKeys) Generation() uint64 { return rk.gen.Load() }

// cacheLifetime reads max-age from Cache-Control and keeps it within
// bounds; without one it is def.
func cacheLifetime(cc string, def time.Duration) time.Duration {
	for _, part := range strings.Split(cc, ",") {
		name, val, _ := strings.Cut(strings.TrimSpace(part), "=")
		if strings.EqualFold(name, "max-age") {
			if n, err := strconv.Atoi(strings.Trim(val, `"`)); err == nil && n >= 0 {
				d := time.Duration(min(n, int(jwksMaxRefresh/time.Second))) * time.Second
				return min(max(d, jwksMinRefresh), jwksMaxRefresh)
			}
		}
	}
	return def
}

// discoverJWKS reads an issuer's metadata, RFC 8414's well-known place
// first (/.well-known/oauth-authorization-server inserted before the
// issuer's path), then OpenID Connect's (the issuer's URL with
// /.well-known/openid-configuration appended), and returns its jwks_uri.
// The metadata's issuer must be the configured one exactly (RFC 8414
// section 3.3), so that one issuer's metadata cannot name another's keys.
func discoverJWKS(client *http.Client, issuer string) (string, error) {
	u, err := url.Parse(issuer)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
		return "", errors.New("the issuer is not an http(s) URL without query or fragment")
	}
	path := strings.TrimSuffix(u.EscapedPath(), "/")
	places := []string{
		u.Scheme + "://" + u.Host + "/.well-known/oauth-authorization-server" + path,
		strings.TrimSuffix(issuer, "/") + "/.well-known/openid-configuration",
	}
	var lastErr error
	for _, place := range places {
		var meta struct {
			Issuer  string `json:"issuer"`
			JWKSURI string `json:"jwks_uri"`
		}
		if lastErr = getJSON(client, place, &meta); lastErr != nil {
			continue
		}
		if meta.Issuer != issuer {
			return "", fmt.Errorf("%s names issuer %q, not %q", place, meta.Issuer, issuer)
		}
		ju, err := url.Parse(meta.JWKSURI)
		if err != nil || ju.Host == "" || ju.Scheme != "https" && !(ju.Scheme == "http" && u.Scheme == "http") {
			return "", fmt.Errorf("%s: jwks_uri %q is not an %s URL", place, meta.JWKSURI, u.Scheme)
		}
		return meta.JWKSURI, nil
	}
	return "", lastErr
}

// getJSON fetches a small JSON document (at most 64 KiB, no redirects).
func getJSON(client *http.Client, place string, out any) error {
	ctx, cancel := context.WithTimeout(context.Background(), jwksTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, place, nil)
	if err != nil {
		return err
	}
	req.Header.Set("Accept", "application/json")
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s: status %d", place, resp.StatusCode)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, 64<<10+1))
	if err != nil {
		return err
	}
	if len(body) > 64<<10 {
		return fmt.Errorf("%s: larger than 64 KiB", place)
	}
	if err := json.Unmarshal(body, out); err != nil {
		return fmt.Errorf("%s: %w", place, err)
	}
	return nil
}

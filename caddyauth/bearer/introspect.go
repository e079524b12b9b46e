package bearer

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/sync/singleflight"

	"github.com/restauth/caddy-restauth/caddyauth"
)

// Introspector asks an authorization server about opaque tokens with RFC
// 7662 token introspection, authenticating as a client with
// client_secret_basic. It fails closed: a server that is down, slow or
// answers anything but a JSON object with a boolean "active" gives 503, and
// such answers are never cached.
type Introspector struct {
	// Endpoint is the introspection URL.
	Endpoint string `json:"endpoint,omitempty"`
	// ClientID and ClientSecret authenticate this server to the
	// authorization server. Placeholders such as {env.X} are replaced.
	ClientID     string `json:"client_id,omitempty"`
	ClientSecret string `json:"client_secret,omitempty"`
	// Timeout bounds one introspection call. Default 5s.
	Timeout caddy.Duration `json:"timeout,omitempty"`
	// CacheTTL bounds how long an active answer is reused (never past the
	// token's exp). Default 60s; -1 turns caching of answers off.
	CacheTTL caddy.Duration `json:"cache_ttl,omitempty"`
	// NegativeTTL is how long an inactive answer is reused. Default 5s.
	NegativeTTL caddy.Duration `json:"negative_ttl,omitempty"`
	// MaxConcurrent bounds the calls in flight; requests beyond it get 503
	// at once. Default 64.
	MaxConcurrent int `json:"max_concurrent,omitempty"`

	id, secret string
	client     *http.Client
	slots      chan struct{}
	group      singleflight.Group
}

// introspectionCalls counts RFC 7662 calls
// (caddy_rest_auth_introspection_calls_total).
var introspectionCalls = prometheus.NewCounterVec(prometheus.CounterOpts{
	Namespace: "caddy", Subsystem: "rest_auth", Name: "introspection_calls_total",
	Help: "RFC 7662 introspection calls, by result (active, inactive, error, busy).",
}, []string{"result"})

// introspectMaxBody caps the answer read from the server.
const introspectMaxBody = 64 << 10

func (in *Introspector) provision() error {
	if in.Endpoint == "" {
		return errors.New("introspect: endpoint is required")
	}
	u, err := url.Parse(in.Endpoint)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return fmt.Errorf("introspect: endpoint %q is not an http(s) URL", in.Endpoint)
	}
	repl := caddy.NewReplacer()
	in.id = repl.ReplaceKnown(in.ClientID, "")
	in.secret = repl.ReplaceKnown(in.ClientSecret, "")
	if in.id == "" {
		return errors.New("introspect: client_id is required")
	}
	if in.Timeout == 0 {
		in.Timeout = caddy.Duration(5 * time.Second)
	}
	if in.CacheTTL == 0 {
		in.CacheTTL = caddy.Duration(time.Minute)
	}
	if in.NegativeTTL == 0 {
		in.NegativeTTL = caddy.Duration(5 * time.Second)
	}
	if in.MaxConcurrent == 0 {
		in.MaxConcurrent = 64
	}
	if in.Timeout < 0 || in.MaxConcurrent < 0 {
		return errors.New("introspect: timeout and max_concurrent must be positive")
	}
	in.slots = make(chan struct{}, in.MaxConcurrent)
	in.client = &http.Client{
		Timeout: time.Duration(in.Timeout),
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse // never send the token elsewhere
		},
	}
	return nil
}

// errBusy means too many introspection calls are in flight.
var errBusy = errors.New("too many introspection calls in flight")

// lookup introspects a token, merging concurrent look-ups of one token.
// It returns the entry to cache (claims or a denial) or an error that
// means the answer could not be found.
func (in *Introspector) lookup(key [32]byte, tok string) (*tokenEntry, error) {
	v, err, _ := in.group.Do(string(key[:]), func() (any, error) {
		select {
		case in.slots <- struct{}{}:
			defer func() { <-in.slots }()
		default:
			introspectionCalls.WithLabelValues("busy").Inc()
			return nil, errBusy
		}
		e, err := in.call(tok)
		switch {
		case err != nil:
			introspectionCalls.WithLabelValues("error").Inc()
		case e.denial != nil:
			introspectionCalls.WithLabelValues("inactive").Inc()
		default:
			introspectionCalls.WithLabelValues("active").Inc()
		}
		return e, err
	})
	if err != nil {
		return nil, err
	}
	return v.(*tokenEntry), nil
}

// introspection is the part of an RFC 7662 answer that is used.
type introspection struct {
	Active    *bool           `json:"active"`
	TokenType string          `json:"token_type"`
	Username  string          `json:"username"`
	Sub       string          `json:"sub"`
	ClientID  string          `json:"client_id"`
	Scope     string          `json:"scope"`
	Exp       json.RawMessage `json:"exp"`
}

func (in *Introspector) call(tok string) (*tokenEntry, error) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Duration(in.Timeout))
	defer cancel()
	form := url.Values{"token": {tok}, "token_type_hint": {"access_token"}}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, in.Endpoint, strings.NewReader(form.Encode()))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	// RFC 6749 section 2.3.1: form-encode the id and secret, then Basic.
	req.SetBasicAuth(url.QueryEscape(in.id), url.QueryEscape(in.secret))
	resp, err := in.client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("introspection request: %w", redactURL(err))
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("introspection answered status %d", resp.StatusCode)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, introspectMaxBody+1))
	if err != nil {
		return nil, fmt.Errorf("reading introspection answer: %w", err)
	}
	if len(body) > introspectMaxBody {
		return nil, errors.New("introspection answer too large")
	}
	var ans introspection
	dec := json.NewDecoder(bytes.NewReader(body))
	if err := dec.Decode(&ans); err != nil || ans.Active == nil {
		return nil, errors.New("introspection answer is not a JSON object with a boolean active")
	}
	now := time.Now()
	negative := &tokenEntry{denial: caddyauth.Deny("bearer.inactive"), expires: now.Add(time.Duration(in.NegativeTTL))}
	if !*ans.Active {
		return negative, nil
	}
	if ans.TokenType == "refresh_token" {
		negative.denial = caddyauth.Deny("bearer.refresh_token")
		return negative, nil
	}
	user := ans.Username
	if user == "" {
		user = ans.Sub
	}
	if user == "" {
		negative.denial = caddyauth.Deny("bearer.no_subject")
		return negative, nil
	}
	// a token with no username whose subject is its client is the
	// client's own: it never takes a same-named user's roles
	client := ans.Username == "" && ans.ClientID != "" && ans.ClientID == ans.Sub
	tc := &tokenClaims{user: user, client: client, scopes: strings.Fields(ans.Scope)}
	var all map[string]any
	if json.Unmarshal(body, &all) == nil {
		tc.all = all // every member of the answer, for claim conditions
		tc.jkt, tc.x5t = confirmation(all["cnf"])
	}
	expires := now.Add(time.Duration(in.CacheTTL))
	if len(ans.Exp) > 0 && string(ans.Exp) != "null" {
		var exp float64
		if err := json.Unmarshal(ans.Exp, &exp); err != nil {
			return nil, errors.New("introspection answer has a non-numeric exp")
		}
		tc.exp = time.Unix(int64(exp), 0)
		if !now.Before(tc.exp) {
			negative.denial = caddyauth.Deny("bearer.expired")
			return negative, nil
		}
		if tc.exp.Before(expires) {
			expires = tc.exp
		}
	}
	if in.CacheTTL < 0 {
		expires = now // use once
	}
	return &tokenEntry{claims: tc, expires: expires}, nil
}

// redactURL drops the URL's query from a client error (the token is in the
// body, never the URL, but a configured URL could hold a secret).
func redactURL(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return fmt.Errorf("%s: %w", ue.Op, ue.Err)
	}
	return err
}

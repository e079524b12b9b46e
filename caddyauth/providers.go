package caddyauth

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp/caddyauth"

	"github.com/restauth/caddy-restauth/permissions"
)

// The built-in authenticators also work as providers of Caddy's stock
// authentication handler (http.authentication.providers), for those who
// want the credential check without rest_auth's rules:
//
//	{"handler": "authentication", "providers": {"rest_bearer": {"users": ["users.toml"], "jwt": [...]}}}
//
// A provider passes a request with a good credential on, with
// {http.auth.user.id} and the metadata placeholders roles, scopes and
// auth_method ({http.auth.user.roles} ...); anything else gets Caddy's 401
// with the handler's challenge. Caddy's handler knows only 401: a throttled
// Basic client gets 401 with Retry-After, and a check that could not be
// made (a key server down) is logged by Caddy and also answered 401.
// Provide and FileSnapshot are what such a provider is made of.

// defaultUserStore is the store a handler uses when it names none.
var defaultUserStore = json.RawMessage(`{"store":"file"}`)

// LoadUserStore loads a user store module from its JSON config
// ({"store":"file"} when raw is empty).
func LoadUserStore(ctx caddy.Context, raw json.RawMessage) (UserStore, error) {
	if len(raw) == 0 {
		raw = defaultUserStore
	}
	var cfg map[string]json.RawMessage
	var name string
	if err := json.Unmarshal(raw, &cfg); err != nil || json.Unmarshal(cfg["store"], &name) != nil || name == "" {
		return nil, fmt.Errorf("user store: a config with a \"store\" name is required, not %s", raw)
	}
	delete(cfg, "store") // the inline key names the module; it is not one of its fields
	rest, err := json.Marshal(cfg)
	if err != nil {
		return nil, err
	}
	mod, err := ctx.LoadModuleByID("http.rest_auth.user_stores."+name, rest)
	if err != nil {
		return nil, fmt.Errorf("loading user store %q: %w", name, err)
	}
	us, ok := mod.(UserStore)
	if !ok {
		return nil, fmt.Errorf("module %q is not a user store", name)
	}
	return us, nil
}

// FileSnapshot loads users files into a snapshot without rules, with the
// default (file) user store: what a provider needs for roles and
// passwords.
func FileSnapshot(ctx caddy.Context, files []string) (*Snapshot, error) {
	users := &permissions.Users{}
	if len(files) > 0 {
		var err error
		if users, err = permissions.LoadUsers(files...); err != nil {
			return nil, err
		}
	}
	store, err := LoadUserStore(ctx, nil)
	if err != nil {
		return nil, err
	}
	return NewSnapshot(nil, users, permissions.Options{}, store)
}

// Provide runs an authenticator for Caddy's authentication handler.
func Provide(a Authenticator, s *Snapshot, w http.ResponseWriter, r *http.Request) (caddyauth.User, bool, error) {
	challenge := func(err error) {
		if c := a.Challenge(err); c != "" {
			w.Header().Add("WWW-Authenticate", c)
		}
	}
	if !a.Present(r) {
		challenge(nil)
		return caddyauth.User{}, false, nil
	}
	p, err := a.Authenticate(r, s)
	if err != nil {
		var d *Denial
		if !errors.As(err, &d) {
			return caddyauth.User{}, false, fmt.Errorf("%s: %w", a.Name(), err)
		}
		if d.RetryAfter > 0 {
			w.Header().Set("Retry-After", strconv.Itoa(int(d.RetryAfter.Seconds()+0.999)))
		}
		challenge(d)
		return caddyauth.User{}, false, nil
	}
	if p == nil || p.User == "" {
		return caddyauth.User{}, false, nil
	}
	return caddyauth.User{ID: p.User, Metadata: map[string]string{
		"roles":       strings.Join(p.Roles, ","),
		"scopes":      strings.Join(p.Scopes, " "),
		"auth_method": a.Name(),
	}}, true, nil
}

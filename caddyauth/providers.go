package caddyauth

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp/caddyauth"

	"github.com/restauth/caddy-restauth/permissions"
)

func init() {
	caddy.RegisterModule(BasicProvider{})
	caddy.RegisterModule(BearerProvider{})
	caddy.RegisterModule(ClientCertProvider{})
}

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

// providerStore loads users files into a store without rules.
func providerStore(files []string) (*Store, error) {
	users := &permissions.Users{}
	if len(files) > 0 {
		var err error
		if users, err = permissions.LoadUsers(files...); err != nil {
			return nil, err
		}
	}
	return newStore(nil, users, permissions.Options{})
}

// provide runs an authenticator for Caddy's authentication handler.
func provide(a Authenticator, s *Store, w http.ResponseWriter, r *http.Request) (caddyauth.User, bool, error) {
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

// BasicProvider is the basic authenticator as a provider of Caddy's
// authentication handler.
type BasicProvider struct {
	Basic
	// Users are users.toml files (roles and users with password hashes).
	Users []string `json:"users,omitempty"`
	store *Store
}

// CaddyModule returns the Caddy module information.
func (BasicProvider) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{ID: "http.authentication.providers.rest_basic", New: func() caddy.Module { return new(BasicProvider) }}
}

// Provision loads the users files.
func (p *BasicProvider) Provision(ctx caddy.Context) (err error) {
	if err = p.Basic.Provision(ctx); err != nil {
		return err
	}
	p.store, err = providerStore(p.Users)
	return err
}

// Authenticate implements caddyauth.Authenticator.
func (p *BasicProvider) Authenticate(w http.ResponseWriter, r *http.Request) (caddyauth.User, bool, error) {
	return provide(&p.Basic, p.store, w, r)
}

// BearerProvider is the bearer authenticator as a provider of Caddy's
// authentication handler.
type BearerProvider struct {
	Bearer
	// Users are users.toml files whose roles a token's user also gets.
	Users []string `json:"users,omitempty"`
	store *Store
}

// CaddyModule returns the Caddy module information.
func (BearerProvider) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{ID: "http.authentication.providers.rest_bearer", New: func() caddy.Module { return new(BearerProvider) }}
}

// Provision loads keys and users files.
func (p *BearerProvider) Provision(ctx caddy.Context) (err error) {
	if err = p.Bearer.Provision(ctx); err != nil {
		return err
	}
	p.store, err = providerStore(p.Users)
	return err
}

// Authenticate implements caddyauth.Authenticator.
func (p *BearerProvider) Authenticate(w http.ResponseWriter, r *http.Request) (caddyauth.User, bool, error) {
	return provide(&p.Bearer, p.store, w, r)
}

// ClientCertProvider is the client_cert authenticator as a provider of
// Caddy's authentication handler.
type ClientCertProvider struct {
	ClientCert
	// Users are users.toml files whose roles the certificate's user gets.
	Users []string `json:"users,omitempty"`
	store *Store
}

// CaddyModule returns the Caddy module information.
func (ClientCertProvider) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{ID: "http.authentication.providers.rest_client_cert", New: func() caddy.Module { return new(ClientCertProvider) }}
}

// Provision loads the users files.
func (p *ClientCertProvider) Provision(ctx caddy.Context) (err error) {
	if err = p.ClientCert.Provision(ctx); err != nil {
		return err
	}
	p.store, err = providerStore(p.Users)
	return err
}

// Authenticate implements caddyauth.Authenticator.
func (p *ClientCertProvider) Authenticate(w http.ResponseWriter, r *http.Request) (caddyauth.User, bool, error) {
	return provide(&p.ClientCert, p.store, w, r)
}

// Interface guards
var (
	_ caddyauth.Authenticator = (*BasicProvider)(nil)
	_ caddyauth.Authenticator = (*BearerProvider)(nil)
	_ caddyauth.Authenticator = (*ClientCertProvider)(nil)
	_ caddy.Provisioner       = (*BasicProvider)(nil)
	_ caddy.Validator         = (*BearerProvider)(nil)
	_ caddy.CleanerUpper      = (*BearerProvider)(nil)
)

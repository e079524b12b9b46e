package basic

import (
	"net/http"

	"github.com/caddyserver/caddy/v2"
	stock "github.com/caddyserver/caddy/v2/modules/caddyhttp/caddyauth"

	"github.com/restauth/caddy-restauth/caddyauth"
)

func init() {
	caddy.RegisterModule(Provider{})
}

// Provider is the basic authenticator as a provider of Caddy's
// authentication handler (http.authentication.providers.rest_basic), for
// the credential check without rest_auth's rules.
type Provider struct {
	Basic
	// Users are users.toml files (roles and users with password hashes).
	Users []string `json:"users,omitempty"`
	snap  *caddyauth.Snapshot
}

// CaddyModule returns the Caddy module information.
func (Provider) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{ID: "http.authentication.providers.rest_basic", New: func() caddy.Module { return new(Provider) }}
}

// Provision loads the users files.
func (p *Provider) Provision(ctx caddy.Context) (err error) {
	if err = p.Basic.Provision(ctx); err != nil {
		return err
	}
	p.snap, err = caddyauth.FileSnapshot(ctx, p.Users)
	return err
}

// Authenticate implements Caddy's authenticator interface.
func (p *Provider) Authenticate(w http.ResponseWriter, r *http.Request) (stock.User, bool, error) {
	return caddyauth.Provide(&p.Basic, p.snap, w, r)
}

// Interface guards
var (
	_ stock.Authenticator = (*Provider)(nil)
	_ caddy.Provisioner   = (*Provider)(nil)
)

package clientcert

import (
	"net/http"

	"github.com/caddyserver/caddy/v2"
	stock "github.com/caddyserver/caddy/v2/modules/caddyhttp/caddyauth"

	"github.com/restauth/caddy-restauth/caddyauth"
)

func init() {
	caddy.RegisterModule(Provider{})
}

// Provider is the client_cert authenticator as a provider of Caddy's
// authentication handler (http.authentication.providers.rest_client_cert).
type Provider struct {
	ClientCert
	// Users are users.toml files whose roles the certificate's user gets.
	Users []string `json:"users,omitempty"`
	snap  *caddyauth.Snapshot
}

// CaddyModule returns the Caddy module information.
func (Provider) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{ID: "http.authentication.providers.rest_client_cert", New: func() caddy.Module { return new(Provider) }}
}

// Provision loads the users files.
func (p *Provider) Provision(ctx caddy.Context) (err error) {
	if err = p.ClientCert.Provision(ctx); err != nil {
		return err
	}
	p.snap, err = caddyauth.FileSnapshot(ctx, p.Users)
	return err
}

// Authenticate implements Caddy's authenticator interface.
func (p *Provider) Authenticate(w http.ResponseWriter, r *http.Request) (stock.User, bool, error) {
	return caddyauth.Provide(&p.ClientCert, p.snap, w, r)
}

// Interface guards
var (
	_ stock.Authenticator = (*Provider)(nil)
	_ caddy.Provisioner   = (*Provider)(nil)
)

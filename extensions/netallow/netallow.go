// Package netallow is an example third-party authorizer for rest_auth: it
// lets a request through only when the client's address (Caddy's client IP,
// which honours trusted_proxies, never a raw X-Forwarded-For) is in one of
// the given networks.
//
//	rest_auth {
//		users users.toml
//		authorizer client_networks 10.0.0.0/8 192.168.0.0/16
//		resource /internal/* all {
//			authorizers client_networks
//		}
//	}
package netallow

import (
	"fmt"
	"net"
	"net/http"
	"net/netip"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"

	"github.com/restauth/caddy-restauth/caddyauth"
	"github.com/restauth/caddy-restauth/permissions"
)

func init() {
	caddy.RegisterModule(ClientNetworks{})
}

// ClientNetworks allows requests from the given networks only.
type ClientNetworks struct {
	// Ranges are CIDR prefixes or single addresses.
	Ranges []string `json:"ranges,omitempty"`
	// Label names this instance for rules' authorizers lists, when one
	// rest_auth has several; default client_networks.
	Label string `json:"name,omitempty"`

	prefixes []netip.Prefix
}

// CaddyModule returns the Caddy module information.
func (ClientNetworks) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "http.rest_auth.authorizers.client_networks",
		New: func() caddy.Module { return new(ClientNetworks) },
	}
}

// Provision parses the ranges.
func (c *ClientNetworks) Provision(caddy.Context) error {
	if len(c.Ranges) == 0 {
		return fmt.Errorf("client_networks: give at least one range")
	}
	for _, r := range c.Ranges {
		p, err := netip.ParsePrefix(r)
		if err != nil {
			a, aerr := netip.ParseAddr(r)
			if aerr != nil {
				return fmt.Errorf("client_networks: %q is not a CIDR range or an address", r)
			}
			p = netip.PrefixFrom(a, a.BitLen())
		}
		c.prefixes = append(c.prefixes, p.Masked())
	}
	return nil
}

// Name returns the label, or "client_networks": the name rules use in
// their authorizers lists.
func (c *ClientNetworks) Name() string {
	if c.Label != "" {
		return c.Label
	}
	return "client_networks"
}

// Authorize allows a client inside one of the ranges.
func (c *ClientNetworks) Authorize(r *http.Request, _ *caddyauth.Principal, _ *permissions.Rule) error {
	ip, _ := caddyhttp.GetVar(r.Context(), caddyhttp.ClientIPVarKey).(string)
	if ip == "" {
		ip, _, _ = net.SplitHostPort(r.RemoteAddr)
	}
	addr, err := netip.ParseAddr(ip)
	if err != nil {
		return &caddyauth.Denial{Status: http.StatusForbidden, Reason: "client_networks.unknown_address"}
	}
	addr = addr.Unmap()
	for _, p := range c.prefixes {
		if p.Contains(addr) {
			return nil
		}
	}
	return &caddyauth.Denial{Status: http.StatusForbidden, Reason: "client_networks.outside"}
}

// UnmarshalCaddyfile reads
//
//	client_networks <range>...
//	client_networks [<range>...] {
//		ranges <range>...
//		name <name>
//	}
func (c *ClientNetworks) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	d.Next() // the module name
	c.Ranges = append(c.Ranges, d.RemainingArgs()...)
	for d.NextBlock(0) {
		switch d.Val() {
		case "ranges":
			c.Ranges = append(c.Ranges, d.RemainingArgs()...)
		case "name":
			if !d.NextArg() {
				return d.ArgErr()
			}
			c.Label = d.Val()
		default:
			return d.Errf("client_networks: unknown option %q", d.Val())
		}
	}
	if len(c.Ranges) == 0 {
		return d.ArgErr()
	}
	return nil
}

// Interface guards
var (
	_ caddyauth.Authorizer  = (*ClientNetworks)(nil)
	_ caddy.Provisioner     = (*ClientNetworks)(nil)
	_ caddyfile.Unmarshaler = (*ClientNetworks)(nil)
)

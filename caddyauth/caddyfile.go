package caddyauth

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"

	"github.com/restauth/caddy-restauth/permissions"
)

func init() {
	httpcaddyfile.RegisterHandlerDirective("rest_auth", parseCaddyfile)
	httpcaddyfile.RegisterDirectiveOrder("rest_auth", httpcaddyfile.After, "basic_auth")
}

func parseCaddyfile(h httpcaddyfile.Helper) (caddyhttp.MiddlewareHandler, error) {
	var ra Handler
	err := ra.UnmarshalCaddyfile(h.Dispenser)
	return &ra, err
}

// UnmarshalCaddyfile sets up the handler from Caddyfile tokens:
//
//	rest_auth [<matcher>] {
//		name <name>
//		users <file>...
//		resources <file>...
//		default_access deny|allow
//		permission_match all|any
//		cors_preflight on|off
//		forward_identity
//		watch [<interval>]
//		log_denials sampled [<first> <thereafter>] | all | off
//		resource <path-pattern> [<methods>] [<permission>...]
//		resource <path-pattern> [<methods>] {
//			secured true|false
//			permissions <permission>...
//			scopes <scope>...
//			auth_handlers <handler>...
//			authorizers <name>...
//		}
//		basic [{ ... }]
//		<authenticator> [{ ... }]   # bearer, client_cert or a third party's
//		authorizer <name> [{ ... }] # a module in http.rest_auth.authorizers
//		user_store <name> [{ ... }] # where accounts come from (default file)
//		secondary_store <DOMAIN> <name> [{ ... }] # DOMAIN/alice's store
//	}
//
// Authenticators are tried in the order written; with none, basic alone.
func (h *Handler) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	d.Next() // directive name
	if d.NextArg() {
		return d.ArgErr()
	}
	for d.NextBlock(0) {
		switch d.Val() {
		case "name":
			if !d.NextArg() {
				return d.ArgErr()
			}
			h.Name = d.Val()
			if d.NextArg() {
				return d.ArgErr()
			}
		case "users", "resources":
			key := d.Val()
			files := d.RemainingArgs()
			if len(files) == 0 {
				return d.ArgErr()
			}
			if key == "users" {
				h.Users = append(h.Users, files...)
			} else {
				h.Resources = append(h.Resources, files...)
			}
		case "default_access":
			if !d.NextArg() {
				return d.ArgErr()
			}
			if v := d.Val(); v != "deny" && v != "allow" {
				return d.Errf("default_access must be deny or allow, not %q", v)
			}
			h.DefaultAccess = d.Val()
		case "permission_match":
			if !d.NextArg() {
				return d.ArgErr()
			}
			if v := d.Val(); v != "all" && v != "any" {
				return d.Errf("permission_match must be all or any, not %q", v)
			}
			h.PermissionMatch = d.Val()
		case "cors_preflight":
			if !d.NextArg() {
				return d.ArgErr()
			}
			on, err := onOff(d)
			if err != nil {
				return err
			}
			h.CORSPreflight = &on
		case "watch":
			h.Watch = true
			if d.NextArg() {
				iv, err := ParseDuration(d, "watch", d.Val())
				if err != nil {
					return err
				}
				if iv <= 0 {
					return d.Errf("watch: %q must be more than 0s", d.Val())
				}
				h.WatchInterval = caddy.Duration(iv)
			}
			if d.NextArg() {
				return d.ArgErr()
			}
		case "log_denials":
			args := d.RemainingArgs()
			if len(args) == 0 {
				return d.Err("log_denials: sampled [<first> <thereafter>], all or off")
			}
			switch args[0] {
			case logDenialsAll, logDenialsOff:
				if len(args) != 1 {
					return d.ArgErr()
				}
			case logDenialsSampled:
				if len(args) != 1 && len(args) != 3 {
					return d.Err("log_denials sampled [<first> <thereafter>], e.g. log_denials sampled 10 1000")
				}
				if len(args) == 3 {
					first, err1 := strconv.Atoi(args[1])
					every, err2 := strconv.Atoi(args[2])
					if err1 != nil || err2 != nil || first < 1 || every < 1 {
						return d.Errf("log_denials sampled: two positive numbers, not %q %q", args[1], args[2])
					}
					h.LogDenialsFirst, h.LogDenialsThereafter = first, every
				}
			default:
				return d.Errf("log_denials: sampled, all or off, not %q%s", args[0],
					permissions.DidYouMean(args[0], []string{logDenialsSampled, logDenialsAll, logDenialsOff}))
			}
			h.LogDenials = args[0]
		case "forward_identity":
			if d.NextArg() {
				return d.ArgErr()
			}
			h.ForwardIdentity = true
		case "resource":
			rc, err := parseResource(d)
			if err != nil {
				return err
			}
			h.Rules = append(h.Rules, rc)
		case "user_store":
			raw, err := UserStoreArg(d)
			if err != nil {
				return err
			}
			h.UserStoreRaw = raw
		case "super_tenant":
			if err := OneArg(d, &h.SuperTenant); err != nil {
				return err
			}
		case "tenant":
			t, err := parseTenant(d)
			if err != nil {
				return err
			}
			h.Tenants = append(h.Tenants, t)
		case "secondary_store":
			sec, err := SecondaryStoreArg(d)
			if err != nil {
				return err
			}
			h.SecondaryStores = append(h.SecondaryStores, sec)
		case "authorizer":
			if !d.NextArg() {
				return d.ArgErr()
			}
			name := d.Val()
			unm, err := caddyfile.UnmarshalModule(d, "http.rest_auth.authorizers."+name)
			if err != nil {
				if strings.Contains(err.Error(), "module not registered") {
					return d.Errf("unknown authorizer %q%s", name, permissions.DidYouMean(name, moduleIDs("http.rest_auth.authorizers")))
				}
				return err
			}
			var warnings []caddyconfig.Warning
			h.AuthorizersRaw = append(h.AuthorizersRaw, caddyconfig.JSONModuleObject(unm, "authorizer", name, &warnings))
		default:
			name := d.Val()
			unm, err := caddyfile.UnmarshalModule(d, "http.rest_auth.authenticators."+name)
			if err != nil {
				if strings.Contains(err.Error(), "module not registered") {
					known := append(slices.Clone(restAuthOptions), moduleIDs("http.rest_auth.authenticators")...)
					return d.Errf("unknown rest_auth option or authenticator %q%s", name, permissions.DidYouMean(name, known))
				}
				return err
			}
			var warnings []caddyconfig.Warning
			h.AuthenticatorsRaw = append(h.AuthenticatorsRaw, caddyconfig.JSONModuleObject(unm, "handler", name, &warnings))
		}
	}
	return nil
}

// parseResource reads a resource line, and its block if it has one.
func parseResource(d *caddyfile.Dispenser) (RuleConfig, error) {
	var rc RuleConfig
	if !d.NextArg() {
		return rc, d.ArgErr()
	}
	rc.Source = fmt.Sprintf("%s:%d", d.File(), d.Line())
	rc.Path = d.Val()
	if !strings.HasPrefix(rc.Path, "/") && !strings.HasPrefix(rc.Path, "*") {
		return rc, d.Errf("resource path %q must start with / or *", rc.Path)
	}
	args := d.RemainingArgs()
	if len(args) > 0 && !strings.HasPrefix(args[0], "/") && !strings.EqualFold(args[0], "none") {
		if !strings.EqualFold(args[0], "all") {
			for _, m := range strings.Split(args[0], ",") {
				if m = strings.TrimSpace(m); m != "" {
					rc.Methods = append(rc.Methods, strings.ToUpper(m))
				}
			}
		}
		args = args[1:]
	}
	rc.Permissions = args
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		switch d.Val() {
		case "secured":
			if !d.NextArg() {
				return rc, d.ArgErr()
			}
			var b bool
			switch d.Val() {
			case "true":
				b = true
			case "false":
			default:
				return rc, d.Errf("secured must be true or false, not %q", d.Val())
			}
			rc.Secured = &b
		case "permissions":
			rc.Permissions = append(rc.Permissions, d.RemainingArgs()...)
		case "scopes":
			rc.Scopes = append(rc.Scopes, d.RemainingArgs()...)
		case "auth_handlers":
			rc.AuthHandlers = append(rc.AuthHandlers, d.RemainingArgs()...)
		case "authorizers":
			names := d.RemainingArgs()
			if len(names) == 0 {
				return rc, d.ArgErr()
			}
			rc.Authorizers = append(rc.Authorizers, names...)
		case "require_binding":
			if err := OneArg(d, &rc.RequireBinding); err != nil {
				return rc, err
			}
		case "cross_tenant":
			rc.CrossTenant = true
			rc.CrossTenantAllowed = append(rc.CrossTenantAllowed, d.RemainingArgs()...)
		default:
			return rc, UnknownOption(d, "resource", []string{"secured", "permissions", "scopes", "auth_handlers", "authorizers", "cross_tenant", "require_binding"})
		}
	}
	return rc, nil
}

// restAuthOptions are rest_auth's own options (authenticators are the
// other words its block knows).
var restAuthOptions = []string{"name", "users", "resources", "default_access", "permission_match", "cors_preflight",
	"watch", "forward_identity", "resource", "authorizer", "user_store", "secondary_store", "log_denials",
	"tenant", "super_tenant"}

// parseTenant reads
//
//	tenant <domain> {
//		users <file>...
//		user_store <module> [{ ... }]
//		inactive
//	}
func parseTenant(d *caddyfile.Dispenser) (Tenant, error) {
	var t Tenant
	if !d.NextArg() {
		return t, d.Err("tenant: write tenant <domain> { users <file>... }")
	}
	t.Domain = d.Val()
	if d.NextArg() {
		return t, d.ArgErr()
	}
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		switch d.Val() {
		case "users":
			files := d.RemainingArgs()
			if len(files) == 0 {
				return t, d.ArgErr()
			}
			t.Users = append(t.Users, files...)
		case "user_store":
			raw, err := UserStoreArg(d)
			if err != nil {
				return t, err
			}
			t.UserStoreRaw = raw
		case "inactive":
			if d.NextArg() {
				return t, d.ArgErr()
			}
			t.Inactive = true
		default:
			return t, UnknownOption(d, "tenant", []string{"users", "user_store", "inactive"})
		}
	}
	return t, nil
}

// moduleIDs are the names of the modules registered in a namespace.
func moduleIDs(namespace string) []string {
	var out []string
	for _, m := range caddy.GetModules(namespace) {
		out = append(out, m.ID.Name())
	}
	return out
}

func onOff(d *caddyfile.Dispenser) (bool, error) {
	switch d.Val() {
	case "on", "true":
		return true, nil
	case "off", "false":
		return false, nil
	}
	return false, d.Errf("expected on or off, not %q", d.Val())
}

// Interface guard
var _ caddyfile.Unmarshaler = (*Handler)(nil)

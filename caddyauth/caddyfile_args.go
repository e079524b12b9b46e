package caddyauth

import (
	"encoding/json"
	"strings"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"

	"github.com/restauth/caddy-restauth/permissions"
)

// Helpers for reading Caddyfile arguments, for rest_auth's directive and
// its guest modules' blocks alike. Their errors say what to write.

// UnknownOption is the error for an option a block does not have, with
// the closest one it has.
func UnknownOption(d *caddyfile.Dispenser, block string, known []string) error {
	return d.Errf("%s: unknown option %q%s", block, d.Val(), permissions.DidYouMean(d.Val(), known))
}

// OneArg reads exactly one argument.
func OneArg(d *caddyfile.Dispenser, out *string) error {
	args := d.RemainingArgs()
	if len(args) != 1 {
		return d.ArgErr()
	}
	*out = args[0]
	return nil
}

// SomeArgs reads one or more arguments, adding to what is there.
func SomeArgs(d *caddyfile.Dispenser, out *[]string) error {
	args := d.RemainingArgs()
	if len(args) == 0 {
		return d.ArgErr()
	}
	*out = append(*out, args...)
	return nil
}

// DurationArg reads one positive duration.
func DurationArg(d *caddyfile.Dispenser, out *caddy.Duration) error {
	return DurationArgMin(d, out, 1)
}

// DurationArgMin reads one duration of at least least (0 allows 0s).
func DurationArgMin(d *caddyfile.Dispenser, out *caddy.Duration, least time.Duration) error {
	opt := d.Val()
	var s string
	if err := OneArg(d, &s); err != nil {
		return err
	}
	v, err := ParseDuration(d, opt, s)
	if err != nil {
		return err
	}
	if v < least {
		if least > 0 {
			return d.Errf("%s: %q must be more than 0s", opt, s)
		}
		return d.Errf("%s: %q must not be negative", opt, s)
	}
	*out = caddy.Duration(v)
	return nil
}

// ParseDuration reads a duration for an option, and says how to write
// one: a bare number is the usual mistake ("5" for 5s).
func ParseDuration(d *caddyfile.Dispenser, opt, s string) (time.Duration, error) {
	v, err := caddy.ParseDuration(s)
	if err == nil {
		return v, nil
	}
	if s != "" && strings.Trim(s, "0123456789") == "" {
		return 0, d.Errf("%s: %q is not a duration: write %ss (or %sm, %sh)", opt, s, s, s, s)
	}
	return 0, d.Errf("%s: %q is not a duration: write it as 30s, 5m or 1h", opt, s)
}

// UserStoreArg reads "<module> [{ ... }]" after user_store: the store's
// JSON with its inline key.
func UserStoreArg(d *caddyfile.Dispenser) (json.RawMessage, error) {
	if !d.NextArg() {
		return nil, d.Err("a user store module is needed here, such as file, or ldap { ... }")
	}
	name := d.Val()
	unm, err := caddyfile.UnmarshalModule(d, "http.rest_auth.user_stores."+name)
	if err != nil {
		if strings.Contains(err.Error(), "module not registered") {
			return nil, d.Errf("unknown user store %q%s", name, permissions.DidYouMean(name, moduleIDs("http.rest_auth.user_stores")))
		}
		return nil, err
	}
	var warnings []caddyconfig.Warning
	return caddyconfig.JSONModuleObject(unm, "store", name, &warnings), nil
}

// SecondaryStoreArg reads "<DOMAIN> <module> [{ ... }]" after
// secondary_store.
func SecondaryStoreArg(d *caddyfile.Dispenser) (SecondaryStore, error) {
	if !d.NextArg() {
		return SecondaryStore{}, d.Err("secondary_store <DOMAIN> <store> { ... }, such as secondary_store SECONDARY ldap { ... }")
	}
	sec := SecondaryStore{Domain: d.Val()}
	raw, err := UserStoreArg(d)
	if err != nil {
		return SecondaryStore{}, err
	}
	sec.StoreRaw = raw
	return sec, nil
}

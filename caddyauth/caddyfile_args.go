package caddyauth

import (
	"strings"
	"time"

	"github.com/caddyserver/caddy/v2"
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

package throttle

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"

	"github.com/restauth/caddy-restauth/caddyauth"
)

// Settings are the brute-force limits of a secret check as the JSON
// config and the Caddyfile write them; basic and oauth2_server embed them,
// so that both read, default and check them alike (and count for a user
// on the same counters).
type Settings struct {
	// ThrottleFailures is how many failed checks per name (a user, or a
	// client id) and client address a window allows before answering 429.
	// Default 10; -1 turns throttling off.
	ThrottleFailures int `json:"throttle_failures,omitempty"`
	// ThrottleWindow is the window's length. Default 1m.
	ThrottleWindow caddy.Duration `json:"throttle_window,omitempty"`
	// ThrottleAddressFailures bounds failed checks from one client address
	// across all names in a window (password spraying). Default ten times
	// ThrottleFailures; -1 turns it off.
	ThrottleAddressFailures int `json:"throttle_address_failures,omitempty"`
	// ThrottleUserFailures bounds failed checks for one name across all
	// addresses in a window (a distributed guess). Default ten times
	// ThrottleFailures; -1 turns it off. While it holds, the good password
	// gets 429 too: that is the price of stopping the guessing.
	ThrottleUserFailures int `json:"throttle_user_failures,omitempty"`
	// ThrottleIPv6Prefix is the prefix length by which IPv6 clients are
	// counted (one subscriber usually holds a whole /64). Default 64; 128
	// counts each address.
	ThrottleIPv6Prefix int `json:"throttle_ipv6_prefix,omitempty"`
	// ThrottleStoreRaw shares the failure counts with the other instances
	// of a fleet: a module in http.rest_auth.throttle_stores, such as
	// redis. Without it each instance counts alone.
	ThrottleStoreRaw json.RawMessage `json:"throttle_store,omitempty" caddy:"namespace=http.rest_auth.throttle_stores inline_key=store"`
}

// Options are the Caddyfile options Settings reads.
var Options = []string{"throttle", "throttle_address", "throttle_user", "throttle_ipv6_prefix", "throttle_store"}

// Limits fills in the defaults and builds the limits (nil when
// throttling is off), counting on the fleet's store when one is
// configured; it returns the store too (nil without one), which may carry
// more than counts (the token service's messages). who names the module
// in errors.
func (s *Settings) Limits(ctx caddy.Context, who string) (*Limits, caddyauth.ThrottleStore, error) {
	if s.ThrottleFailures == 0 {
		s.ThrottleFailures = 10
	}
	if s.ThrottleWindow == 0 {
		s.ThrottleWindow = caddy.Duration(time.Minute)
	}
	if s.ThrottleIPv6Prefix == 0 {
		s.ThrottleIPv6Prefix = 64
	}
	if err := s.Validate(who); err != nil {
		return nil, nil, err
	}
	var l *Limits
	if s.ThrottleFailures > 0 {
		if s.ThrottleAddressFailures == 0 {
			s.ThrottleAddressFailures = 10 * s.ThrottleFailures
		}
		if s.ThrottleUserFailures == 0 {
			s.ThrottleUserFailures = 10 * s.ThrottleFailures
		}
		l = New(s.ThrottleFailures, s.ThrottleAddressFailures, s.ThrottleUserFailures, time.Duration(s.ThrottleWindow), s.ThrottleIPv6Prefix)
	}
	store, err := caddyauth.LoadThrottleStore(ctx, s.ThrottleStoreRaw)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", who, err)
	}
	return l.WithStore(store, ctx.Logger()), store, nil
}

// Validate checks the settings.
func (s *Settings) Validate(who string) error {
	if s.ThrottleFailures < -1 || s.ThrottleWindow < 0 || s.ThrottleAddressFailures < -1 || s.ThrottleUserFailures < -1 {
		return errors.New(who + ": throttle must be positive")
	}
	if s.ThrottleIPv6Prefix < 0 || s.ThrottleIPv6Prefix > 128 {
		return fmt.Errorf("%s: throttle_ipv6_prefix must be 1 to 128, not %d", who, s.ThrottleIPv6Prefix)
	}
	return nil
}

// UnmarshalOption reads one of Options at the dispenser's current token:
//
//	throttle <failures> [<window>] | off
//	throttle_address <failures> | off
//	throttle_user <failures> | off
//	throttle_ipv6_prefix <bits>
//	throttle_store <module> [{ ... }]
//
// It reports false for any other option.
func (s *Settings) UnmarshalOption(d *caddyfile.Dispenser) (bool, error) {
	switch opt := d.Val(); opt {
	case "throttle":
		n, w, err := ParseLimit(d, "throttle", "10 1m")
		if err != nil {
			return true, err
		}
		s.ThrottleFailures = n
		if w > 0 {
			s.ThrottleWindow = caddy.Duration(w)
		}
	case "throttle_address", "throttle_user":
		var v string
		if err := caddyauth.OneArg(d, &v); err != nil {
			return true, err
		}
		n := -1
		if v != "off" {
			var err error
			if n, err = strconv.Atoi(v); err != nil || n < 1 {
				return true, d.Errf("%s: a positive number or off, not %q", opt, v)
			}
		}
		if opt == "throttle_address" {
			s.ThrottleAddressFailures = n
		} else {
			s.ThrottleUserFailures = n
		}
	case "throttle_ipv6_prefix":
		n, err := ParsePrefix(d, opt)
		if err != nil {
			return true, err
		}
		s.ThrottleIPv6Prefix = n
	case "throttle_store":
		raw, err := caddyauth.ThrottleStoreArg(d)
		if err != nil {
			return true, err
		}
		s.ThrottleStoreRaw = raw
	default:
		return false, nil
	}
	return true, nil
}

// ParsePrefix reads an IPv6 prefix length (1 to 128) after an option.
func ParsePrefix(d *caddyfile.Dispenser, option string) (int, error) {
	var v string
	if err := caddyauth.OneArg(d, &v); err != nil {
		return 0, err
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 || n > 128 {
		return 0, d.Errf("%s: a prefix length from 1 to 128, not %q", option, v)
	}
	return n, nil
}

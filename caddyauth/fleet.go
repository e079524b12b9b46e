package caddyauth

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"

	"github.com/restauth/caddy-restauth/permissions"
)

// A fleet is several Caddy instances behind a load balancer that must
// behave as one: a password guess counts the same on every instance, and
// a revocation or a new signing key is seen by all at once. Throttle
// stores (modules in http.rest_auth.throttle_stores, such as redis) hold
// the shared counts, and may carry the fleet's messages (a Broadcaster).

// A ThrottleStore keeps failure counts that several instances share. The
// throttles count locally too and ask the store only on a failure and
// before an uncached check, so a good, cached credential never waits on
// it; a store that cannot answer leaves the local counts in charge.
type ThrottleStore interface {
	// Add counts one failure on each key and returns, per key, the count
	// in its window and the time the window has left; a key's window
	// starts at its first failure.
	Add(ctx context.Context, keys []CountKey) ([]Count, error)
	// Counts returns the keys' counts and windows without adding.
	Counts(ctx context.Context, keys []CountKey) ([]Count, error)
}

// A CountKey is one counter: a key (a user name, a client address, or
// both; the store should not keep it in clear) and its window.
type CountKey struct {
	Key    string
	Window time.Duration
}

// A Count is a counter's value and the time its window has left.
type Count struct {
	N    int64
	Left time.Duration
}

// A Broadcaster carries small messages between the instances of a fleet:
// the token service publishes revocations and key rotations on it, and
// every instance applies them at once (each still reads its storage, the
// source of truth, on its own schedule).
type Broadcaster interface {
	// Publish sends a message to every subscriber of the channel, this
	// instance's included.
	Publish(ctx context.Context, channel string, msg []byte) error
	// Subscribe calls fn with each message on the channel until cancel is
	// called; it keeps trying to (re)subscribe while the store is away.
	Subscribe(channel string, fn func(msg []byte)) (cancel func())
}

// LoadThrottleStore loads a throttle store module from its JSON config
// (with its inline key, "store"); nil for an empty config.
func LoadThrottleStore(ctx caddy.Context, raw json.RawMessage) (ThrottleStore, error) {
	if len(raw) == 0 {
		return nil, nil
	}
	var cfg map[string]json.RawMessage
	var name string
	if err := json.Unmarshal(raw, &cfg); err != nil || json.Unmarshal(cfg["store"], &name) != nil || name == "" {
		return nil, fmt.Errorf("throttle store: a config with a \"store\" name is required, not %s", raw)
	}
	delete(cfg, "store")
	rest, err := json.Marshal(cfg)
	if err != nil {
		return nil, err
	}
	mod, err := ctx.LoadModuleByID("http.rest_auth.throttle_stores."+name, rest)
	if err != nil {
		return nil, fmt.Errorf("loading throttle store %q: %w", name, err)
	}
	ts, ok := mod.(ThrottleStore)
	if !ok {
		return nil, fmt.Errorf("module %q is not a throttle store", name)
	}
	return ts, nil
}

// ThrottleStoreArg reads "<module> [{ ... }]" after throttle_store.
func ThrottleStoreArg(d *caddyfile.Dispenser) (json.RawMessage, error) {
	if !d.NextArg() {
		return nil, d.Err("a throttle store module is needed here, such as redis { address 127.0.0.1:6379 }")
	}
	name := d.Val()
	unm, err := caddyfile.UnmarshalModule(d, "http.rest_auth.throttle_stores."+name)
	if err != nil {
		if strings.Contains(err.Error(), "module not registered") {
			return nil, d.Errf("unknown throttle store %q%s", name, permissions.DidYouMean(name, moduleIDs("http.rest_auth.throttle_stores")))
		}
		return nil, err
	}
	var warnings []caddyconfig.Warning
	return caddyconfig.JSONModuleObject(unm, "store", name, &warnings), nil
}

// A CachedVerifier is an Accounts that can answer from its cache of
// verified credentials alone: a hit is a grant that costs no hash and no
// round trip. Basic asks it first, and asks a shared throttle store only
// on a miss, so that a good, cached credential never waits on the fleet.
type CachedVerifier interface {
	// VerifyCached returns the account when this name and password were
	// verified recently, else nil (which says nothing about them).
	VerifyCached(name, password []byte) *Account
}

// A KeyRotator is a live token service whose signing key the admin API
// can replace now (POST /rest-auth/rotate-keys).
type KeyRotator interface {
	// RotateKeys makes a new signing key the current one; the old one
	// verifies until its tokens expire. It returns the new key's id.
	RotateKeys() (issuer, kid string, err error)
}

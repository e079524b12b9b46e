package oauth2server

import (
	"context"
	"encoding/json"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/restauth/caddy-restauth/caddyauth"
)

// A fleet's instances share the issuer's storage, which stays the source
// of truth (each reads revocations every 30 s and the key ring when a
// token names a key it lacks); with a message bus (a throttle store that
// is a caddyauth.Broadcaster, such as redis), a revocation or a new key
// also reaches every instance at once.

// fleetMsg is one message on the issuer's channel.
type fleetMsg struct {
	Kind  string `json:"kind"` // jti, sid (a revocation) or keys (the ring changed)
	ID    string `json:"id,omitempty"`
	Until int64  `json:"until,omitempty"` // unix seconds, for a revocation
}

// busRef is the bus the issuer publishes on and its subscription.
type busRef struct {
	bus    caddyauth.Broadcaster
	cancel func()
	once   sync.Once
}

func (b *busRef) stop() { b.once.Do(b.cancel) }

// fleetBus holds the issuer's current bus.
type fleetBus struct{ cur atomic.Pointer[busRef] }

// channel is the issuer's channel name on the bus.
func (o *oauthIssuer) channel() string { return "oauth2:" + o.prefix }

// useBus subscribes the issuer to a bus and publishes on it from now on;
// the returned function lets go of it (a later config's bus, if one came
// since, stays).
func (o *oauthIssuer) useBus(bus caddyauth.Broadcaster) (release func()) {
	ref := &busRef{bus: bus}
	ref.cancel = bus.Subscribe(o.channel(), o.onMessage)
	if old := o.fleet.cur.Swap(ref); old != nil {
		old.stop()
	}
	return func() {
		o.fleet.cur.CompareAndSwap(ref, nil)
		ref.stop()
	}
}

// publish tells the fleet; a bus that cannot be reached is logged, and the
// others learn from the storage at their next poll.
func (o *oauthIssuer) publish(m fleetMsg) {
	ref := o.fleet.cur.Load()
	if ref == nil {
		return
	}
	data, _ := json.Marshal(m)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := ref.bus.Publish(ctx, o.channel(), data); err != nil {
		o.logger.Warn("token service: telling the fleet failed; other instances learn it from storage within 30 s",
			zap.String("kind", m.Kind), zap.Error(err))
	}
}

// onMessage applies what another instance (or this one) published.
func (o *oauthIssuer) onMessage(data []byte) {
	var m fleetMsg
	if json.Unmarshal(data, &m) != nil {
		return
	}
	switch m.Kind {
	case "jti", "sid":
		if m.ID == "" || m.Until == 0 {
			return
		}
		until := time.Unix(m.Until, 0)
		o.mu.Lock()
		set := o.revokedSID
		if m.Kind == "jti" {
			set = o.revokedJTI
		}
		// a message only adds or lengthens a revocation, never shortens one
		if cur, ok := set[m.ID]; !ok || until.After(cur) {
			set[m.ID] = until
		}
		o.mu.Unlock()
	case "keys":
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		keys, err := loadKeys(ctx, o.storage, o.prefix)
		if err != nil || len(keys) == 0 {
			o.logger.Warn("token service: reading the key ring another instance changed failed", zap.Error(err))
			return
		}
		o.ring.set(keys)
	}
}

// rotate makes a new signing key current now and tells the fleet.
func (o *oauthIssuer) rotate() (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	keys, err := syncKeys(ctx, o.storage, o.prefix, o.alg, time.Nanosecond, o.accessTTL+time.Minute)
	if err != nil {
		return "", err
	}
	o.ring.set(keys)
	o.publish(fleetMsg{Kind: "keys"})
	o.logger.Info("token service: signing key rotated on request", zap.String("kid", keys[0].Kid))
	return keys[0].Kid, nil
}

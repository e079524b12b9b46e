// Package redisstore keeps a fleet's brute-force counts on Redis and
// carries its messages (module http.rest_auth.throttle_stores.redis), so
// that several Caddy instances behind a load balancer count a user's
// failures once, and see a revocation or a new signing key at once.
//
// Counting is atomic on the server (one Lua script per call: INCR, and
// PEXPIRE when a window starts), keys are HMACs of the counted names and
// addresses (Redis holds no user name or address in clear), and every call
// is bounded by a short timeout. A Redis that is down or slow is skipped
// for a second at a time: the instances count locally meanwhile.
package redisstore

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/tls"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/redis/go-redis/v9"
	"go.uber.org/zap"

	"github.com/restauth/caddy-restauth/caddyauth"
)

func init() {
	caddy.RegisterModule(RedisStore{})
}

// RedisStore is a throttle store and message bus on one Redis server.
type RedisStore struct {
	// Address is the server's host:port. Default 127.0.0.1:6379.
	Address string `json:"address,omitempty"`
	// Username and Password authenticate to Redis (ACL user, or the
	// requirepass password alone); placeholders such as
	// {env.REDIS_PASSWORD} are replaced when the config loads.
	Username string `json:"username,omitempty"`
	Password string `json:"password,omitempty"`
	// DB is the database number. Default 0.
	DB int `json:"db,omitempty"`
	// TLS connects with TLS, checking the server's certificate against
	// the system's roots.
	TLS bool `json:"tls,omitempty"`
	// KeyPrefix starts every key and channel name. Default "restauth:".
	KeyPrefix string `json:"key_prefix,omitempty"`
	// HashKey keys the HMAC that names the counters, so that Redis holds
	// no user name or client address, not even a guessable hash of one.
	// The same on every instance of a fleet; placeholders work. Default:
	// the key prefix (names are then hidden, though a guess can be
	// checked).
	HashKey string `json:"hash_key,omitempty"`
	// Timeout bounds each call. Default 50ms: a counter store that is
	// slow must not make logins slow.
	Timeout caddy.Duration `json:"timeout,omitempty"`

	conn    *conn
	poolKey string
	logger  *zap.Logger
}

// CaddyModule returns the Caddy module information.
func (RedisStore) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "http.rest_auth.throttle_stores.redis",
		New: func() caddy.Module { return new(RedisStore) },
	}
}

// conns are the Redis clients, shared across config reloads with the
// same settings.
var conns = caddy.NewUsagePool()

// conn is one Redis client and its state.
type conn struct {
	client    *redis.Client
	prefix    string
	hashKey   []byte
	timeout   time.Duration
	downUntil atomic.Int64 // unix ns: calls fail at once until then
}

func (c *conn) Destruct() error { return c.client.Close() }

// Provision connects (lazily: Redis need not be up when the config
// loads).
func (r *RedisStore) Provision(ctx caddy.Context) error {
	r.logger = ctx.Logger()
	repl := caddy.NewReplacer()
	r.Address = repl.ReplaceKnown(r.Address, "")
	r.Username = repl.ReplaceKnown(r.Username, "")
	r.Password = repl.ReplaceKnown(r.Password, "")
	r.HashKey = repl.ReplaceKnown(r.HashKey, "")
	if r.Address == "" {
		r.Address = "127.0.0.1:6379"
	}
	if r.KeyPrefix == "" {
		r.KeyPrefix = "restauth:"
	}
	if r.Timeout == 0 {
		r.Timeout = caddy.Duration(50 * time.Millisecond)
	}
	if err := r.Validate(); err != nil {
		return err
	}
	cfg, err := json.Marshal(r)
	if err != nil {
		return err
	}
	r.poolKey = string(cfg)
	v, _, err := conns.LoadOrNew(r.poolKey, func() (caddy.Destructor, error) {
		opts := &redis.Options{
			Addr: r.Address, Username: r.Username, Password: r.Password, DB: r.DB,
			DialTimeout: max(time.Duration(r.Timeout), time.Second), ReadTimeout: time.Duration(r.Timeout),
			WriteTimeout: time.Duration(r.Timeout), MaxRetries: -1, PoolSize: 16,
			ContextTimeoutEnabled: true,
		}
		if r.TLS {
			host, _, _ := net.SplitHostPort(r.Address)
			opts.TLSConfig = &tls.Config{MinVersion: tls.VersionTLS12, ServerName: host}
		}
		hk := r.HashKey
		if hk == "" {
			hk = r.KeyPrefix
		}
		return &conn{client: redis.NewClient(opts), prefix: r.KeyPrefix, hashKey: []byte(hk), timeout: time.Duration(r.Timeout)}, nil
	})
	if err != nil {
		return err
	}
	r.conn = v.(*conn)
	return caddyauth.RegisterCollectors(ctx.GetMetricsRegistry(), calls)
}

// Validate checks the settings.
func (r *RedisStore) Validate() error {
	if _, _, err := net.SplitHostPort(r.Address); err != nil {
		return fmt.Errorf("redis: address %q: write host:port, such as 127.0.0.1:6379", r.Address)
	}
	if r.DB < 0 || r.Timeout < 0 {
		return errors.New("redis: db and timeout must not be negative")
	}
	return nil
}

// Cleanup lets go of the shared client.
func (r *RedisStore) Cleanup() error {
	if r.poolKey != "" {
		_, _ = conns.Delete(r.poolKey)
	}
	return nil
}

// backoff is how long calls fail at once after one failed: a Redis that
// is down costs a login one timeout a second, not one per request.
const backoff = time.Second

// errSkipped is the error while a failed Redis is skipped.
var errSkipped = errors.New("redis: skipped for a second after a failure")

// call runs f with the timeout, unless Redis failed within the last
// second.
func (c *conn) call(ctx context.Context, f func(context.Context) error) error {
	if time.Now().UnixNano() < c.downUntil.Load() {
		calls.WithLabelValues("skipped").Inc()
		return errSkipped
	}
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	if err := f(ctx); err != nil {
		c.downUntil.Store(time.Now().Add(backoff).UnixNano())
		calls.WithLabelValues("error").Inc()
		return err
	}
	calls.WithLabelValues("ok").Inc()
	return nil
}

// key is a counter's Redis key: an HMAC of its window and key.
func (c *conn) key(k caddyauth.CountKey) string {
	m := hmac.New(sha256.New, c.hashKey)
	var w [8]byte
	binary.BigEndian.PutUint64(w[:], uint64(k.Window))
	m.Write(w[:])
	m.Write([]byte(k.Key))
	return c.prefix + "t:" + hex.EncodeToString(m.Sum(nil)[:20])
}

// addScript counts a failure on each key: INCR, PEXPIRE when the window
// starts (or when a key somehow has no expiry), and the count and time
// left of each. One round trip, atomic on the server.
var addScript = redis.NewScript(`
local out = {}
for i, k in ipairs(KEYS) do
	local n = redis.call('INCR', k)
	local ttl = redis.call('PTTL', k)
	if n == 1 or ttl < 0 then
		redis.call('PEXPIRE', k, ARGV[i])
		ttl = tonumber(ARGV[i])
	end
	out[#out + 1] = n
	out[#out + 1] = ttl
end
return out`)

// countScript reads each key's count and time left.
var countScript = redis.NewScript(`
local out = {}
for i, k in ipairs(KEYS) do
	out[#out + 1] = tonumber(redis.call('GET', k) or '0')
	out[#out + 1] = redis.call('PTTL', k)
end
return out`)

// Add counts one failure on each key.
func (r *RedisStore) Add(ctx context.Context, keys []caddyauth.CountKey) ([]caddyauth.Count, error) {
	return r.run(ctx, addScript, keys)
}

// Counts reads the keys' counts.
func (r *RedisStore) Counts(ctx context.Context, keys []caddyauth.CountKey) ([]caddyauth.Count, error) {
	return r.run(ctx, countScript, keys)
}

func (r *RedisStore) run(ctx context.Context, s *redis.Script, keys []caddyauth.CountKey) ([]caddyauth.Count, error) {
	c := r.conn
	names := make([]string, len(keys))
	args := make([]any, len(keys))
	for i, k := range keys {
		names[i] = c.key(k)
		args[i] = strconv.FormatInt(max(k.Window.Milliseconds(), 1), 10)
	}
	var out []caddyauth.Count
	err := c.call(ctx, func(ctx context.Context) error {
		vals, err := s.Run(ctx, c.client, names, args...).Int64Slice()
		if err != nil {
			return err
		}
		if len(vals) != 2*len(keys) {
			return fmt.Errorf("redis: the script answered %d values for %d keys", len(vals), len(keys))
		}
		out = make([]caddyauth.Count, len(keys))
		for i := range keys {
			out[i] = caddyauth.Count{N: vals[2*i], Left: max(time.Duration(vals[2*i+1])*time.Millisecond, 0)}
		}
		return nil
	})
	return out, err
}

// Publish sends a message on a channel of the fleet.
func (r *RedisStore) Publish(ctx context.Context, channel string, msg []byte) error {
	c := r.conn
	return c.call(ctx, func(ctx context.Context) error {
		return c.client.Publish(ctx, c.prefix+"c:"+channel, msg).Err()
	})
}

// Subscribe calls fn with the channel's messages until cancel; go-redis
// subscribes again after a lost connection.
func (r *RedisStore) Subscribe(channel string, fn func(msg []byte)) (cancel func()) {
	c := r.conn
	ctx, stop := context.WithCancel(context.Background())
	ps := c.client.Subscribe(ctx, c.prefix+"c:"+channel)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for m := range ps.Channel(redis.WithChannelHealthCheckInterval(5 * time.Second)) {
			fn([]byte(m.Payload))
		}
	}()
	return func() {
		stop()
		_ = ps.Close()
		<-done
	}
}

// UnmarshalCaddyfile reads
//
//	throttle_store redis {
//		address <host:port>
//		username <name>
//		password <password>
//		db <n>
//		tls
//		key_prefix <prefix>
//		hash_key <secret>
//		timeout <duration>
//	}
func (r *RedisStore) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	d.Next() // the store's name
	if d.NextArg() {
		return d.ArgErr()
	}
	for d.NextBlock(0) {
		var err error
		switch opt := d.Val(); opt {
		case "address":
			err = caddyauth.OneArg(d, &r.Address)
		case "username":
			err = caddyauth.OneArg(d, &r.Username)
		case "password":
			err = caddyauth.OneArg(d, &r.Password)
		case "db":
			var v string
			if err = caddyauth.OneArg(d, &v); err == nil {
				if r.DB, err = strconv.Atoi(v); err != nil || r.DB < 0 {
					return d.Errf("db: a database number, not %q", v)
				}
			}
		case "tls":
			if d.NextArg() {
				return d.ArgErr()
			}
			r.TLS = true
		case "key_prefix":
			err = caddyauth.OneArg(d, &r.KeyPrefix)
		case "hash_key":
			err = caddyauth.OneArg(d, &r.HashKey)
		case "timeout":
			err = caddyauth.DurationArg(d, &r.Timeout)
		default:
			return caddyauth.UnknownOption(d, "redis", []string{"address", "username", "password", "db", "tls", "key_prefix", "hash_key", "timeout"})
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// Interface guards
var (
	_ caddyauth.ThrottleStore = (*RedisStore)(nil)
	_ caddyauth.Broadcaster   = (*RedisStore)(nil)
	_ caddy.Provisioner       = (*RedisStore)(nil)
	_ caddy.Validator         = (*RedisStore)(nil)
	_ caddy.CleanerUpper      = (*RedisStore)(nil)
	_ caddyfile.Unmarshaler   = (*RedisStore)(nil)
)

package caddyauth

import (
	"errors"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics on Caddy's registry (the admin endpoint's /metrics). The
// collectors are made once per process and registered with each config's
// registry, so counts carry on across config reloads.
var metrics = struct {
	decisions     *prometheus.CounterVec
	authDuration  *prometheus.HistogramVec
	cache         *prometheus.CounterVec
	jwks          *prometheus.CounterVec
	introspection *prometheus.CounterVec
	reloads       *prometheus.CounterVec

	basicHit, basicMiss, bearerHit, bearerMiss prometheus.Counter
}{
	decisions: prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: "caddy", Subsystem: "rest_auth", Name: "decisions_total",
		Help: "Requests decided by rest_auth, by handler, outcome (granted, passed, denied), reason code and authentication method.",
	}, []string{"handler", "outcome", "reason", "auth_method"}),
	authDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Namespace: "caddy", Subsystem: "rest_auth", Name: "authentication_seconds",
		Help:    "Time spent authenticating a credential, by method.",
		Buckets: []float64{1e-6, 5e-6, 25e-6, 1e-4, 5e-4, 2.5e-3, 0.01, 0.05, 0.25, 1, 5},
	}, []string{"auth_method"}),
	cache: prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: "caddy", Subsystem: "rest_auth", Name: "cache_lookups_total",
		Help: "Look-ups in the verified-credential caches, by cache (basic, bearer) and result (hit, miss).",
	}, []string{"cache", "result"}),
	jwks: prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: "caddy", Subsystem: "rest_auth", Name: "jwks_fetches_total",
		Help: "JWK set fetches, by result (ok, error).",
	}, []string{"result"}),
	introspection: prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: "caddy", Subsystem: "rest_auth", Name: "introspection_calls_total",
		Help: "RFC 7662 introspection calls, by result (active, inactive, error, busy).",
	}, []string{"result"}),
	reloads: prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: "caddy", Subsystem: "rest_auth", Name: "policy_reloads_total",
		Help: "Reloads of users and resources files (admin API or watch), by result (ok, error).",
	}, []string{"result"}),
}

func init() {
	metrics.basicHit = metrics.cache.WithLabelValues("basic", "hit")
	metrics.basicMiss = metrics.cache.WithLabelValues("basic", "miss")
	metrics.bearerHit = metrics.cache.WithLabelValues("bearer", "hit")
	metrics.bearerMiss = metrics.cache.WithLabelValues("bearer", "miss")
}

// registerMetrics adds the collectors to a config's registry; a registry
// that has them already (several handlers in one config) is fine.
func registerMetrics(reg *prometheus.Registry) error {
	if reg == nil {
		return nil
	}
	for _, c := range []prometheus.Collector{metrics.decisions, metrics.authDuration, metrics.cache,
		metrics.jwks, metrics.introspection, metrics.reloads} {
		if err := reg.Register(c); err != nil {
			var are prometheus.AlreadyRegisteredError
			if !errors.As(err, &are) {
				return err
			}
		}
	}
	return nil
}

// handlerMetrics are a handler's pre-resolved counters for the common
// outcomes, so a granted request costs one atomic add.
type handlerMetrics struct {
	name    string
	granted map[string]prometheus.Counter // by auth method
	passed  prometheus.Counter
	authDur map[string]prometheus.Observer
}

func newHandlerMetrics(name string, authNames []string) *handlerMetrics {
	m := &handlerMetrics{name: name, granted: map[string]prometheus.Counter{}, authDur: map[string]prometheus.Observer{},
		passed: metrics.decisions.WithLabelValues(name, "passed", "", "")}
	for _, a := range authNames {
		m.granted[a] = metrics.decisions.WithLabelValues(name, "granted", "authz.granted", a)
		m.authDur[a] = metrics.authDuration.WithLabelValues(a)
	}
	return m
}

func (m *handlerMetrics) grant(auth string) {
	if c, ok := m.granted[auth]; ok {
		c.Inc()
		return
	}
	metrics.decisions.WithLabelValues(m.name, "granted", "authz.granted", auth).Inc()
}

func (m *handlerMetrics) deny(reason, auth string) {
	metrics.decisions.WithLabelValues(m.name, "denied", reason, auth).Inc()
}

func (m *handlerMetrics) observeAuth(auth string, since time.Time) {
	if o, ok := m.authDur[auth]; ok {
		o.Observe(time.Since(since).Seconds())
	}
}

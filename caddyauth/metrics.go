package caddyauth

import (
	"errors"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics on Caddy's registry (the admin endpoint's /metrics). The
// collectors are made once per process and registered with each config's
// registry, so counts carry on across config reloads. Guest modules count
// on the shared ones through CacheLookups and CountReload, and register
// their own with RegisterCollectors.
var metrics = struct {
	decisions    *prometheus.CounterVec
	authDuration *prometheus.HistogramVec
	cache        *prometheus.CounterVec
	reloads      *prometheus.CounterVec
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
	reloads: prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: "caddy", Subsystem: "rest_auth", Name: "policy_reloads_total",
		Help: "Reloads of users and resources files (admin API or watch), by result (ok, error).",
	}, []string{"result"}),
}

// CacheLookups is the counter of look-ups in a verified-credential cache
// (caddy_rest_auth_cache_lookups_total): cache is basic, bearer or a third
// party's, result hit or miss. Resolve it once, not per request.
func CacheLookups(cache, result string) prometheus.Counter {
	return metrics.cache.WithLabelValues(cache, result)
}

// CountReload counts a reload of files (caddy_rest_auth_policy_reloads_total).
func CountReload(ok bool) {
	result := "ok"
	if !ok {
		result = "error"
	}
	metrics.reloads.WithLabelValues(result).Inc()
}

// RegisterMetrics adds rest_auth's shared collectors to a config's
// registry; a module that counts on them calls it when it provisions.
func RegisterMetrics(reg *prometheus.Registry) error {
	return RegisterCollectors(reg, metrics.decisions, metrics.authDuration, metrics.cache, metrics.reloads)
}

// RegisterCollectors adds collectors (made once per process) to a config's
// registry; a registry that has them already (several modules in one
// config) is fine.
func RegisterCollectors(reg *prometheus.Registry, cs ...prometheus.Collector) error {
	if reg == nil {
		return nil
	}
	for _, c := range cs {
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
	denied  cowMap[denyKey, prometheus.Counter]
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

// deny counts a denial, on a counter resolved once per reason and method
// (a label look-up per denial would cost more than the denial).
func (m *handlerMetrics) deny(reason, auth string) {
	k := denyKey{reason, auth}
	if c, ok := m.denied.load(k); ok {
		c.Inc()
		return
	}
	c := metrics.decisions.WithLabelValues(m.name, "denied", reason, auth)
	m.denied.store(k, c)
	c.Inc()
}

type denyKey struct{ reason, auth string }

func (m *handlerMetrics) observeAuth(auth string, since time.Time) {
	if o, ok := m.authDur[auth]; ok {
		o.Observe(time.Since(since).Seconds())
	}
}

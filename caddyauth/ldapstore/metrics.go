package ldapstore

import (
	"github.com/go-ldap/ldap/v3"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/restauth/caddy-restauth/caddyauth"
)

// The store's metrics, made once per process.
var (
	requests = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: "caddy", Subsystem: "rest_auth", Name: "directory_requests_total",
		Help: "Requests to LDAP directories, by operation (dial, search, bind) and result (ok, invalid_credentials, error).",
	}, []string{"op", "result"})
	open = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Namespace: "caddy", Subsystem: "rest_auth", Name: "directory_connections",
		Help: "Open connections to LDAP directories, by pool (search, bind).",
	}, []string{"pool"})
	inUse = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Namespace: "caddy", Subsystem: "rest_auth", Name: "directory_connections_in_use",
		Help: "Connections to LDAP directories taken by a request now, by pool (search, bind).",
	}, []string{"pool"})

	cacheHit   = caddyauth.CacheLookups("ldap", "hit")
	cacheMiss  = caddyauth.CacheLookups("ldap", "miss")
	lookupHit  = caddyauth.CacheLookups("ldap_lookup", "hit")
	lookupMiss = caddyauth.CacheLookups("ldap_lookup", "miss")
)

func collectors() []prometheus.Collector {
	return []prometheus.Collector{requests, open, inUse}
}

// count counts one request to a directory.
func count(op string, err error) {
	result := "ok"
	switch {
	case err == nil:
	case ldap.IsErrorWithCode(err, ldap.LDAPResultInvalidCredentials):
		result = "invalid_credentials"
	default:
		result = "error"
	}
	requests.WithLabelValues(op, result).Inc()
}

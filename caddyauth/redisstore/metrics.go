package redisstore

import "github.com/prometheus/client_golang/prometheus"

// calls counts the calls to Redis by result: ok, error, or skipped (in
// the second after a failure).
var calls = prometheus.NewCounterVec(prometheus.CounterOpts{
	Namespace: "caddy", Subsystem: "rest_auth", Name: "redis_calls_total",
	Help: "Calls to Redis (throttle counts and fleet messages), by result (ok, error, skipped after a failure).",
}, []string{"result"})

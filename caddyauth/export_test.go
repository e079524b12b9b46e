package caddyauth

import (
	"github.com/prometheus/client_golang/prometheus/testutil"
	"go.uber.org/zap"
)

// For the external tests (package caddyauth_test), which load every
// module and so cannot be inside the package.
var (
	RunCheck = runCheck
	RunLint  = runLint
)

// SetLogger replaces a provisioned handler's logger, its denial log's
// too (benchmarks log nothing; tests observe).
func SetLogger(h *Handler, l *zap.Logger) {
	h.logger = l
	if h.denials != nil {
		h.denials.logger = l
	}
}

// Denied is the count of a handler's denials of a reason (the metric).
func Denied(h *Handler, reason, auth string) float64 {
	return testutil.ToFloat64(metrics.decisions.WithLabelValues(h.Name, "denied", reason, auth))
}

// FinishPrincipal is newPrincipal: a principal ready to be shared.
func FinishPrincipal(p *Principal) *Principal { return newPrincipal(p) }

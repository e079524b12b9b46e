package caddyauth

import "go.uber.org/zap"

// For the external tests (package caddyauth_test), which load every
// module and so cannot be inside the package.
var (
	RunCheck = runCheck
	RunLint  = runLint
)

// SetLogger replaces a provisioned handler's logger (benchmarks log
// nothing).
func SetLogger(h *Handler, l *zap.Logger) { h.logger = l }

// FinishPrincipal is newPrincipal: a principal ready to be shared.
func FinishPrincipal(p *Principal) *Principal { return newPrincipal(p) }

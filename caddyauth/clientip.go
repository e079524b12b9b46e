package caddyauth

import (
	"net/http"

	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
)

// ClientIP is Caddy's idea of the client address: the peer, or the address
// a trusted proxy names (trusted_proxies). Never a raw X-Forwarded-For. Use
// it for logs and throttles.
func ClientIP(r *http.Request) string {
	if ip, ok := caddyhttp.GetVar(r.Context(), caddyhttp.ClientIPVarKey).(string); ok {
		return ip
	}
	return r.RemoteAddr
}

// clientIP is ClientIP inside the package.
func clientIP(r *http.Request) string { return ClientIP(r) }

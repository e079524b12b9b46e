package caddyauth

import (
	"net/http"
	"testing"
)

// TestStripIdentityHeaders: every spelling of an identity or
// method-override field goes, and nothing else does.
func TestStripIdentityHeaders(t *testing.T) {
	gone := []string{
		"X-Restauth-User", "X-Restauth-A", "x-restauth-roles", "X_Restauth_Scopes", "X-RESTAUTH-AUTH-METHOD",
		"x_restauth-x", "X-Http-Method-Override", "X-HTTP-Method", "x_http_method", "X-Method-Override", "x-method_override",
	}
	kept := []string{
		"Authorization", "User-Agent", "X-Restauth", "X-Restauth_", "X-Forwarded-For", "X-Request-Id",
		"X-Http-Method-Overrides", "X-Methods-Override", "Xrestauth-User", "Accept",
	}
	hdr := http.Header{}
	for _, n := range append(append([]string{}, gone...), kept...) {
		hdr[n] = []string{"v"}
	}
	stripIdentityHeaders(hdr)
	for _, n := range gone {
		if _, ok := hdr[n]; ok {
			t.Errorf("%s was kept", n)
		}
	}
	for _, n := range kept {
		if _, ok := hdr[n]; !ok {
			t.Errorf("%s was stripped", n)
		}
	}
}

package caddyauth_test

import (
	"fmt"
	"net/http"
	"testing"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/restauth/caddy-restauth/caddyauth"
)

// TestDenialSampling: a burst of 10,000 denials of one reason writes at
// most the sampled lines plus summaries, and the lines and the summaries'
// counts add up to 10,000; all writes every one, off none; the metrics
// count every denial in every mode.
func TestDenialSampling(t *testing.T) {
	const burst = 10000
	for _, c := range []struct {
		mode     string
		maxLines int
	}{
		// per second: the first 10, then 1 in 1,000; a burst spans a few seconds at most
		{`"log_denials":"sampled","log_denials_first":10,"log_denials_thereafter":1000`, 3 * (10 + burst/1000)},
		{`"log_denials":"all"`, burst},
		{`"log_denials":"off"`, 0},
	} {
		t.Run(c.mode, func(t *testing.T) {
			name := fmt.Sprintf("sampling-%d", len(c.mode))
			h := benchHandlerWith(t, name, c.mode, `{"handler":"basic","throttle_failures":-1}`)
			core, logs := observer.New(zap.InfoLevel)
			caddyauth.SetLogger(h, zap.New(core))
			before := caddyauth.Denied(h, "cred.missing", "")
			r := benchRequest("/api/identity/user/v1.0/me", "")
			for i := 0; i < burst; i++ {
				w := discardWriter{h: http.Header{}}
				if err := h.ServeHTTP(&w, freshContext(r), nopNext{}); err != nil || w.status != 401 {
					t.Fatalf("request %d: %d %v", i, w.status, err)
				}
			}
			if err := h.Cleanup(); err != nil { // writes the last summary
				t.Fatal(err)
			}
			lines := logs.FilterMessage("request denied").Len()
			var suppressed int64
			for _, e := range logs.FilterMessage("denials suppressed").All() {
				if e.ContextMap()["reason"] != "cred.missing" {
					t.Errorf("a summary for %v", e.ContextMap()["reason"])
				}
				suppressed += e.ContextMap()["suppressed"].(int64)
			}
			if lines > c.maxLines {
				t.Errorf("%d lines written, want at most %d", lines, c.maxLines)
			}
			if c.maxLines == burst && lines != burst {
				t.Errorf("log_denials all wrote %d lines", lines)
			}
			if c.maxLines > 0 && int64(lines)+suppressed != burst {
				t.Errorf("%d lines and %d suppressed: %d, want %d", lines, suppressed, int64(lines)+suppressed, burst)
			}
			if c.maxLines == 0 && (lines != 0 || suppressed != 0) {
				t.Errorf("log_denials off: %d lines, %d summarized", lines, suppressed)
			}
			if n := caddyauth.Denied(h, "cred.missing", "") - before; n != burst {
				t.Errorf("the metric counted %v denials, want %d", n, burst)
			}
		})
	}
}

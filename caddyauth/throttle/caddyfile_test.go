package throttle

import (
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
)

// TestParseLimit: the forms of a limit option and their mistakes.
func TestParseLimit(t *testing.T) {
	cases := []struct {
		in      string
		n       int
		w       time.Duration
		wantErr string
	}{
		{"limit 10 1m", 10, time.Minute, ""},
		{"limit 7", 7, 0, ""},
		{"limit off", -1, 0, ""},
		{"limit", 0, 0, "write limit <failures> [<window>]"},
		{"limit 10 1 minute", 0, 0, "write limit <failures> [<window>]"},
		{"limit 0 1m", 0, 0, "positive number"},
		{"limit ten", 0, 0, "positive number"},
		{"limit 5 0s", 0, 0, "more than 0s"},
		{"limit 5 soon", 0, 0, "soon"},
	}
	for _, c := range cases {
		d := caddyfile.NewTestDispenser(c.in)
		d.Next()
		n, w, err := ParseLimit(d, "limit", "10 1m")
		if c.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), c.wantErr) {
				t.Errorf("%q: %v, want an error with %q", c.in, err, c.wantErr)
			}
			continue
		}
		if err != nil || n != c.n || w != c.w {
			t.Errorf("%q: %d %v %v, want %d %v", c.in, n, w, err, c.n, c.w)
		}
	}
}

package redisstore_test

import (
	"os"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2/caddyconfig"
	_ "github.com/caddyserver/caddy/v2/modules/standard"

	_ "github.com/restauth/caddy-restauth"
)

// TestReadmeFleetExamples: the Caddyfiles of the README's "Running a
// fleet" adapt, and say what the section says they do.
func TestReadmeFleetExamples(t *testing.T) {
	data, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, section, ok := strings.Cut(string(data), "\n## Running a fleet\n")
	if !ok {
		t.Fatal("README has no section \"Running a fleet\"")
	}
	section, _, _ = strings.Cut(section, "\n## ")
	var blocks []string
	for rest := section; ; {
		_, after, ok := strings.Cut(rest, "```caddyfile\n")
		if !ok {
			break
		}
		block, after, _ := strings.Cut(after, "```")
		blocks, rest = append(blocks, block), after
	}
	if len(blocks) != 2 {
		t.Fatalf("%d Caddyfile blocks in the section, want 2 (an instance and the balancer)", len(blocks))
	}
	wants := [][]string{
		{`"storage":{"module":"file_system","root":"/mnt/shared/caddy"}`, `"throttle_store":{"address":"redis.internal:6379"`,
			`"hash_key":"{env.RESTAUTH_HASH_KEY}"`, `"password":"{env.REDIS_PASSWORD}"`, `"store":"redis"`, `"handler":"oauth2_server"`, `"handler":"rest_auth"`},
		{`"policy":"round_robin"`, `"try_duration":5000000000`, `"uri":"/healthz"`},
	}
	for i, b := range blocks {
		out, _, err := caddyconfig.GetAdapter("caddyfile").Adapt([]byte(b), nil)
		if err != nil {
			t.Fatalf("block %d: %v\n%s", i+1, err, b)
		}
		for _, w := range wants[i] {
			if n := strings.Count(string(out), w); n == 0 || (w == `"store":"redis"` && n != 2) {
				t.Errorf("block %d: %q found %d times in\n%s", i+1, w, n, out)
			}
		}
	}
}

package oauth2server_test

import (
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2/caddyconfig"
	_ "github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	_ "github.com/caddyserver/caddy/v2/modules/standard"
)

// TestAdaptTokenService: oauth2_server adapts to its JSON and is ordered
// before rest_auth without an order line.
func TestAdaptTokenService(t *testing.T) {
	out, _, err := caddyconfig.GetAdapter("caddyfile").Adapt([]byte(`:8080 {
	rest_auth {
		bearer
	}
	oauth2_server {
		issuer https://id.example
		users u.toml
		base_path /auth/
		audience api
		access_ttl 10m
		refresh_ttl 1h
		key_rotation 24h
		algorithm EdDSA
		throttle 5
	}
}`), nil)
	if err != nil {
		t.Fatal(err)
	}
	s := string(out)
	want := `{"access_ttl":600000000000,"algorithm":"EdDSA","audience":["api"],"base_path":"/auth/","handler":"oauth2_server","issuer":"https://id.example","key_rotation":86400000000000,"refresh_ttl":3600000000000,"throttle_failures":5,"users":["u.toml"]}`
	if !strings.Contains(s, want) {
		t.Errorf("JSON %s\nlacks %s", s, want)
	}
	if i, j := strings.Index(s, `"handler":"oauth2_server"`), strings.Index(s, `"handler":"rest_auth"`); i < 0 || j < 0 || i > j {
		t.Errorf("oauth2_server must come before rest_auth: %s", s)
	}
}

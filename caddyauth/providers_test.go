package caddyauth_test

import (
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2/caddytest"
	"github.com/golang-jwt/jwt/v5"
	"github.com/restauth/caddy-restauth/internal/testkit"
)

// TestStockProviders: the built-in authenticators, used as providers of
// Caddy's own authentication handler, pass and refuse the same requests as
// inside rest_auth (on a rule any signed-in user may use).
func TestStockProviders(t *testing.T) {
	dir := t.TempDir()
	users := testkit.WriteFile(t, dir, "users.toml", testkit.UsersTOML())
	up := testkit.NewUpstream(t)
	const hmacSecret = "0123456789abcdef0123456789abcdef-test"
	bearerCfg := fmt.Sprintf(`"jwt": [{"secret": %q, "algorithms": ["HS256"], "audiences": ["api"]}]`, hmacSecret)
	cfg := fmt.Sprintf(`{
	"admin": {"listen": "localhost:2999"},
	"apps": {"http": {"grace_period": 1, "servers": {
		"restauth": {"listen": ["127.0.0.1:9080"], "routes": [{"handle": [
			{"handler": "rest_auth", "users": [%[1]q], "rules": [{"path": "/*"}],
			 "authenticators": [{"handler": "bearer", %[2]s}, {"handler": "basic", "throttle_failures": -1}]},
			{"handler": "reverse_proxy", "upstreams": [{"dial": %[3]q}]}]}]},
		"stock": {"listen": ["127.0.0.1:9081"], "routes": [{"handle": [
			{"handler": "authentication", "providers": {
				"rest_bearer": {"users": [%[1]q], %[2]s},
				"rest_basic": {"users": [%[1]q], "throttle_failures": -1}}},
			{"handler": "reverse_proxy", "upstreams": [{"dial": %[3]q}],
			 "headers": {"request": {"set": {"X-User": ["{http.auth.user.id}"], "X-Roles": ["{http.auth.user.roles}"]}}}}]}]}
	}}}
}`, users, bearerCfg, up.Addr())
	tester := caddytest.NewTester(t)
	tester.InitServer(cfg, "json")
	h := &testkit.Harness{T: t, Up: up}

	key := []byte(hmacSecret)
	tok := func(sub string, extra ...any) string {
		now := time.Now()
		c := jwt.MapClaims{"aud": "api", "sub": sub, "iat": now.Unix(), "exp": now.Add(time.Hour).Unix()}
		for i := 0; i+1 < len(extra); i += 2 {
			c[extra[i].(string)] = extra[i+1]
		}
		s, err := jwt.NewWithClaims(jwt.SigningMethodHS256, c).SignedString(key)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	A := "Authorization"
	cases := []struct {
		name   string
		header []string
		ok     bool
	}{
		{"good Basic", []string{A, testkit.Basic("alice", "alice-pw")}, true},
		{"wrong password", []string{A, testkit.Basic("alice", "nope")}, false},
		{"unknown user", []string{A, testkit.Basic("ghost", "alice-pw")}, false},
		{"malformed Basic", []string{A, "Basic !!"}, false},
		{"good token", []string{A, testkit.Bearer(tok("alice"))}, true},
		{"token for a user the store lacks", []string{A, testkit.Bearer(tok("carol"))}, true},
		{"expired token", []string{A, testkit.Bearer(tok("alice", "exp", int64(1000)))}, false},
		{"token with a wrong signature", []string{A, testkit.Bearer(tok("alice") + "x")}, false},
		{"nothing", nil, false},
	}
	for _, c := range cases {
		for _, port := range []int{9080, 9081} {
			before := up.Hits.Load()
			req, _ := http.NewRequest("GET", fmt.Sprintf("http://127.0.0.1:%d/any", port), nil)
			for i := 0; i+1 < len(c.header); i += 2 {
				req.Header.Set(c.header[i], c.header[i+1])
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			reached := up.Hits.Load() != before
			if (resp.StatusCode == 200) != c.ok || reached != c.ok {
				t.Errorf("%s on :%d: status %d, upstream reached %v", c.name, port, resp.StatusCode, reached)
			}
			if !c.ok && (resp.StatusCode != 401 || resp.Header.Get("WWW-Authenticate") == "") {
				t.Errorf("%s on :%d: %d with challenge %q", c.name, port, resp.StatusCode, resp.Header.Get("WWW-Authenticate"))
			}
		}
	}
	h.Expect("rest_auth: good Basic", 200, true, h.Status("GET", "/x", A, testkit.Basic("alice", "alice-pw")))
	req, _ := http.NewRequest("GET", "http://127.0.0.1:9081/x", nil)
	req.Header.Set(A, testkit.Basic("alice", "alice-pw"))
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != 200 {
		t.Fatalf("stock provider: %v %v", resp, err)
	}
	last, _ := up.Last()
	gotUser, gotRoles := last.Get("X-User"), last.Get("X-Roles")
	if gotUser != "alice" || gotRoles != "usermgt" {
		t.Errorf("stock provider placeholders: user %q roles %q", gotUser, gotRoles)
	}
}

package caddyauth_test

import (
	"fmt"
	"net/http"
	"testing"

	"github.com/caddyserver/caddy/v2/caddytest"
	"github.com/golang-jwt/jwt/v5"
)

// TestStockProviders: the built-in authenticators, used as providers of
// Caddy's own authentication handler, pass and refuse the same requests as
// inside rest_auth (on a rule any signed-in user may use).
func TestStockProviders(t *testing.T) {
	dir := t.TempDir()
	users := writeFile(t, dir, "users.toml", usersTOML())
	up := newUpstream(t)
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
}`, users, bearerCfg, up.addr())
	tester := caddytest.NewTester(t)
	tester.InitServer(cfg, "json")
	h := &harness{t: t, up: up}

	key := []byte(hmacSecret)
	tok := func(sub string, extra ...any) string {
		return mint(t, jwt.SigningMethodHS256, key, "", claims(sub, extra...))
	}
	A := "Authorization"
	cases := []struct {
		name   string
		header []string
		ok     bool
	}{
		{"good Basic", []string{A, basic("alice", "alice-pw")}, true},
		{"wrong password", []string{A, basic("alice", "nope")}, false},
		{"unknown user", []string{A, basic("ghost", "alice-pw")}, false},
		{"malformed Basic", []string{A, "Basic !!"}, false},
		{"good token", []string{A, bearer(tok("alice"))}, true},
		{"token for a user the store lacks", []string{A, bearer(tok("carol"))}, true},
		{"expired token", []string{A, bearer(tok("alice", "exp", int64(1000)))}, false},
		{"token with a wrong signature", []string{A, bearer(tok("alice") + "x")}, false},
		{"nothing", nil, false},
	}
	for _, c := range cases {
		for _, port := range []int{9080, 9081} {
			before := up.hits.Load()
			req, _ := http.NewRequest("GET", fmt.Sprintf("http://127.0.0.1:%d/any", port), nil)
			for i := 0; i+1 < len(c.header); i += 2 {
				req.Header.Set(c.header[i], c.header[i+1])
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			reached := up.hits.Load() != before
			if (resp.StatusCode == 200) != c.ok || reached != c.ok {
				t.Errorf("%s on :%d: status %d, upstream reached %v", c.name, port, resp.StatusCode, reached)
			}
			if !c.ok && (resp.StatusCode != 401 || resp.Header.Get("WWW-Authenticate") == "") {
				t.Errorf("%s on :%d: %d with challenge %q", c.name, port, resp.StatusCode, resp.Header.Get("WWW-Authenticate"))
			}
		}
	}
	h.expect("rest_auth: good Basic", 200, true, h.status("GET", "/x", A, basic("alice", "alice-pw")))
	req, _ := http.NewRequest("GET", "http://127.0.0.1:9081/x", nil)
	req.Header.Set(A, basic("alice", "alice-pw"))
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != 200 {
		t.Fatalf("stock provider: %v %v", resp, err)
	}
	up.mu.Lock()
	gotUser, gotRoles := up.last.Get("X-User"), up.last.Get("X-Roles")
	up.mu.Unlock()
	if gotUser != "alice" || gotRoles != "usermgt" {
		t.Errorf("stock provider placeholders: user %q roles %q", gotUser, gotRoles)
	}
}

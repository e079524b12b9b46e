package oauth2server_test

import (
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2/caddytest"
	"github.com/restauth/caddy-restauth/internal/testkit"
	"golang.org/x/crypto/bcrypt"
)

// TestReview2RefreshRechecks: every refresh checks the user, the client
// and the scopes again, and a family ends refresh_ttl after its first
// grant however often it is rotated.
func TestReview2RefreshRechecks(t *testing.T) {
	cfg, users, up := testkit.TokenServiceConfig(t, "http://127.0.0.1:9080")
	cfg = strings.Replace(cfg, "\t\tusers "+users+"\n\t}", "\t\tusers "+users+"\n\t\trefresh_ttl 3s\n\t}", 1)
	caddytest.NewTester(t).InitServer(cfg, "caddyfile")
	h := &testkit.Harness{T: t, Up: up}
	app := func(kv ...string) (int, testkit.TokenResp, string) {
		code, _, tr, body := testkit.OAuthPost(t, "token", testkit.Form(kv...), "app", "app secret/+&")
		return code, tr, body
	}
	original, _ := os.ReadFile(users)
	edit := func(from, to string) {
		t.Helper()
		data, _ := os.ReadFile(users)
		if !strings.Contains(string(data), from) {
			t.Fatalf("test setup: %q not in the users file", from)
		}
		if err := os.WriteFile(users, []byte(strings.Replace(string(data), from, to, 1)), 0o600); err != nil {
			t.Fatal(err)
		}
		testkit.ForceReload(t, cfg)
	}
	restore := func() {
		if err := os.WriteFile(users, original, 0o600); err != nil {
			t.Fatal(err)
		}
		testkit.ForceReload(t, cfg)
	}

	// a role taken away: the next refresh no longer carries its scope
	code, tr, body := app("grant_type", "password", "username", "alice", "password", "alice-pw")
	if code != 200 || tr.Scope != "internal_user_mgt_list" {
		t.Fatalf("password grant: %d %s", code, body)
	}
	edit(`username = "alice"`+"\npassword = "+fmt.Sprintf("%q", testkit.Hashes()["alice-pw"])+"\nroles = [\"usermgt\"]",
		`username = "alice"`+"\npassword = "+fmt.Sprintf("%q", testkit.Hashes()["alice-pw"])+"\nroles = [\"login\"]")
	code, tr, body = app("grant_type", "refresh_token", "refresh_token", tr.RefreshToken)
	if code != 200 || tr.Scope != "" {
		t.Fatalf("refresh after the role went: %d %s (want 200 with no scope)", code, body)
	}
	h.Expect("the refreshed token lacks the scope", 403, false, h.Status("GET", "/scoped", "Authorization", testkit.Bearer(tr.AccessToken)))
	restore()

	// a changed password ends the family
	code, tr, _ = app("grant_type", "password", "username", "alice", "password", "alice-pw")
	edit(fmt.Sprintf("%q", testkit.Hashes()["alice-pw"]), fmt.Sprintf("%q", testkit.Hashes()["bob-pw"]))
	if code, _, body := app("grant_type", "refresh_token", "refresh_token", tr.RefreshToken); code != 400 || !strings.Contains(body, "invalid_grant") {
		t.Errorf("refresh after a password change: %d %s", code, body)
	}
	restore()

	// a removed user's family ends
	code, tr, _ = app("grant_type", "password", "username", "bob", "password", "bob-pw")
	if code != 200 {
		t.Fatal("bob's password grant")
	}
	edit(`username = "bob"`, `username = "robert"`)
	if code, _, body := app("grant_type", "refresh_token", "refresh_token", tr.RefreshToken); code != 400 {
		t.Errorf("refresh of a removed user: %d %s", code, body)
	}
	restore()

	// the client may no longer use the password grant
	code, tr, _ = app("grant_type", "password", "username", "alice", "password", "alice-pw")
	edit(`grant_types = ["password", "refresh_token"]`, `grant_types = ["refresh_token"]`)
	if code, _, body := app("grant_type", "refresh_token", "refresh_token", tr.RefreshToken); code != 400 {
		t.Errorf("refresh after the client lost the grant: %d %s", code, body)
	}
	restore()

	// absolute lifetime: rotations do not extend the family past 3 s
	code, tr, _ = app("grant_type", "password", "username", "alice", "password", "alice-pw")
	start := time.Now()
	for i := 0; i < 2; i++ {
		time.Sleep(1200 * time.Millisecond)
		code, tr, body = app("grant_type", "refresh_token", "refresh_token", tr.RefreshToken)
		if time.Since(start) < 3*time.Second && code != 200 {
			t.Fatalf("refresh %d within the family's life: %d %s", i, code, body)
		}
	}
	time.Sleep(time.Until(start.Add(3200 * time.Millisecond)))
	if code, _, body := app("grant_type", "refresh_token", "refresh_token", tr.RefreshToken); code != 400 {
		t.Errorf("refresh 3.2 s after the first grant, 1 s after the last rotation: %d %s", code, body)
	}
}

// TestReview4BuiltinAudience: bearer checks the aud of the built-in token
// service's tokens: by default the service's own audience, or the ones
// bearer names.
func TestReview4BuiltinAudience(t *testing.T) {
	cfg, users, up := testkit.TokenServiceConfig(t, "http://127.0.0.1:9080")
	cfg = strings.Replace(cfg, "\t\tusers "+users+"\n\t}", "\t\tusers "+users+"\n\t\taudience https://reports.test\n\t}", 1)
	caddytest.NewTester(t).InitServer(cfg, "caddyfile")
	h := &testkit.Harness{T: t, Up: up}
	_, _, tr, _ := testkit.OAuthPost(t, "token", testkit.Form("grant_type", "client_credentials"), "svc", "svc-secret")
	h.Expect("default: the service's own audience", 200, true, h.Status("GET", "/scoped", "Authorization", testkit.Bearer(tr.AccessToken)))
	other := strings.Replace(cfg, "\t\tbearer\n", "\t\tbearer {\n\t\t\tbuiltin\n\t\t\taudience https://api.test\n\t\t}\n", 1)
	if other == cfg {
		t.Fatal("test setup: bearer not found")
	}
	caddytest.NewTester(t).InitServer(other, "caddyfile")
	h.Expect("a token for another audience", 401, false, h.Status("GET", "/scoped", "Authorization", testkit.Bearer(tr.AccessToken)))
}

// TestReview5ClientNotUser: a client's own token never takes the store
// roles of a user with the client's name; it holds the client's roles.
// A client id equal to a user name in one set of files is a load error.
func TestReview5ClientNotUser(t *testing.T) {
	dir := t.TempDir()
	h := testkit.Hashes()
	clientSecret, _ := bcrypt.GenerateFromPassword([]byte("reporting-secret"), 4)
	// the token service's file: the client
	svcUsers := testkit.WriteFile(t, dir, "svc.toml", fmt.Sprintf(`
[[clients]]
client_id = "reporting"
secret = %q
grant_types = ["client_credentials"]
scopes = ["reports"]

[[clients]]
client_id = "auditor"
secret = %[1]q
grant_types = ["client_credentials"]
`, clientSecret))
	// the API's file: a user named like the client, with every permission,
	// and roles for the auditor client
	apiUsers := testkit.WriteFile(t, dir, "api.toml", fmt.Sprintf(`
[[roles]]
name = "admin"
permissions = ["/permission"]

[[roles]]
name = "usermgt"
permissions = ["/permission/admin/manage/identity/usermgt/list"]

[[users]]
username = "reporting"
password = %q
roles = ["admin"]

[[clients]]
client_id = "auditor"
secret = %q
grant_types = ["client_credentials"]
roles = ["usermgt"]
`, h["admin-pw"], clientSecret))
	res := testkit.WriteFile(t, dir, "deployment.toml", testkit.ResourcesTOML)
	up := testkit.NewUpstream(t)
	caddytest.NewTester(t).InitServer(fmt.Sprintf(`{
	skip_install_trust
	admin localhost:2999
	http_port 9080
	grace_period 1ns
}
http://127.0.0.1:9080 {
	oauth2_server {
		issuer http://127.0.0.1:9080
		users %s
	}
	rest_auth {
		users %s
		resources %s
		bearer
	}
	reverse_proxy %s
}
`, svcUsers, apiUsers, res, up.Addr()), "caddyfile")
	hs := &testkit.Harness{T: t, Up: up}
	_, _, tr, _ := testkit.OAuthPost(t, "token", testkit.Form("grant_type", "client_credentials"), "reporting", "reporting-secret")
	hs.Expect("client reporting's token on a permission rule: not the user's roles", 403, false,
		hs.Status("GET", "/scim2/Users", "Authorization", testkit.Bearer(tr.AccessToken)))
	_, _, tr, _ = testkit.OAuthPost(t, "token", testkit.Form("grant_type", "client_credentials"), "auditor", "reporting-secret")
	hs.Expect("client auditor's token: the client's own roles", 200, true,
		hs.Status("GET", "/scim2/Users", "Authorization", testkit.Bearer(tr.AccessToken)))

	// in one set of files, a client id that is a user name is refused
	both := testkit.WriteFile(t, dir, "both.toml", fmt.Sprintf(`
[[users]]
username = "reporting"
password = %q

[[clients]]
client_id = "reporting"
secret = %[1]q
grant_types = ["client_credentials"]
`, h["admin-pw"]))
	err := testkit.ValidateRestAuth(t, "users "+both)
	if err == nil || !strings.Contains(err.Error(), `client id "reporting" is also the name of the user`) {
		t.Errorf("client id equal to a user name: %v", err)
	}
}

// TestReview6SharedLimits: the token service counts failures as Basic
// does, per (name, address), per address and per name, on the same
// counters for a user, and its 429 carries Retry-After.
func TestReview6SharedLimits(t *testing.T) {
	cfg, users, up := testkit.TokenServiceConfig(t, "http://127.0.0.1:9080")
	// a window no other test uses: counters live as long as the process
	cfg = strings.Replace(cfg, "\t\tusers "+users+"\n\t}", "\t\tusers "+users+"\n\t\tthrottle 3 67s\n\t\tthrottle_address 6\n\t}", 1)
	cfg = strings.Replace(cfg, "\t\tbasic {\n\t\t\tthrottle off\n\t\t}", "\t\tbasic {\n\t\t\tthrottle 3 67s\n\t\t\tthrottle_address 6\n\t\t}", 1)
	caddytest.NewTester(t).InitServer(cfg, "caddyfile")
	h := &testkit.Harness{T: t, Up: up}
	for i := 0; i < 3; i++ {
		code, _, _, _ := testkit.OAuthPost(t, "token", testkit.Form("grant_type", "password", "username", "bob", "password", "wrong"), "app", "app secret/+&")
		if code != 400 {
			t.Fatalf("wrong password %d: %d", i, code)
		}
	}
	h.Expect("Basic for bob after 3 password-grant failures", 429, false, h.Status("GET", "/login-only", "Authorization", testkit.Basic("bob", "bob-pw")))
	code, hdr, tr, _ := testkit.OAuthPost(t, "token", testkit.Form("grant_type", "password", "username", "bob", "password", "bob-pw"), "app", "app secret/+&")
	if code != 429 || tr.Error != "invalid_grant" || hdr.Get("Retry-After") == "" {
		t.Errorf("password grant for bob: %d %q Retry-After %q", code, tr.Error, hdr.Get("Retry-After"))
	}
	// spraying: one address, many names, through both paths
	for i := 0; i < 3; i++ {
		testkit.OAuthPost(t, "token", testkit.Form("grant_type", "password", "username", fmt.Sprint("nobody", i), "password", "x"), "app", "app secret/+&")
	}
	code, hdr, tr, _ = testkit.OAuthPost(t, "token", testkit.Form("grant_type", "password", "username", "admin", "password", "admin-pw"), "app", "app secret/+&")
	if code != 429 || hdr.Get("Retry-After") == "" {
		t.Errorf("after 6 failures from one address: %d %q", code, tr.Error)
	}
	h.Expect("Basic from the same address", 429, false, h.Status("GET", "/login-only", "Authorization", testkit.Basic("admin", "admin-pw")))
}

// TestReview11Revocation: RFC 7009 answers: another client's token is
// refused with unauthorized_client, an unknown one is 200, and revoking
// an access token ends its refresh family.
func TestReview11Revocation(t *testing.T) {
	cfg, _, up := testkit.TokenServiceConfig(t, "http://127.0.0.1:9080")
	caddytest.NewTester(t).InitServer(cfg, "caddyfile")
	h := &testkit.Harness{T: t, Up: up}
	// (client other is throttled by TestTokenService's failures for a minute)
	_, _, svc, _ := testkit.OAuthPost(t, "token", testkit.Form("grant_type", "client_credentials"), "svc", "svc-secret")
	code, _, tr, body := testkit.OAuthPost(t, "revoke", testkit.Form("token", svc.AccessToken), "app", "app secret/+&")
	if code != 400 || tr.Error != "unauthorized_client" {
		t.Errorf("another client's access token: %d %s", code, body)
	}
	h.Expect("it still works", 200, true, h.Status("GET", "/scoped", "Authorization", testkit.Bearer(svc.AccessToken)))
	_, _, user, _ := testkit.OAuthPost(t, "token", testkit.Form("grant_type", "password", "username", "alice", "password", "alice-pw"), "app", "app secret/+&")
	if code, _, tr, body := testkit.OAuthPost(t, "revoke", testkit.Form("token", user.RefreshToken), "svc", "svc-secret"); code != 400 || tr.Error != "unauthorized_client" {
		t.Errorf("another client's refresh token: %d %s", code, body)
	}
	if code, _, _, body := testkit.OAuthPost(t, "revoke", testkit.Form("token", "no-such-token"), "svc", "svc-secret"); code != 200 {
		t.Errorf("an unknown token: %d %s", code, body)
	}
	if code, _, _, body := testkit.OAuthPost(t, "revoke", testkit.Form("token", user.AccessToken), "app", "app secret/+&"); code != 200 {
		t.Fatalf("revoke the access token: %d %s", code, body)
	}
	if code, _, _, body := testkit.OAuthPost(t, "token", testkit.Form("grant_type", "refresh_token", "refresh_token", user.RefreshToken), "app", "app secret/+&"); code != 400 {
		t.Errorf("its family's refresh token after the access token was revoked: %d %s", code, body)
	}
}

// TestReview12IntrospectionTokenType: token_type is the token's type,
// Bearer, not the hint's vocabulary; username only for a user's token.
func TestReview12IntrospectionTokenType(t *testing.T) {
	cfg, _, _ := testkit.TokenServiceConfig(t, "http://127.0.0.1:9080")
	caddytest.NewTester(t).InitServer(cfg, "caddyfile")
	_, _, user, _ := testkit.OAuthPost(t, "token", testkit.Form("grant_type", "password", "username", "alice", "password", "alice-pw"), "app", "app secret/+&")
	_, _, _, body := testkit.OAuthPost(t, "introspect", testkit.Form("token", user.AccessToken), "app", "app secret/+&")
	var ans map[string]any
	json.Unmarshal([]byte(body), &ans)
	if ans["token_type"] != "Bearer" || ans["username"] != "alice" {
		t.Errorf("introspect a user's access token: %s", body)
	}
	_, _, svc, _ := testkit.OAuthPost(t, "token", testkit.Form("grant_type", "client_credentials"), "svc", "svc-secret")
	_, _, _, body = testkit.OAuthPost(t, "introspect", testkit.Form("token", svc.AccessToken), "svc", "svc-secret")
	ans = nil
	json.Unmarshal([]byte(body), &ans)
	if ans["token_type"] != "Bearer" || ans["username"] != nil || ans["sub"] != "svc" {
		t.Errorf("introspect a client's own token: %s", body)
	}
}

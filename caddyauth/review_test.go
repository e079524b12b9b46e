package caddyauth_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2/caddytest"
	"github.com/golang-jwt/jwt/v5"
	"golang.org/x/crypto/bcrypt"
)

// Regression tests for the outside review (issue 13), one per item, each
// named after its item. Each failed before its fix.

// TestReview3KeyWithoutKid: a PEM key has no kid, and is a candidate for
// any token's kid (a kid is a hint); a JWK with a kid must match it.
// leeway 0s is strict, not the 30 s default.
func TestReview3KeyWithoutKid(t *testing.T) {
	testKeys()
	dir := t.TempDir()
	pemFile := writeFile(t, dir, "ec.pem", pemPublic(t, &ecKey.PublicKey))
	jwkFile := writeFile(t, dir, "keys.json", string(jwkSet(jwkOf("k1", &rsaKey.PublicKey))))
	h := startCaddy(t, fmt.Sprintf(`
		users USERS
		resources RESOURCES
		bearer {
			jwt {
				issuer https://pem.test
				audience api
				key %s
				algorithms ES256
				leeway 0s
			}
			jwt {
				issuer https://jwk.test
				audience api
				key %s
				algorithms RS256
			}
		}
`, pemFile, jwkFile))
	now := time.Now()
	other, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	pemTok := func(kid string, extra ...any) string {
		return mint(t, jwt.SigningMethodES256, ecKey, kid, claims("alice", append([]any{"iss", "https://pem.test"}, extra...)...))
	}
	jwkTok := func(kid string) string {
		return mint(t, jwt.SigningMethodRS256, rsaKey, kid, claims("alice", "iss", "https://jwk.test"))
	}
	A := "Authorization"
	for _, c := range []struct {
		name   string
		tok    string
		status int
	}{
		{"PEM key, token with a kid (every real issuer sets one)", pemTok("2026-key-1"), 200},
		{"PEM key, token without a kid", pemTok(""), 200},
		{"JWK with kid k1, token kid k1", jwkTok("k1"), 200},
		{"JWK with kid k1, token kid k2", jwkTok("k2"), 401},
		{"PEM key, another signer", mint(t, jwt.SigningMethodES256, other, "x", claims("alice", "iss", "https://pem.test")), 401},
		{"leeway 0s: expired 5 s ago", pemTok("k", "exp", now.Add(-5*time.Second).Unix(), "iat", now.Add(-time.Hour).Unix()), 401},
		{"leeway 0s: nbf 5 s ahead", pemTok("k", "nbf", now.Add(5*time.Second).Unix()), 401},
		{"leeway 0s: iat 5 s ahead", pemTok("k", "iat", now.Add(5*time.Second).Unix()), 401},
	} {
		h.expect(c.name, c.status, c.status == 200, h.status("GET", "/scim2/Users", A, bearer(c.tok)))
	}
}

// TestReview13RemoteSymmetricKeys: a key set from a URL is public, so it
// never supplies an HMAC key, and HS algorithms with jwks_url are refused
// when the config loads.
func TestReview13RemoteSymmetricKeys(t *testing.T) {
	err := validateRestAuth(t, "bearer {\njwt {\n jwks_url https://idp.test/jwks\n audience api\n algorithms HS256\n}\n}")
	if err == nil || !strings.Contains(err.Error(), "a key set from a URL is public") {
		t.Fatalf("jwks_url with HS256: %v", err)
	}
}

// forceReload loads a Caddyfile even when it is the running one, so that
// files it names are read again.
func forceReload(t *testing.T, cfg string) {
	t.Helper()
	req, _ := http.NewRequest("POST", "http://localhost:2999/load", strings.NewReader(cfg))
	req.Header.Set("Content-Type", "text/caddyfile")
	req.Header.Set("Cache-Control", "must-revalidate")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("reload: %d %s", resp.StatusCode, body)
	}
	// the old server closes its kept-alive connections: a POST on one
	// would fail with EOF (and, not being idempotent, is not retried)
	http.DefaultClient.CloseIdleConnections()
}

func form(kv ...string) url.Values {
	v := url.Values{}
	for i := 0; i+1 < len(kv); i += 2 {
		v.Set(kv[i], kv[i+1])
	}
	return v
}

// TestReview2RefreshRechecks: every refresh checks the user, the client
// and the scopes again, and a family ends refresh_ttl after its first
// grant however often it is rotated.
func TestReview2RefreshRechecks(t *testing.T) {
	cfg, users, up := tokenServiceConfig(t, "http://127.0.0.1:9080")
	cfg = strings.Replace(cfg, "\t\tusers "+users+"\n\t}", "\t\tusers "+users+"\n\t\trefresh_ttl 3s\n\t}", 1)
	caddytest.NewTester(t).InitServer(cfg, "caddyfile")
	h := &harness{t: t, up: up}
	app := func(kv ...string) (int, tokenResp, string) {
		code, _, tr, body := oauthPost(t, "token", form(kv...), "app", "app secret/+&")
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
		forceReload(t, cfg)
	}
	restore := func() {
		if err := os.WriteFile(users, original, 0o600); err != nil {
			t.Fatal(err)
		}
		forceReload(t, cfg)
	}

	// a role taken away: the next refresh no longer carries its scope
	code, tr, body := app("grant_type", "password", "username", "alice", "password", "alice-pw")
	if code != 200 || tr.Scope != "internal_user_mgt_list" {
		t.Fatalf("password grant: %d %s", code, body)
	}
	edit(`username = "alice"`+"\npassword = "+fmt.Sprintf("%q", testHashes()["alice-pw"])+"\nroles = [\"usermgt\"]",
		`username = "alice"`+"\npassword = "+fmt.Sprintf("%q", testHashes()["alice-pw"])+"\nroles = [\"login\"]")
	code, tr, body = app("grant_type", "refresh_token", "refresh_token", tr.RefreshToken)
	if code != 200 || tr.Scope != "" {
		t.Fatalf("refresh after the role went: %d %s (want 200 with no scope)", code, body)
	}
	h.expect("the refreshed token lacks the scope", 403, false, h.status("GET", "/scoped", "Authorization", bearer(tr.AccessToken)))
	restore()

	// a changed password ends the family
	code, tr, _ = app("grant_type", "password", "username", "alice", "password", "alice-pw")
	edit(fmt.Sprintf("%q", testHashes()["alice-pw"]), fmt.Sprintf("%q", testHashes()["bob-pw"]))
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
	cfg, users, up := tokenServiceConfig(t, "http://127.0.0.1:9080")
	cfg = strings.Replace(cfg, "\t\tusers "+users+"\n\t}", "\t\tusers "+users+"\n\t\taudience https://reports.test\n\t}", 1)
	caddytest.NewTester(t).InitServer(cfg, "caddyfile")
	h := &harness{t: t, up: up}
	_, _, tr, _ := oauthPost(t, "token", form("grant_type", "client_credentials"), "svc", "svc-secret")
	h.expect("default: the service's own audience", 200, true, h.status("GET", "/scoped", "Authorization", bearer(tr.AccessToken)))
	other := strings.Replace(cfg, "\t\tbearer\n", "\t\tbearer {\n\t\t\tbuiltin\n\t\t\taudience https://api.test\n\t\t}\n", 1)
	if other == cfg {
		t.Fatal("test setup: bearer not found")
	}
	caddytest.NewTester(t).InitServer(other, "caddyfile")
	h.expect("a token for another audience", 401, false, h.status("GET", "/scoped", "Authorization", bearer(tr.AccessToken)))
}

// TestReview5ClientNotUser: a client's own token never takes the store
// roles of a user with the client's name; it holds the client's roles.
// A client id equal to a user name in one set of files is a load error.
func TestReview5ClientNotUser(t *testing.T) {
	dir := t.TempDir()
	h := testHashes()
	clientSecret, _ := bcrypt.GenerateFromPassword([]byte("reporting-secret"), 4)
	// the token service's file: the client
	svcUsers := writeFile(t, dir, "svc.toml", fmt.Sprintf(`
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
	apiUsers := writeFile(t, dir, "api.toml", fmt.Sprintf(`
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
	res := writeFile(t, dir, "deployment.toml", resourcesTOML)
	up := newUpstream(t)
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
`, svcUsers, apiUsers, res, up.addr()), "caddyfile")
	hs := &harness{t: t, up: up}
	_, _, tr, _ := oauthPost(t, "token", form("grant_type", "client_credentials"), "reporting", "reporting-secret")
	hs.expect("client reporting's token on a permission rule: not the user's roles", 403, false,
		hs.status("GET", "/scim2/Users", "Authorization", bearer(tr.AccessToken)))
	_, _, tr, _ = oauthPost(t, "token", form("grant_type", "client_credentials"), "auditor", "reporting-secret")
	hs.expect("client auditor's token: the client's own roles", 200, true,
		hs.status("GET", "/scim2/Users", "Authorization", bearer(tr.AccessToken)))

	// in one set of files, a client id that is a user name is refused
	both := writeFile(t, dir, "both.toml", fmt.Sprintf(`
[[users]]
username = "reporting"
password = %q

[[clients]]
client_id = "reporting"
secret = %[1]q
grant_types = ["client_credentials"]
`, h["admin-pw"]))
	err := validateRestAuth(t, "users "+both)
	if err == nil || !strings.Contains(err.Error(), `client id "reporting" is also the name of the user`) {
		t.Errorf("client id equal to a user name: %v", err)
	}
}

// TestReview6SharedLimits: the token service counts failures as Basic
// does, per (name, address), per address and per name, on the same
// counters for a user, and its 429 carries Retry-After.
func TestReview6SharedLimits(t *testing.T) {
	cfg, users, up := tokenServiceConfig(t, "http://127.0.0.1:9080")
	// a window no other test uses: counters live as long as the process
	cfg = strings.Replace(cfg, "\t\tusers "+users+"\n\t}", "\t\tusers "+users+"\n\t\tthrottle 3 67s\n\t\tthrottle_address 6\n\t}", 1)
	cfg = strings.Replace(cfg, "\t\tbasic {\n\t\t\tthrottle off\n\t\t}", "\t\tbasic {\n\t\t\tthrottle 3 67s\n\t\t\tthrottle_address 6\n\t\t}", 1)
	caddytest.NewTester(t).InitServer(cfg, "caddyfile")
	h := &harness{t: t, up: up}
	for i := 0; i < 3; i++ {
		code, _, _, _ := oauthPost(t, "token", form("grant_type", "password", "username", "bob", "password", "wrong"), "app", "app secret/+&")
		if code != 400 {
			t.Fatalf("wrong password %d: %d", i, code)
		}
	}
	h.expect("Basic for bob after 3 password-grant failures", 429, false, h.status("GET", "/login-only", "Authorization", basic("bob", "bob-pw")))
	code, hdr, tr, _ := oauthPost(t, "token", form("grant_type", "password", "username", "bob", "password", "bob-pw"), "app", "app secret/+&")
	if code != 429 || tr.Error != "invalid_grant" || hdr.Get("Retry-After") == "" {
		t.Errorf("password grant for bob: %d %q Retry-After %q", code, tr.Error, hdr.Get("Retry-After"))
	}
	// spraying: one address, many names, through both paths
	for i := 0; i < 3; i++ {
		oauthPost(t, "token", form("grant_type", "password", "username", fmt.Sprint("nobody", i), "password", "x"), "app", "app secret/+&")
	}
	code, hdr, tr, _ = oauthPost(t, "token", form("grant_type", "password", "username", "admin", "password", "admin-pw"), "app", "app secret/+&")
	if code != 429 || hdr.Get("Retry-After") == "" {
		t.Errorf("after 6 failures from one address: %d %q", code, tr.Error)
	}
	h.expect("Basic from the same address", 429, false, h.status("GET", "/login-only", "Authorization", basic("admin", "admin-pw")))
}

// TestReview7KeyRemoval: a token verified under a key that the next JWK
// set no longer holds stops passing at that fetch, not at its exp.
func TestReview7KeyRemoval(t *testing.T) {
	testKeys()
	jwks := newJWKS(t, jwkSet(jwkOf("k1", &rsaKey.PublicKey)))
	h := startCaddy(t, fmt.Sprintf(`
		users USERS
		resources RESOURCES
		bearer {
			jwt {
				audience api
				jwks_url %s
				algorithms RS256
				kid_cooldown 100ms
			}
		}
`, jwks.srv.URL))
	A := "Authorization"
	old := mint(t, jwt.SigningMethodRS256, rsaKey, "k1", claims("alice"))
	h.expect("k1's token", 200, true, h.status("GET", "/scim2/Users", A, bearer(old)))
	h.expect("k1's token, cached", 200, true, h.status("GET", "/scim2/Users", A, bearer(old)))
	// k1 is compromised and removed; a token under the new key makes the
	// set be fetched again
	jwks.set(jwkSet(jwkOf("k2", &rsaKey2.PublicKey)))
	time.Sleep(150 * time.Millisecond)
	h.expect("k2's token", 200, true, h.status("GET", "/scim2/Users", A, bearer(mint(t, jwt.SigningMethodRS256, rsaKey2, "k2", claims("alice")))))
	h.expect("k1's cached token after k1 left the set", 401, false, h.status("GET", "/scim2/Users", A, bearer(old)))
}

// TestReview11Revocation: RFC 7009 answers: another client's token is
// refused with unauthorized_client, an unknown one is 200, and revoking
// an access token ends its refresh family.
func TestReview11Revocation(t *testing.T) {
	cfg, _, up := tokenServiceConfig(t, "http://127.0.0.1:9080")
	caddytest.NewTester(t).InitServer(cfg, "caddyfile")
	h := &harness{t: t, up: up}
	// (client other is throttled by TestTokenService's failures for a minute)
	_, _, svc, _ := oauthPost(t, "token", form("grant_type", "client_credentials"), "svc", "svc-secret")
	code, _, tr, body := oauthPost(t, "revoke", form("token", svc.AccessToken), "app", "app secret/+&")
	if code != 400 || tr.Error != "unauthorized_client" {
		t.Errorf("another client's access token: %d %s", code, body)
	}
	h.expect("it still works", 200, true, h.status("GET", "/scoped", "Authorization", bearer(svc.AccessToken)))
	_, _, user, _ := oauthPost(t, "token", form("grant_type", "password", "username", "alice", "password", "alice-pw"), "app", "app secret/+&")
	if code, _, tr, body := oauthPost(t, "revoke", form("token", user.RefreshToken), "svc", "svc-secret"); code != 400 || tr.Error != "unauthorized_client" {
		t.Errorf("another client's refresh token: %d %s", code, body)
	}
	if code, _, _, body := oauthPost(t, "revoke", form("token", "no-such-token"), "svc", "svc-secret"); code != 200 {
		t.Errorf("an unknown token: %d %s", code, body)
	}
	if code, _, _, body := oauthPost(t, "revoke", form("token", user.AccessToken), "app", "app secret/+&"); code != 200 {
		t.Fatalf("revoke the access token: %d %s", code, body)
	}
	if code, _, _, body := oauthPost(t, "token", form("grant_type", "refresh_token", "refresh_token", user.RefreshToken), "app", "app secret/+&"); code != 400 {
		t.Errorf("its family's refresh token after the access token was revoked: %d %s", code, body)
	}
}

// TestReview12IntrospectionTokenType: token_type is the token's type,
// Bearer, not the hint's vocabulary; username only for a user's token.
func TestReview12IntrospectionTokenType(t *testing.T) {
	cfg, _, _ := tokenServiceConfig(t, "http://127.0.0.1:9080")
	caddytest.NewTester(t).InitServer(cfg, "caddyfile")
	_, _, user, _ := oauthPost(t, "token", form("grant_type", "password", "username", "alice", "password", "alice-pw"), "app", "app secret/+&")
	_, _, _, body := oauthPost(t, "introspect", form("token", user.AccessToken), "app", "app secret/+&")
	var ans map[string]any
	json.Unmarshal([]byte(body), &ans)
	if ans["token_type"] != "Bearer" || ans["username"] != "alice" {
		t.Errorf("introspect a user's access token: %s", body)
	}
	_, _, svc, _ := oauthPost(t, "token", form("grant_type", "client_credentials"), "svc", "svc-secret")
	_, _, _, body = oauthPost(t, "introspect", form("token", svc.AccessToken), "svc", "svc-secret")
	ans = nil
	json.Unmarshal([]byte(body), &ans)
	if ans["token_type"] != "Bearer" || ans["username"] != nil || ans["sub"] != "svc" {
		t.Errorf("introspect a client's own token: %s", body)
	}
}

// TestReview15Challenges: every 401 carries a challenge (RFC 7235 section
// 3.1): client_cert has one, and a refused credential on a rule that
// allows several handlers gets one per handler.
func TestReview15Challenges(t *testing.T) {
	h := startCaddy(t, `
		users USERS
		resources RESOURCES
		resource /cert-only/* all {
			auth_handlers client_cert
		}
		client_cert {
			realm gateway
		}
		bearer {
			jwt {
				audience any
				secret 0123456789abcdef0123456789abcdef-test
				algorithms HS256
			}
		}
		basic
`)
	check := func(name string, want []string, headers ...string) {
		t.Helper()
		before := h.up.hits.Load()
		resp, _ := h.do("GET", headers[0], headers[1:]...)
		if got := resp.Header.Values("WWW-Authenticate"); resp.StatusCode != 401 || strings.Join(got, "|") != strings.Join(want, "|") {
			t.Errorf("%s: %d, challenges %q, want %q", name, resp.StatusCode, got, want)
		}
		if h.up.hits.Load() != before {
			t.Errorf("%s: the upstream was reached", name)
		}
	}
	cert := `ClientCertificate realm="gateway"`
	bearerC, basicC := `Bearer realm="restricted"`, `Basic realm="restricted", charset="UTF-8"`
	check("a rule that allows only client_cert", []string{cert}, "/cert-only/x")
	check("a rule that allows only client_cert, with Basic", []string{cert}, "/cert-only/x", "Authorization", basic("alice", "alice-pw"))
	check("no credential", []string{cert, bearerC, basicC}, "/scim2/Users")
	check("a refused token", []string{cert, `Bearer realm="restricted", error="invalid_token"`, basicC}, "/scim2/Users", "Authorization", bearer("a.b.c"))
	check("a wrong password", []string{cert, bearerC, basicC}, "/scim2/Users", "Authorization", basic("alice", "nope"))
}

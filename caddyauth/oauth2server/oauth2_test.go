package oauth2server_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2/caddytest"
	"golang.org/x/crypto/bcrypt"
	"golang.org/x/oauth2"

	"github.com/restauth/caddy-restauth/caddyauth/oauth2server"
	"github.com/restauth/caddy-restauth/internal/testkit"
	"golang.org/x/oauth2/clientcredentials"
)

func TestTokenService(t *testing.T) {
	cfgText, users, up := testkit.TokenServiceConfig(t, "http://127.0.0.1:9080")
	startWith := func() *testkit.Harness {
		tester := caddytest.NewTester(t)
		tester.InitServer(cfgText, "caddyfile")
		return &testkit.Harness{T: t, Up: up}
	}
	h := startWith()
	A := "Authorization"
	// client_credentials with client_secret_basic
	code, hdr, tr, body := testkit.OAuthPost(t, "token", testkit.Form("grant_type", "client_credentials"), "svc", "svc-secret")
	if code != 200 || tr.TokenType != "Bearer" || tr.Scope != "internal_user_mgt_list reports" || tr.RefreshToken != "" ||
		tr.ExpiresIn < 3500 || hdr.Get("Cache-Control") != "no-store" {
		t.Fatalf("client_credentials: %d %s %v", code, body, hdr)
	}
	parts := strings.Split(tr.AccessToken, ".")
	head, _ := base64.RawURLEncoding.DecodeString(parts[0])
	payload, _ := base64.RawURLEncoding.DecodeString(parts[1])
	var jh map[string]any
	var jc map[string]any
	json.Unmarshal(head, &jh)
	json.Unmarshal(payload, &jc)
	if jh["typ"] != "at+jwt" || jh["alg"] != "ES256" || jh["kid"] == nil {
		t.Errorf("header %v", jh)
	}
	for _, k := range []string{"iss", "sub", "aud", "exp", "iat", "jti", "client_id", "scope"} {
		if jc[k] == nil {
			t.Errorf("claim %s missing in %v", k, jc)
		}
	}
	if jc["sub"] != "svc" || jc["client_id"] != "svc" || jc["iss"] != "http://127.0.0.1:9080" {
		t.Errorf("claims %v", jc)
	}
	svcToken := tr.AccessToken
	h.Expect("client token with the scope", 200, true, h.Status("GET", "/scoped", A, testkit.Bearer(svcToken)))
	h.Expect("client token on a permission rule: the client has no roles", 403, false, h.Status("GET", "/scim2/Users", A, testkit.Bearer(svcToken)))

	// JWKS publishes the key
	resp, err := http.Get("http://127.0.0.1:9080/oauth2/jwks")
	if err != nil {
		t.Fatal(err)
	}
	jwks, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(jwks), fmt.Sprint(jh["kid"])) || strings.Contains(string(jwks), `"d"`) {
		t.Errorf("jwks: %s", jwks)
	}

	errCases := []struct {
		name   string
		form   url.Values
		id, pw string
		status int
		err    string
	}{
		{"client_secret_post", testkit.Form("grant_type", "client_credentials", "client_id", "svc", "client_secret", "svc-secret", "scope", "reports"), "", "", 200, ""},
		{"wrong secret", testkit.Form("grant_type", "client_credentials"), "svc", "nope", 401, "invalid_client"},
		{"unknown client", testkit.Form("grant_type", "client_credentials"), "ghost", "svc-secret", 401, "invalid_client"},
		{"no client authentication", testkit.Form("grant_type", "client_credentials"), "", "", 401, "invalid_client"},
		{"two methods", testkit.Form("grant_type", "client_credentials", "client_secret", "svc-secret"), "svc", "svc-secret", 400, "invalid_request"},
		{"unknown grant", testkit.Form("grant_type", "implicit"), "svc", "svc-secret", 400, "unsupported_grant_type"},
		{"grant not allowed for the client", testkit.Form("grant_type", "password", "username", "alice", "password", "alice-pw"), "svc", "svc-secret", 400, "unauthorized_client"},
		{"scope the client may not have", testkit.Form("grant_type", "client_credentials", "scope", "admin"), "svc", "svc-secret", 400, "invalid_scope"},
		{"password grant, wrong password", testkit.Form("grant_type", "password", "username", "alice", "password", "x"), "app", "app secret/+&", 400, "invalid_grant"},
		{"password grant, unknown user", testkit.Form("grant_type", "password", "username", "ghost", "password", "x"), "app", "app secret/+&", 400, "invalid_grant"},
		{"refresh token unknown", testkit.Form("grant_type", "refresh_token", "refresh_token", "nope"), "app", "app secret/+&", 400, "invalid_grant"},
	}
	for _, c := range errCases {
		code, hdr, tr, body := testkit.OAuthPost(t, "token", c.form, c.id, c.pw)
		if code != c.status || tr.Error != c.err {
			t.Errorf("%s: %d %s", c.name, code, body)
		}
		if code == 401 && hdr.Get("WWW-Authenticate") == "" {
			t.Errorf("%s: 401 without WWW-Authenticate", c.name)
		}
		if strings.Contains(body, "svc-secret") || strings.Contains(body, "app secret") {
			t.Errorf("%s: a secret in the answer", c.name)
		}
	}

	// password grant, with a refresh token; the user's roles' scopes limit it
	code, _, tr, body = testkit.OAuthPost(t, "token", testkit.Form("grant_type", "password", "username", "alice", "password", "alice-pw"), "app", "app secret/+&")
	if code != 200 || tr.RefreshToken == "" || tr.Scope != "internal_user_mgt_list" {
		t.Fatalf("password grant: %d %s", code, body)
	}
	at1, rt1 := tr.AccessToken, tr.RefreshToken
	h.Expect("user token: roles from the store", 200, true, h.Status("GET", "/scim2/Users", A, testkit.Bearer(at1)))

	// rotation
	code, _, tr, body = testkit.OAuthPost(t, "token", testkit.Form("grant_type", "refresh_token", "refresh_token", rt1), "app", "app secret/+&")
	if code != 200 || tr.RefreshToken == "" || tr.RefreshToken == rt1 {
		t.Fatalf("refresh: %d %s", code, body)
	}
	at2, rt2 := tr.AccessToken, tr.RefreshToken
	h.Expect("refreshed token", 200, true, h.Status("GET", "/scim2/Users", A, testkit.Bearer(at2)))
	if code, _, _, body := testkit.OAuthPost(t, "token", testkit.Form("grant_type", "refresh_token", "refresh_token", rt2), "other", "other-secret"); code != 400 {
		t.Errorf("another client's refresh token: %d %s", code, body)
	}
	// introspection
	if code, _, _, body := testkit.OAuthPost(t, "introspect", testkit.Form("token", at2), "app", "app secret/+&"); code != 200 || !strings.Contains(body, `"active":true`) || !strings.Contains(body, `"sub":"alice"`) {
		t.Errorf("introspect access token: %d %s", code, body)
	}
	if code, _, _, body := testkit.OAuthPost(t, "introspect", testkit.Form("token", rt2), "app", "app secret/+&"); !strings.Contains(body, `"token_type":"refresh_token"`) {
		t.Errorf("introspect refresh token: %d %s", code, body)
	}
	if code, _, _, body := testkit.OAuthPost(t, "introspect", testkit.Form("token", "garbage"), "app", "app secret/+&"); code != 200 || body != `{"active":false}` {
		t.Errorf("introspect garbage: %d %s", code, body)
	}
	if code, _, _, _ := testkit.OAuthPost(t, "introspect", testkit.Form("token", at2), "", ""); code != 401 {
		t.Errorf("introspect without client authentication: %d", code)
	}
	// reuse of the rotated refresh token revokes the family, cached access tokens included
	if code, _, _, body := testkit.OAuthPost(t, "token", testkit.Form("grant_type", "refresh_token", "refresh_token", rt1), "app", "app secret/+&"); code != 400 || !strings.Contains(body, "invalid_grant") {
		t.Errorf("reuse: %d %s", code, body)
	}
	if code, _, _, body := testkit.OAuthPost(t, "token", testkit.Form("grant_type", "refresh_token", "refresh_token", rt2), "app", "app secret/+&"); code != 400 {
		t.Errorf("the family's newest refresh token after a reuse: %d %s", code, body)
	}
	h.Expect("access token of a revoked family (was cached)", 401, false, h.Status("GET", "/scim2/Users", A, testkit.Bearer(at2)))
	h.Expect("older access token of the family", 401, false, h.Status("GET", "/scim2/Users", A, testkit.Bearer(at1)))

	// revocation of an access token (only by its own client)
	testkit.OAuthPost(t, "revoke", testkit.Form("token", svcToken), "other", "other-secret")
	h.Expect("another client cannot revoke it", 200, true, h.Status("GET", "/scoped", A, testkit.Bearer(svcToken)))
	if code, _, _, _ := testkit.OAuthPost(t, "revoke", testkit.Form("token", svcToken), "svc", "svc-secret"); code != 200 {
		t.Errorf("revoke: %d", code)
	}
	h.Expect("revoked access token", 401, false, h.Status("GET", "/scoped", A, testkit.Bearer(svcToken)))
	if code, _, _, body := testkit.OAuthPost(t, "introspect", testkit.Form("token", svcToken), "svc", "svc-secret"); body != `{"active":false}` {
		t.Errorf("introspect a revoked token: %d %s", code, body)
	}

	// keys and revocations live in storage: with the service gone from
	// the config (its in-memory state released) and back, they are read
	// again from storage, as after a restart
	code, _, tr, _ = testkit.OAuthPost(t, "token", testkit.Form("grant_type", "client_credentials"), "svc", "svc-secret")
	kept := tr.AccessToken
	without := strings.Replace(cfgText, "oauth2_server {\n\t\tissuer http://127.0.0.1:9080\n\t\tusers "+users+"\n\t}", "", 1)
	if without == cfgText {
		t.Fatal("test setup: the oauth2_server block was not found")
	}
	caddytest.NewTester(t).InitServer(without, "caddyfile")
	if oauth2server.BuiltinIssuerLive("http://127.0.0.1:9080") {
		t.Fatal("the issuer's in-memory state outlived its config")
	}
	h = startWith()
	h.Expect("a token from before the reload", 200, true, h.Status("GET", "/scoped", A, testkit.Bearer(kept)))
	h.Expect("a revoked token after the reload", 401, false, h.Status("GET", "/scoped", A, testkit.Bearer(svcToken)))

	// failed client authentication is throttled
	for i := 0; i < 10; i++ {
		testkit.OAuthPost(t, "token", testkit.Form("grant_type", "client_credentials"), "other", "wrong")
	}
	if code, _, tr, _ := testkit.OAuthPost(t, "token", testkit.Form("grant_type", "client_credentials"), "other", "other-secret"); code != 429 || tr.Error != "invalid_client" {
		t.Errorf("after 10 failures: %d %s", code, tr.Error)
	}
	// other paths go to the next handler
	h.Expect("not an endpoint: rest_auth decides", 401, false, h.Status("GET", "/oauth2/other"))
}

// TestTokenServiceWithOAuth2Client drives the endpoint with
// golang.org/x/oauth2 as the client, then calls the API with its tokens;
// and checks that bad requests get the RFC's errors and nothing issued.
func TestTokenServiceWithOAuth2Client(t *testing.T) {
	cfg, _, up := testkit.TokenServiceConfig(t, "http://127.0.0.1:9080/x")
	caddytest.NewTester(t).InitServer(cfg, "caddyfile")
	h := &testkit.Harness{T: t, Up: up}
	ctx := context.Background()
	endpoint := oauth2.Endpoint{TokenURL: "http://127.0.0.1:9080/oauth2/token"}

	cc := clientcredentials.Config{ClientID: "svc", ClientSecret: "svc-secret", TokenURL: endpoint.TokenURL, Scopes: []string{"internal_user_mgt_list"}}
	tok, err := cc.Token(ctx)
	if err != nil {
		t.Fatalf("client_credentials through x/oauth2: %v", err)
	}
	h.Expect("x/oauth2 client_credentials token", 200, true, h.Status("GET", "/scoped", "Authorization", "Bearer "+tok.AccessToken))

	pc := oauth2.Config{ClientID: "app", ClientSecret: "app secret/+&", Endpoint: endpoint}
	ptok, err := pc.PasswordCredentialsToken(ctx, "alice", "alice-pw")
	if err != nil || ptok.RefreshToken == "" {
		t.Fatalf("password grant through x/oauth2: %v %+v", err, ptok)
	}
	h.Expect("x/oauth2 password token", 200, true, h.Status("GET", "/scim2/Users", "Authorization", "Bearer "+ptok.AccessToken))
	// an expired token makes x/oauth2 refresh (rotation) on its own
	ptok.Expiry = time.Now().Add(-time.Minute)
	fresh, err := pc.TokenSource(ctx, ptok).Token()
	if err != nil || fresh.RefreshToken == ptok.RefreshToken || fresh.AccessToken == ptok.AccessToken {
		t.Fatalf("refresh through x/oauth2: %v", err)
	}
	h.Expect("refreshed token", 200, true, h.Status("GET", "/scim2/Users", "Authorization", "Bearer "+fresh.AccessToken))

	post := func(body, contentType string) (int, string) {
		req, _ := http.NewRequest("POST", endpoint.TokenURL, strings.NewReader(body))
		req.Header.Set("Content-Type", contentType)
		req.SetBasicAuth("svc", "svc-secret")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	for _, c := range []struct {
		name, body, ct string
		status         int
		err            string
	}{
		{"missing grant_type", "scope=reports", "application/x-www-form-urlencoded", 400, "invalid_request"},
		{"wrong content type", `{"grant_type":"client_credentials"}`, "application/json", 400, "invalid_request"},
		{"huge body", "grant_type=client_credentials&scope=" + strings.Repeat("a", 100<<10), "application/x-www-form-urlencoded", 400, "invalid_request"},
		{"parameter twice", "grant_type=client_credentials&grant_type=password", "application/x-www-form-urlencoded", 400, "invalid_request"},
		{"password grant without a password", "grant_type=password&username=alice", "application/x-www-form-urlencoded", 400, "unauthorized_client"},
	} {
		code, body := post(c.body, c.ct)
		if code != c.status || !strings.Contains(body, `"error":"`+c.err+`"`) || strings.Contains(body, "access_token") {
			t.Errorf("%s: %d %s", c.name, code, body)
		}
	}
}

// TestClientHerd: 32 token requests of one client at once cost one hash of
// its secret, and the next request none (the verified secret is cached,
// keyed by the client id, its stored hash and the secret).
func TestClientHerd(t *testing.T) {
	secret, err := bcrypt.GenerateFromPassword([]byte("herd-secret"), 10) // ~70 ms: they all overlap
	if err != nil {
		t.Fatal(err)
	}
	cfg, users, _ := testkit.TokenServiceConfig(t, "http://127.0.0.1:9080")
	data, _ := os.ReadFile(users)
	os.WriteFile(users, append(data, fmt.Sprintf("\n[[clients]]\nclient_id = \"herd\"\nsecret = %q\ngrant_types = [\"client_credentials\"]\n", secret)...), 0o600)
	caddytest.NewTester(t).InitServer(cfg, "caddyfile")
	hashes := func() float64 {
		_, body := testkit.AdminCall(t, "GET", "/metrics", "")
		for _, line := range strings.Split(body, "\n") {
			if v, ok := strings.CutPrefix(line, "caddy_rest_auth_password_hashes_total "); ok {
				f, _ := strconv.ParseFloat(v, 64)
				return f
			}
		}
		t.Fatal("no caddy_rest_auth_password_hashes_total")
		return 0
	}
	before := hashes()
	var wg sync.WaitGroup
	codes := make([]int, 32)
	for i := range codes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			codes[i], _, _, _ = testkit.OAuthPost(t, "token", testkit.Form("grant_type", "client_credentials"), "herd", "herd-secret")
		}()
	}
	wg.Wait()
	for i, c := range codes {
		if c != 200 {
			t.Errorf("request %d: %d", i, c)
		}
	}
	if code, _, _, _ := testkit.OAuthPost(t, "token", testkit.Form("grant_type", "client_credentials"), "herd", "herd-secret"); code != 200 {
		t.Errorf("a later request: %d", code)
	}
	if n := hashes() - before; n != 1 {
		t.Errorf("%v hashes for one client's secret, want 1", n)
	}
	if code, _, _, _ := testkit.OAuthPost(t, "token", testkit.Form("grant_type", "client_credentials"), "herd", "wrong"); code != 401 {
		t.Errorf("a wrong secret after the good one was cached: %d", code)
	}
}

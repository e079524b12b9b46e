package oauth2server_test

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2/caddytest"
	"github.com/coreos/go-oidc/v3/oidc"
	"github.com/go-jose/go-jose/v4"
	"golang.org/x/oauth2/clientcredentials"

	"github.com/restauth/caddy-restauth/internal/testkit"
)

// proofFor is a DPoP proof made with go-jose (an independent JOSE
// library) for a request, and for a token when one is given.
func proofFor(t *testing.T, key *ecdsa.PrivateKey, method, htu, token string) string {
	t.Helper()
	jti := make([]byte, 12)
	rand.Read(jti)
	claims := map[string]any{"jti": base64.RawURLEncoding.EncodeToString(jti), "htm": method, "htu": htu, "iat": time.Now().Unix()}
	if token != "" {
		sum := sha256.Sum256([]byte(token))
		claims["ath"] = base64.RawURLEncoding.EncodeToString(sum[:])
	}
	payload, _ := json.Marshal(claims)
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: key},
		(&jose.SignerOptions{}).WithType("dpop+jwt").WithHeader("jwk", jose.JSONWebKey{Key: key.Public()}))
	if err != nil {
		t.Fatal(err)
	}
	obj, err := signer.Sign(payload)
	if err != nil {
		t.Fatal(err)
	}
	s, _ := obj.CompactSerialize()
	return s
}

func postToken(t *testing.T, form url.Values, headers ...string) (int, map[string]any) {
	t.Helper()
	req, _ := http.NewRequest("POST", "http://127.0.0.1:9080/oauth2/token", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth("svc", "svc-secret")
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Add(headers[i], headers[i+1])
	}
	resp, err := testkit.Fresh.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&out)
	return resp.StatusCode, out
}

// TestDPoPIssued: the token service issues DPoP-bound tokens for a request
// with a proof, and bearer (builtin, dpop on) wants their proof.
func TestDPoPIssued(t *testing.T) {
	const iss = "http://127.0.0.1:9080"
	cfg, _, up := testkit.TokenServiceConfig(t, iss)
	cfg = strings.Replace(cfg, "\t\tbearer\n", "\t\tbearer {\n\t\t\tbuiltin\n\t\t\tdpop\n\t\t}\n", 1)
	caddytest.NewTester(t).InitServer(cfg, "caddyfile")
	h := &testkit.Harness{T: t, Up: up}
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tokenURL := iss + "/oauth2/token"
	form := url.Values{"grant_type": {"client_credentials"}, "scope": {"internal_user_mgt_list"}}

	code, out := postToken(t, form, "DPoP", proofFor(t, key, "POST", tokenURL, ""))
	at, _ := out["access_token"].(string)
	if code != 200 || out["token_type"] != "DPoP" || at == "" {
		t.Fatalf("token with a proof: %d %v", code, out)
	}
	thumb, _ := (&jose.JSONWebKey{Key: key.Public()}).Thumbprint(crypto.SHA256)
	parts := strings.Split(at, ".")
	body, _ := base64.RawURLEncoding.DecodeString(parts[1])
	var claims struct {
		Cnf map[string]string `json:"cnf"`
	}
	json.Unmarshal(body, &claims)
	if claims.Cnf["jkt"] != base64.RawURLEncoding.EncodeToString(thumb) {
		t.Errorf("cnf %v, want jkt %s", claims.Cnf, base64.RawURLEncoding.EncodeToString(thumb))
	}
	users := "/api/identity/user/v1.0/me"
	h.Expect("the bound token with its proof", 200, true, h.Status("GET", users, "Authorization", "DPoP "+at, "DPoP", proofFor(t, key, "GET", iss+users, at)))
	h.Expect("the bound token as Bearer", 401, false, h.Status("GET", users, "Authorization", "Bearer "+at))
	other, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	h.Expect("the bound token with another key's proof", 401, false, h.Status("GET", users, "Authorization", "DPoP "+at, "DPoP", proofFor(t, other, "GET", iss+users, at)))

	// introspection says how it is bound
	code, _, _, ib := testkit.OAuthPost(t, "introspect", url.Values{"token": {at}}, "svc", "svc-secret")
	if code != 200 || !strings.Contains(ib, `"token_type":"DPoP"`) || !strings.Contains(ib, `"jkt":"`) {
		t.Errorf("introspection: %d %s", code, ib)
	}
	// a bad proof at the token endpoint
	bad := proofFor(t, key, "POST", iss+"/elsewhere", "")
	if code, out := postToken(t, form, "DPoP", bad); code != 400 || out["error"] != "invalid_dpop_proof" {
		t.Errorf("a proof for another URL: %d %v", code, out)
	}
	if code, out := postToken(t, form, "DPoP", proofFor(t, key, "POST", tokenURL, "")+"x"); code != 400 || out["error"] != "invalid_dpop_proof" {
		t.Errorf("a proof with a bad signature: %d %v", code, out)
	}
	// without a proof: a Bearer token, as before
	if code, out := postToken(t, form); code != 200 || out["token_type"] != "Bearer" {
		t.Errorf("no proof: %d %v", code, out)
	}
}

// TestDiscovery: the metadata, go-oidc's NewProvider and x/oauth2 against
// it, and bearer's jwt discovery.
func TestDiscovery(t *testing.T) {
	const iss = "http://127.0.0.1:9080"
	cfg, _, up := testkit.TokenServiceConfig(t, iss)
	cfg = strings.Replace(cfg, "\t\tbearer\n", "\t\tbearer {\n\t\t\tjwt {\n\t\t\t\tdiscovery "+iss+"\n\t\t\t\taudience "+iss+"\n\t\t\t\talgorithms ES256\n\t\t\t}\n\t\t}\n", 1)
	caddytest.NewTester(t).InitServer(cfg, "caddyfile")
	h := &testkit.Harness{T: t, Up: up}
	for _, p := range []string{"/.well-known/oauth-authorization-server", "/.well-known/openid-configuration"} {
		resp, err := http.Get(iss + p)
		if err != nil {
			t.Fatal(err)
		}
		var m map[string]any
		json.NewDecoder(resp.Body).Decode(&m)
		resp.Body.Close()
		if resp.StatusCode != 200 || m["issuer"] != iss || m["token_endpoint"] != iss+"/oauth2/token" || m["jwks_uri"] != iss+"/oauth2/jwks" ||
			m["introspection_endpoint"] != iss+"/oauth2/introspect" || m["revocation_endpoint"] != iss+"/oauth2/revoke" || m["dpop_signing_alg_values_supported"] == nil {
			t.Errorf("%s: %d %v", p, resp.StatusCode, m)
		}
	}
	ctx := context.Background()
	provider, err := oidc.NewProvider(ctx, iss)
	if err != nil {
		t.Fatalf("go-oidc NewProvider: %v", err)
	}
	cc := clientcredentials.Config{ClientID: "svc", ClientSecret: "svc-secret", TokenURL: provider.Endpoint().TokenURL, Scopes: []string{"internal_user_mgt_list"}}
	tok, err := cc.Token(ctx)
	if err != nil {
		t.Fatalf("x/oauth2 client credentials: %v", err)
	}
	// bearer found the keys through the metadata
	h.Expect("a token checked with discovered keys", 200, true, h.Status("GET", "/api/identity/user/v1.0/me", "Authorization", "Bearer "+tok.AccessToken))
	h.Expect("a forged token", 401, false, h.Status("GET", "/api/identity/user/v1.0/me", "Authorization", "Bearer "+tok.AccessToken[:len(tok.AccessToken)-4]+"AAAA"))
}

// TestTenantTokenService: a tenant's own token service (WSO2's
// /t/{tenant}/oauth2/) issues tokens naming user@tenant, which rest_auth
// places in that tenant.
func TestTenantTokenService(t *testing.T) {
	dir := t.TempDir()
	users := testkit.WriteFile(t, dir, "a.toml", testkit.UsersTOML()+testkit.ClientsTOML())
	res := testkit.WriteFile(t, dir, "deployment.toml", testkit.ResourcesTOML)
	up := testkit.NewUpstream(t)
	caddytest.NewTester(t).InitServer(`{
	skip_install_trust
	admin localhost:2999
	http_port 9080
	grace_period 1ns
}
http://127.0.0.1:9080 {
	oauth2_server {
		issuer http://127.0.0.1:9080/t/a.com
		base_path /t/a.com/oauth2
		users `+users+`
		tenant a.com
	}
	rest_auth {
		users `+users+`
		resources `+res+`
		tenant a.com {
			users `+users+`
		}
		bearer
	}
	reverse_proxy `+up.Addr()+`
}
`, "caddyfile")
	h := &testkit.Harness{T: t, Up: up}
	form := url.Values{"grant_type": {"password"}, "username": {"alice"}, "password": {"alice-pw"}}
	req, _ := http.NewRequest("POST", "http://127.0.0.1:9080/t/a.com/oauth2/token", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth("app", url.QueryEscape("app secret/+&"))
	resp, err := testkit.Fresh.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var out map[string]any
	json.NewDecoder(resp.Body).Decode(&out)
	resp.Body.Close()
	at, _ := out["access_token"].(string)
	if resp.StatusCode != 200 || at == "" {
		t.Fatalf("a.com's password grant: %d %v", resp.StatusCode, out)
	}
	body, _ := base64.RawURLEncoding.DecodeString(strings.Split(at, ".")[1])
	if !strings.Contains(string(body), `"sub":"alice@a.com"`) || !strings.Contains(string(body), `"iss":"http://127.0.0.1:9080/t/a.com"`) {
		t.Errorf("claims %s", body)
	}
	h.Expect("a.com's token in a.com", 200, true, h.Status("GET", "/t/a.com/scim2/Users", "Authorization", "Bearer "+at))
	h.Expect("a.com's token in the super tenant", 401, false, h.Status("GET", "/scim2/Users", "Authorization", "Bearer "+at))
	if r, err := http.Get("http://127.0.0.1:9080/.well-known/oauth-authorization-server/t/a.com"); err != nil || r.StatusCode != 200 {
		t.Errorf("the tenant's metadata (RFC 8414 with the issuer's path): %v %v", err, r)
	} else {
		r.Body.Close()
	}
}

package caddyauth_test

import (
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2/caddytest"
	"github.com/restauth/caddy-restauth/internal/testkit"
	"golang.org/x/crypto/bcrypt"
)

func TestAdminAPI(t *testing.T) {
	dir := t.TempDir()
	users := testkit.WriteFile(t, dir, "users.toml", testkit.UsersTOML())
	res := testkit.WriteFile(t, dir, "deployment.toml", testkit.ResourcesTOML)
	h := testkit.StartCaddy(t, strings.NewReplacer("USERS", users, "RESOURCES", res).Replace(`
		name api
		users USERS
		resources RESOURCES
		resource /first/* GET /permission/admin/login
		bearer {
			introspect {
				endpoint http://127.0.0.1:1/introspect
				client_id rs
				client_secret very-secret-value
			}
		}
		basic
`))
	_ = h

	t.Run("list", func(t *testing.T) {
		code, body := testkit.AdminCall(t, "GET", "/rest-auth/", "")
		if code != 200 {
			t.Fatalf("%d %s", code, body)
		}
		var out struct {
			Handlers []struct {
				Name     string
				Settings map[string]any
				Rules    []struct{ Context, Source string }
				Roles    []struct{ Name string }
				Users    []map[string]any
			}
		}
		if err := json.Unmarshal([]byte(body), &out); err != nil {
			t.Fatal(err)
		}
		if len(out.Handlers) != 1 || out.Handlers[0].Name != "api" {
			t.Fatalf("handlers: %s", body)
		}
		hi := out.Handlers[0]
		if hi.Rules[0].Source != "Caddyfile:14" || !strings.HasSuffix(hi.Rules[1].Source, "deployment.toml:6") {
			t.Errorf("rule sources: %+v", hi.Rules[:2])
		}
		if len(hi.Roles) != 5 || len(hi.Users) != 6 {
			t.Errorf("%d roles, %d users", len(hi.Roles), len(hi.Users))
		}
		if strings.Contains(body, "$2a$") || strings.Contains(body, "very-secret-value") || !strings.Contains(body, "[redacted]") {
			t.Errorf("hashes or secrets in the listing: %s", body)
		}
	})

	t.Run("check", func(t *testing.T) {
		cases := []struct {
			req     string
			allowed bool
			status  int
			reason  string
			source  string
		}{
			{`{"method":"GET","path":"/scim2/Users","user":"alice"}`, true, 200, "authz.granted", "deployment.toml:11"},
			{`{"method":"GET","path":"/scim2/Users","user":"bob"}`, false, 403, "authz.denied", "deployment.toml:11"},
			{`{"method":"GET","path":"/scim2/Users","user":"mallory"}`, false, 401, "basic.invalid", ""},
			{`{"method":"GET","path":"/scim2/Users","roles":["usermgt"],"auth_method":"client_cert"}`, false, 401, "cred.missing", ""},
			{`{"method":"GET","path":"/scoped","scopes":["internal_user_mgt_list"],"auth_method":"bearer"}`, true, 200, "authz.granted", ""},
			{`{"method":"GET","path":"/scoped","scopes":["x"]}`, false, 403, "authz.denied", ""},
			{`{"method":"GET","path":"/public/x"}`, true, 200, "rule.unsecured", ""},
			{`{"method":"GET","path":"/nowhere","user":"admin"}`, false, 401, "authz.no_rule", ""},
			{`{"method":"GET","path":"/a/../scim2/Users","user":"admin"}`, false, 400, "path.noncanonical", ""},
			{`{"handler":"api","method":"GET","path":"/first/x","user":"bob"}`, true, 200, "authz.granted", "Caddyfile:14"},
		}
		for _, c := range cases {
			code, body := testkit.AdminCall(t, "POST", "/rest-auth/check", c.req)
			var d struct {
				Allowed bool
				Status  int
				Reason  string
				Rule    *struct{ Source string }
			}
			if code != 200 || json.Unmarshal([]byte(body), &d) != nil {
				t.Fatalf("%s: %d %s", c.req, code, body)
			}
			if d.Allowed != c.allowed || d.Status != c.status || d.Reason != c.reason {
				t.Errorf("%s: %s", c.req, body)
			}
			if c.source != "" && (d.Rule == nil || !strings.HasSuffix(d.Rule.Source, c.source)) {
				t.Errorf("%s: rule source in %s, want %s", c.req, body, c.source)
			}
		}
		for req, want := range map[string]int{
			`{"handler":"nope","path":"/x"}`: 400,
			`{"path":"/x","bogus":1}`:        400,
			`not json`:                       400,
		} {
			if code, body := testkit.AdminCall(t, "POST", "/rest-auth/check", req); code != want {
				t.Errorf("%s: %d %s, want %d", req, code, body, want)
			}
		}
		if code, _ := testkit.AdminCall(t, "GET", "/rest-auth/check", ""); code != 405 {
			t.Errorf("GET check: %d", code)
		}
	})

	t.Run("reload", func(t *testing.T) {
		A := "Authorization"
		h.Expect("bob before", 403, false, h.Status("GET", "/scim2/Users", A, testkit.Basic("bob", "bob-pw")))
		good := strings.Replace(testkit.UsersTOML(), `roles = ["login"]`+"\n\n[[users]]\nusername = \"dave\"", `roles = ["usermgt"]`+"\n\n[[users]]\nusername = \"dave\"", 1)
		if good == testkit.UsersTOML() {
			t.Fatal("test setup: bob's roles not found")
		}
		// a broken file is refused and the running policy stays
		os.WriteFile(users, []byte(good+"\n[[users]]\nusername = \"x\"\nbogus = 1\n"), 0o600)
		code, body := testkit.AdminCall(t, "POST", "/rest-auth/reload", `{"handler":"api"}`)
		if code != 400 || !strings.Contains(body, "users.toml") || !strings.Contains(body, "bogus") {
			t.Errorf("broken reload: %d %s", code, body)
		}
		h.Expect("bob after a refused reload", 403, false, h.Status("GET", "/scim2/Users", A, testkit.Basic("bob", "bob-pw")))
		os.WriteFile(users, []byte(good), 0o600)
		code, body = testkit.AdminCall(t, "POST", "/rest-auth/reload", ``)
		if code != 200 || !strings.Contains(body, `"name": "api"`) || !strings.Contains(body, `"users": 6`) {
			t.Errorf("reload: %d %s", code, body)
		}
		h.Expect("bob after the reload", 200, true, h.Status("GET", "/scim2/Users", A, testkit.Basic("bob", "bob-pw")))
	})

	t.Run("metrics", func(t *testing.T) {
		h.Do("GET", "/scim2/Users", "Authorization", testkit.Basic("alice", "alice-pw"))
		h.Do("GET", "/scim2/Users", "Authorization", testkit.Basic("alice", "alice-pw"))
		h.Do("GET", "/scim2/Users")
		code, body := testkit.AdminCall(t, "GET", "/metrics", "")
		if code != 200 {
			t.Fatalf("/metrics: %d", code)
		}
		for _, want := range []string{
			`caddy_rest_auth_decisions_total{auth_method="basic",handler="api",outcome="granted",reason="authz.granted"}`,
			`caddy_rest_auth_decisions_total{auth_method="",handler="api",outcome="denied",reason="cred.missing"}`,
			`caddy_rest_auth_authentication_seconds_bucket{auth_method="basic"`,
			`caddy_rest_auth_cache_lookups_total{cache="basic",result="hit"}`,
			`caddy_rest_auth_policy_reloads_total{result="error"}`,
		} {
			if !strings.Contains(body, want) {
				t.Errorf("/metrics lacks %s", want)
			}
		}
	})

	t.Run("concurrent reloads under load", func(t *testing.T) {
		var wg sync.WaitGroup
		var bad atomic.Int64
		stop := make(chan struct{})
		for w := 0; w < 4; w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for {
					select {
					case <-stop:
						return
					default:
					}
					resp, _ := h.Do("GET", "/scim2/Users", "Authorization", testkit.Basic("alice", "alice-pw"))
					if resp.StatusCode != 200 {
						bad.Add(1)
					}
				}
			}()
		}
		var rw sync.WaitGroup
		for i := 0; i < 20; i++ {
			rw.Add(1)
			go func() {
				defer rw.Done()
				if code, body := testkit.AdminCall(t, "POST", "/rest-auth/reload", `{}`); code != 200 {
					t.Errorf("reload: %d %s", code, body)
				}
			}()
		}
		rw.Wait()
		close(stop)
		wg.Wait()
		if bad.Load() != 0 {
			t.Errorf("%d requests failed during reloads", bad.Load())
		}
	})
}

// TestWatch: with watch, an edited file is picked up; a broken edit is
// logged and the running policy stays.
func TestWatch(t *testing.T) {
	dir := t.TempDir()
	users := testkit.WriteFile(t, dir, "users.toml", testkit.UsersTOML())
	res := testkit.WriteFile(t, dir, "deployment.toml", testkit.ResourcesTOML)
	h := testkit.StartCaddy(t, fmt.Sprintf(`
		users %s
		resources %s
		watch 50ms
`, users, res))
	A := "Authorization"
	h.Expect("no rule yet", 401, false, h.Status("GET", "/new-rule", A, testkit.Basic("bob", "bob-pw")))
	os.WriteFile(res, []byte(testkit.ResourcesTOML+"\n[[resource.access_control]]\ncontext = \"/new-rule\"\nsecure = true\nhttp_method = \"GET\"\n"), 0o600)
	testkit.WaitFor(t, func() bool {
		resp, _ := h.Do("GET", "/new-rule", A, testkit.Basic("bob", "bob-pw"))
		return resp.StatusCode == 200
	})
	os.WriteFile(res, []byte(testkit.ResourcesTOML+"\n[[resource.access_control]]\ncontext = \"/new-rule\"\n"), 0o600) // no http_method: refused
	time.Sleep(300 * time.Millisecond)
	h.Expect("broken edit: the running policy stays", 200, true, h.Status("GET", "/new-rule", A, testkit.Basic("bob", "bob-pw")))
}

// TestAdminReloadAll: reload without a handler reloads every live
// rest_auth handler and every oauth2_server's users files, and answers
// per handler; a handler that is not live, or none where several are, is
// a 400 for check and reload.
func TestAdminReloadAll(t *testing.T) {
	dir := t.TempDir()
	users := testkit.WriteFile(t, dir, "users.toml", testkit.UsersTOML()+testkit.ClientsTOML())
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
		users %[1]s
	}
	rest_auth {
		name one
		users %[1]s
		resources %[2]s
		bearer
	}
	reverse_proxy %[3]s
}
http://127.0.0.1:9081 {
	rest_auth {
		name two
		users %[1]s
		resources %[2]s
	}
	reverse_proxy %[3]s
}
`, users, res, up.Addr()), "caddyfile")
	code, body := testkit.AdminCall(t, "POST", "/rest-auth/reload", `{}`)
	var rep struct {
		Handlers      []struct{ Name string }
		TokenServices []struct{ Issuer string } `json:"token_services"`
	}
	json.Unmarshal([]byte(body), &rep)
	if code != 200 || len(rep.Handlers) != 2 || len(rep.TokenServices) != 1 {
		t.Fatalf("reload everything: %d %s", code, body)
	}
	for req, want := range map[string]int{`{"handler":"two"}`: 200, `{"handler":"three"}`: 400} {
		if code, body := testkit.AdminCall(t, "POST", "/rest-auth/reload", req); code != want {
			t.Errorf("reload %s: %d %s", req, code, body)
		}
	}
	if code, body := testkit.AdminCall(t, "POST", "/rest-auth/check", `{"path":"/x"}`); code != 400 || !strings.Contains(body, `say which with \"handler\"`) {
		t.Errorf("check without a handler where two are live: %d %s", code, body)
	}
	// the token service's clients are read again: a new secret works
	if code, _, _, _ := testkit.OAuthPost(t, "token", url.Values{"grant_type": {"client_credentials"}}, "svc", "new-secret"); code != 401 {
		t.Fatalf("the new secret before the reload: %d", code)
	}
	h, _ := bcrypt.GenerateFromPassword([]byte("new-secret"), 4)
	data, _ := os.ReadFile(users)
	text := strings.Replace(string(data), "client_id = \"svc\"\nsecret = ", "client_id = \"svc\"\nsecret = \""+string(h)+"\"\nxsecret = ", 1)
	text = strings.Replace(text, "\nxsecret = ", "\n# old secret: ", 1)
	os.WriteFile(users, []byte(text), 0o600)
	if code, body := testkit.AdminCall(t, "POST", "/rest-auth/reload", `{}`); code != 200 {
		t.Fatalf("reload: %d %s", code, body)
	}
	if code, _, _, body := testkit.OAuthPost(t, "token", url.Values{"grant_type": {"client_credentials"}}, "svc", "new-secret"); code != 200 {
		t.Errorf("the new secret after the reload: %d %s", code, body)
	}
}

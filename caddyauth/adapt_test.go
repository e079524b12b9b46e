package caddyauth_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig"
	_ "github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	_ "github.com/caddyserver/caddy/v2/modules/standard"
)

// TestAdapt checks that the Caddyfile turns into the JSON a user would write
// by hand, with the directive ordered after basic_auth without an order line.
func TestAdapt(t *testing.T) {
	src := `:8080 {
	respond "ok"
	rest_auth /api/* {
		name api
		users a.toml b.toml
		resources d.toml
		default_access allow
		permission_match any
		cors_preflight off
		forward_identity
		resource /health GET {
			secured false
		}
		resource /admin/* all /permission/admin
		resource /x GET,POST none
		resource /y /permission/a /permission/b
		resource /z {
			scopes s1 s2
			auth_handlers BasicAuthentication
		}
		basic {
			realm api
			throttle 5 30s
		}
	}
	basic_auth /other/* {
		u $2a$04$abcdefghijklmnopqrstuuabcdefghijklmnopqrstuvwxyz01234
	}
}`
	adapter := caddyconfig.GetAdapter("caddyfile")
	out, warnings, err := adapter.Adapt([]byte(src), nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, w := range warnings {
		if !strings.Contains(w.Message, "not formatted") {
			t.Errorf("warning: %v", w)
		}
	}
	routes := srv0Routes(t, out)
	var order []string
	var restAuth string
	for _, r := range routes {
		for _, h := range r.Handle {
			var head struct {
				Handler string `json:"handler"`
				Routes  []struct {
					Handle []json.RawMessage `json:"handle"`
				} `json:"routes"`
			}
			json.Unmarshal(h, &head)
			name := head.Handler
			if name == "subroute" && len(head.Routes) > 0 {
				json.Unmarshal(head.Routes[0].Handle[0], &head)
				name = head.Handler
				h = head.Routes[0].Handle[0]
			}
			order = append(order, name)
			if name == "rest_auth" {
				restAuth = string(h)
			}
		}
	}
	if strings.Join(order, ",") != "authentication,rest_auth,static_response" {
		t.Errorf("handler order %v", order)
	}
	want := `{"authenticators":[{"handler":"basic","realm":"api","throttle_failures":5,"throttle_window":30000000000}],"cors_preflight":false,"default_access":"allow","forward_identity":true,"handler":"rest_auth","name":"api","permission_match":"any","resources":["d.toml"],"rules":[{"methods":["GET"],"path":"/health","secured":false,"source":"Caddyfile:11"},{"path":"/admin/*","permissions":["/permission/admin"],"source":"Caddyfile:14"},{"methods":["GET","POST"],"path":"/x","permissions":["none"],"source":"Caddyfile:15"},{"path":"/y","permissions":["/permission/a","/permission/b"],"source":"Caddyfile:16"},{"auth_handlers":["BasicAuthentication"],"path":"/z","scopes":["s1","s2"],"source":"Caddyfile:17"}],"users":["a.toml","b.toml"]}`
	if restAuth != want {
		t.Errorf("JSON\n got %s\nwant %s", restAuth, want)
	}
}

// adaptRestAuth adapts a site with one rest_auth block and returns the
// handler's JSON.
func adaptRestAuth(t *testing.T, body string) (string, error) {
	t.Helper()
	out, _, err := caddyconfig.GetAdapter("caddyfile").Adapt([]byte(":8080 {\n\trest_auth {\n"+body+"\n\t}\n}"), nil)
	if err != nil {
		return "", err
	}
	return string(srv0Routes(t, out)[0].Handle[0]), nil
}

type route struct {
	Handle []json.RawMessage `json:"handle"`
}

// srv0Routes reads the routes of the first server of adapted JSON.
func srv0Routes(t *testing.T, out []byte) []route {
	t.Helper()
	var cfg struct {
		Apps struct {
			HTTP struct {
				Servers map[string]struct {
					Routes []route `json:"routes"`
				} `json:"servers"`
			} `json:"http"`
		} `json:"apps"`
	}
	if err := json.Unmarshal(out, &cfg); err != nil {
		t.Fatal(err)
	}
	return cfg.Apps.HTTP.Servers["srv0"].Routes
}

func TestAdaptBearer(t *testing.T) {
	got, err := adaptRestAuth(t, `
		bearer {
			realm api
			roles_from token
			cache_size 500
			jwt {
				issuer https://a https://b
				audience api
				jwks_url https://idp/jwks
				algorithms RS256 ES256
				typ at+jwt
				user_claim email
				roles_claim realm_access.roles
				roles_delimiter " "
				leeway 10s
				refresh 2h
				kid_cooldown 1m
			}
			introspect {
				endpoint https://idp/introspect
				client_id rs
				client_secret {env.S}
				timeout 2s
				cache_ttl off
				negative_ttl 1s
				max_concurrent 8
			}
		}`)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"authenticators":[{"cache_size":500,"handler":"bearer","introspect":{"cache_ttl":-1,"client_id":"rs","client_secret":"{env.S}","endpoint":"https://idp/introspect","max_concurrent":8,"negative_ttl":1000000000,"timeout":2000000000},"jwt":[{"algorithms":["RS256","ES256"],"audiences":["api"],"issuers":["https://a","https://b"],"jwks_url":"https://idp/jwks","kid_cooldown":60000000000,"leeway":10000000000,"refresh":7200000000000,"roles_claim":"realm_access.roles","roles_delimiter":" ","types":["at+jwt"],"user_claim":"email"}],"realm":"api","roles_from":"token"}],"handler":"rest_auth"}`
	if got != want {
		t.Errorf("JSON\n got %s\nwant %s", got, want)
	}
}

// TestBearerConfigErrors: a bad bearer setup is refused when the config is
// validated (as caddy validate does), with a message that says what is wrong.
func TestBearerConfigErrors(t *testing.T) {
	dir := t.TempDir()
	rsaPEM := writeFile(t, dir, "rsa.pem", func() string { testKeys(); return pemPublic(t, &rsaKey.PublicKey) }())
	priv := writeFile(t, dir, "priv.pem", "-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEIE0lCmAPWsyD5nNUcvAtCu0CK2X0BNhZxlHw/Dxc/K2A\n-----END PRIVATE KEY-----\n")
	cases := []struct{ body, want string }{
		{"jwt {\n key " + rsaPEM + "\n audience api\n}", "algorithms is required"},
		{"jwt {\n key " + rsaPEM + "\n algorithms RS256\n}", "audience is required"},
		{"jwt {\n key " + rsaPEM + "\n algorithms RS256\n audience any\n audience api\n}", "not both"},
		{"jwt {\n key " + rsaPEM + "\n secret 0123456789abcdef0123456789abcdef\n algorithms RS256\n}", "exactly one of"},
		{"jwt {\n secret short\n algorithms HS256\n audience any\n}", "at least 32 bytes"},
		{"jwt {\n key " + rsaPEM + "\n algorithms HS256\n audience any\n}", "needs a secret"},
		{"jwt {\n secret 0123456789abcdef0123456789abcdef\n algorithms RS256\n audience any\n}", "needs a public key"},
		{"jwt {\n key " + rsaPEM + "\n algorithms none\n audience any\n}", `refused algorithm "none"`},
		{"jwt {\n key " + rsaPEM + "\n algorithms ES256\n audience any\n}", "fits none of the algorithms"},
		{"jwt {\n key " + priv + "\n algorithms EdDSA\n audience any\n}", "never give a private key"},
		{"jwt {\n jwks_url ftp://x\n algorithms RS256\n audience any\n}", "not an http(s) URL"},
		{"jwt {\n key " + rsaPEM + "\n algorithms RS256\n audience any\n}\njwt {\n key " + rsaPEM + "\n algorithms RS256\n issuer x\n audience any\n}", "each needs its issuer"},
		{"introspect {\n client_id x\n}", "endpoint is required"},
		{"roles_from nobody\nintrospect {\n endpoint http://x\n client_id x\n}", "roles_from must be"},
	}
	for _, c := range cases {
		err := validateRestAuth(t, "bearer {\n"+c.body+"\n}")
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q: error %v, want one containing %q", c.body, err, c.want)
		}
	}
}

// validateRestAuth adapts a rest_auth block and validates the config as
// caddy validate does (every module provisioned, nothing started).
func validateRestAuth(t *testing.T, body string) error {
	t.Helper()
	js, err := adaptRestAuth(t, body)
	if err != nil {
		return err
	}
	cfg := `{"apps":{"http":{"servers":{"s":{"listen":[":0"],"routes":[{"handle":[` + js + `]}]}}}}}`
	var config caddy.Config
	if err := json.Unmarshal([]byte(cfg), &config); err != nil {
		t.Fatal(err)
	}
	return caddy.Validate(&config)
}

func TestAdaptClientCert(t *testing.T) {
	got, err := adaptRestAuth(t, `
		client_cert {
			username header X-Gateway-User
			trusted_client "svc\, gateway" other
		}`)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"authenticators":[{"handler":"client_cert","header":"X-Gateway-User","trusted_client":["svc, gateway","other"],"username":"header"}],"handler":"rest_auth"}`
	if got != want {
		t.Errorf("JSON\n got %s\nwant %s", got, want)
	}
	out, _, err := caddyconfig.GetAdapter("caddyfile").Adapt([]byte(`localhost:8444 {
	tls internal {
		client_auth {
			mode require_and_verify
			trust_pool file ca.pem
			verifier cert_cn {
				trusted_issuer_cn "Team A\, Issuing"
				allowed_cn alice
			}
		}
	}
	respond ok
}`), nil)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(out), `"verifiers":[{"allowed_cn":["alice"],"trusted_issuer_cn":["Team A, Issuing"],"verifier":"cert_cn"}]`) {
		t.Errorf("verifier JSON missing in %s", out)
	}
	for body, want := range map[string]string{
		"client_cert {\n username email\n}":          "username: cn, or header",
		"client_cert {\n trusted_issuer_cn x\\FF\n}": "not UTF-8",
		"client_cert {\n frobnicate\n}":              "unknown option",
	} {
		if _, err := adaptRestAuth(t, body); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: %v, want %q", body, err, want)
		}
	}
}

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

// TestCaddyfileMistakes: a Caddyfile error says how to fix it, with the
// closest option for a misspelled one.
func TestCaddyfileMistakes(t *testing.T) {
	for _, c := range []struct{ body, want string }{
		{"watch 5", `watch: "5" is not a duration: write 5s`},
		{"watch soon", `watch: "soon" is not a duration: write it as 30s, 5m or 1h`},
		{"basic {\n throttle 10 1 minute\n}", "throttle: write throttle <failures> <window>, e.g. throttle 10 1m; or throttle off"},
		{"basic {\n throttle 10 60\n}", `throttle: "60" is not a duration: write 60s`},
		{"basic {\n relm api\n}", `basic: unknown option "relm" (did you mean realm?)`},
		{"bsic", `unknown rest_auth option or authenticator "bsic" (did you mean basic?)`},
		{"resourses d.toml", `unknown rest_auth option or authenticator "resourses" (did you mean resources?)`},
		{"resource /x {\n permisions /p\n}", `resource: unknown option "permisions" (did you mean permissions?)`},
		{"bearer {\n jwt {\n audiance api\n }\n}", `jwt: unknown option "audiance" (did you mean audience?)`},
		{"bearer {\n jwt {\n leeway -1s\n }\n}", `leeway: "-1s" must not be negative`},
		{"client_cert {\n usrname cn\n}", `client_cert: unknown option "usrname" (did you mean username?)`},
	} {
		_, err := adaptRestAuth(t, c.body)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q: error %v\nwant one containing %q", c.body, err, c.want)
		}
	}
}

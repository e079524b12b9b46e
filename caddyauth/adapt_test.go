package caddyauth_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2/caddyconfig"
	_ "github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	_ "github.com/caddyserver/caddy/v2/modules/standard"
	"github.com/restauth/caddy-restauth/internal/testkit"
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
	routes := testkit.Srv0Routes(t, out)
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

// TestCaddyfileMistakes: a Caddyfile error says how to fix it, with the
// closest option for a misspelled one.
func TestCaddyfileMistakes(t *testing.T) {
	for _, c := range []struct{ body, want string }{
		{"watch 5", `watch: "5" is not a duration: write 5s`},
		{"watch soon", `watch: "soon" is not a duration: write it as 30s, 5m or 1h`},
		{"basic {\n throttle 10 1 minute\n}", "throttle: write throttle <failures> [<window>], e.g. throttle 10 1m; or throttle off"},
		{"basic {\n throttle 10 60\n}", `throttle: "60" is not a duration: write 60s`},
		{"basic {\n relm api\n}", `basic: unknown option "relm" (did you mean realm?)`},
		{"bsic", `unknown rest_auth option or authenticator "bsic" (did you mean basic?)`},
		{"resourses d.toml", `unknown rest_auth option or authenticator "resourses" (did you mean resources?)`},
		{"resource /x {\n permisions /p\n}", `resource: unknown option "permisions" (did you mean permissions?)`},
		{"bearer {\n jwt {\n audiance api\n }\n}", `jwt: unknown option "audiance" (did you mean audience?)`},
		{"bearer {\n jwt {\n leeway -1s\n }\n}", `leeway: "-1s" must not be negative`},
		{"client_cert {\n usrname cn\n}", `client_cert: unknown option "usrname" (did you mean username?)`},
	} {
		_, err := testkit.AdaptRestAuth(t, c.body)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q: error %v\nwant one containing %q", c.body, err, c.want)
		}
	}
}

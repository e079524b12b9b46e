package caddyauth_test

import (
	"encoding/json"
	"strings"
	"testing"

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
	var cfg struct {
		Apps struct {
			HTTP struct {
				Servers map[string]struct {
					Routes []struct {
						Handle []json.RawMessage `json:"handle"`
					} `json:"routes"`
				} `json:"servers"`
			} `json:"http"`
		} `json:"apps"`
	}
	if err := json.Unmarshal(out, &cfg); err != nil {
		t.Fatal(err)
	}
	routes := cfg.Apps.HTTP.Servers["srv0"].Routes
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
	want := `{"authenticators":[{"handler":"basic","realm":"api","throttle_failures":5,"throttle_window":30000000000}],"cors_preflight":false,"default_access":"allow","forward_identity":true,"handler":"rest_auth","name":"api","permission_match":"any","resources":["d.toml"],"rules":[{"methods":["GET"],"path":"/health","secured":false},{"path":"/admin/*","permissions":["/permission/admin"]},{"methods":["GET","POST"],"path":"/x","permissions":["none"]},{"path":"/y","permissions":["/permission/a","/permission/b"]},{"auth_handlers":["BasicAuthentication"],"path":"/z","scopes":["s1","s2"]}],"users":["a.toml","b.toml"]}`
	if restAuth != want {
		t.Errorf("JSON\n got %s\nwant %s", restAuth, want)
	}
}

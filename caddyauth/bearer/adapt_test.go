package bearer_test

import (
	"strings"
	"testing"

	_ "github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	_ "github.com/caddyserver/caddy/v2/modules/standard"
	"github.com/restauth/caddy-restauth/internal/testkit"
)

func TestAdaptBearer(t *testing.T) {
	got, err := testkit.AdaptRestAuth(t, `
		bearer {
			realm api
			roles_from token
			cache_size 500
			bad_token_limit 50 2m
			bad_token_ipv6_prefix 56
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
	want := `{"authenticators":[{"bad_token_ipv6_prefix":56,"bad_token_limit":50,"bad_token_window":120000000000,"cache_size":500,"handler":"bearer","introspect":{"cache_ttl":-1,"client_id":"rs","client_secret":"{env.S}","endpoint":"https://idp/introspect","max_concurrent":8,"negative_ttl":1000000000,"timeout":2000000000},"jwt":[{"algorithms":["RS256","ES256"],"audiences":["api"],"issuers":["https://a","https://b"],"jwks_url":"https://idp/jwks","kid_cooldown":60000000000,"leeway":10000000000,"refresh":7200000000000,"roles_claim":"realm_access.roles","roles_delimiter":" ","types":["at+jwt"],"user_claim":"email"}],"realm":"api","roles_from":"token"}],"handler":"rest_auth"}`
	if got != want {
		t.Errorf("JSON\n got %s\nwant %s", got, want)
	}
}

// TestBearerConfigErrors: a bad bearer setup is refused when the config is
// validated (as caddy validate does), with a message that says what is wrong.
func TestBearerConfigErrors(t *testing.T) {
	dir := t.TempDir()
	rsaPEM := testkit.WriteFile(t, dir, "rsa.pem", func() string { testKeys(); return pemPublic(t, &rsaKey.PublicKey) }())
	priv := testkit.WriteFile(t, dir, "priv.pem", "-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEIE0lCmAPWsyD5nNUcvAtCu0CK2X0BNhZxlHw/Dxc/K2A\n-----END PRIVATE KEY-----\n")
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
		{"bad_token_limit 0\nbuiltin", "failures must be a positive number"},
		{"bad_token_limit 10 1 minute\nbuiltin", "bad_token_limit <failures> [<window>]"},
		{"bad_token_limit 10 0s\nbuiltin", "must be more than 0s"},
		{"bad_token_ipv6_prefix 129\nbuiltin", "prefix length from 1 to 128"},
		{"roles_from nobody\nintrospect {\n endpoint http://x\n client_id x\n}", "roles_from must be"},
	}
	for _, c := range cases {
		err := testkit.ValidateRestAuth(t, "bearer {\n"+c.body+"\n}")
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q: error %v, want one containing %q", c.body, err, c.want)
		}
	}
}

// TestAdaptBinding: the Caddyfile's DPoP, binding and discovery options.
func TestAdaptBinding(t *testing.T) {
	got, err := testkit.AdaptRestAuth(t, `
		bearer {
			require_binding any
			dpop {
				algorithms ES256 EdDSA
				window 30s
				replay_cache_size 1000
				replay_store redis {
					address 127.0.0.1:6379
				}
				nonce {env.DPOP_NONCE_KEY}
				nonce_lifetime 2m
			}
			jwt {
				discovery https://idp.example
				audience api
				algorithms ES256
			}
		}
		resource /bound/* {
			require_binding mtls
		}`)
	if err != nil {
		t.Fatal(err)
	}
	for _, w := range []string{`"require_binding":"any"`, `"dpop":{"algorithms":["ES256","EdDSA"],"nonce":true,"nonce_key":"{env.DPOP_NONCE_KEY}","nonce_lifetime":120000000000,"replay_cache_size":1000,"replay_store":{"address":"127.0.0.1:6379","store":"redis"},"window":30000000000}`,
		`"discovery":"https://idp.example"`, `"require_binding":"mtls"`} {
		if !strings.Contains(got, w) {
			t.Errorf("%s not in %s", w, got)
		}
	}
	for _, c := range []struct{ body, want string }{
		{"bearer {\nrequire_binding always\n}", "require_binding must be mtls, dpop or any"},
		{"bearer {\nrequire_binding dpop\n}", "needs dpop switched on"},
		{"bearer {\ndpop {\nalgorithms HS256\n}\n}", "not an asymmetric JWS algorithm"},
		{"bearer {\ndpop {\nwindw 1m\n}\n}", "did you mean window"},
		{"bearer\nresource /x/* {\nrequire_binding sometimes\n}", "require_binding must be mtls, dpop or any"},
		{"bearer {\njwt {\ndiscovery https://a\njwks_url https://b\naudience any\nalgorithms ES256\n}\n}", "exactly one of"},
	} {
		if err := testkit.ValidateRestAuth(t, c.body); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q: %v, want %q", c.body, err, c.want)
		}
	}
}

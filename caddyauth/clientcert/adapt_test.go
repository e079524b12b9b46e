package clientcert_test

import (
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2/caddyconfig"
	_ "github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	_ "github.com/caddyserver/caddy/v2/modules/standard"
	"github.com/restauth/caddy-restauth/internal/testkit"
)

func TestAdaptClientCert(t *testing.T) {
	got, err := testkit.AdaptRestAuth(t, `
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
		if _, err := testkit.AdaptRestAuth(t, body); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: %v, want %q", body, err, want)
		}
	}
}

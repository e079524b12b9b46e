package clientcert_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2/caddytest"
	"github.com/go-jose/go-jose/v4"
	"github.com/restauth/caddy-restauth/internal/testkit"
)

// pki is a test CA: a root, two sibling intermediates and leaves.
type pki struct {
	t              *testing.T
	dir            string
	root           *x509.Certificate
	rootKey        *ecdsa.PrivateKey
	teamA, teamB   *x509.Certificate
	teamAK, teamBK *ecdsa.PrivateKey
	serial         int64
}

func newKey(t *testing.T) *ecdsa.PrivateKey {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func (p *pki) sign(tmpl, parent *x509.Certificate, pub any, key *ecdsa.PrivateKey) *x509.Certificate {
	p.serial++
	tmpl.SerialNumber = big.NewInt(p.serial)
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, pub, key)
	if err != nil {
		p.t.Fatal(err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		p.t.Fatal(err)
	}
	return c
}

func caTmpl(cn string) *x509.Certificate {
	return &x509.Certificate{Subject: pkix.Name{CommonName: cn}, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature}
}

func newPKI(t *testing.T) *pki {
	p := &pki{t: t, dir: t.TempDir()}
	p.rootKey, p.teamAK, p.teamBK = newKey(t), newKey(t), newKey(t)
	p.root = p.sign(caTmpl("Test Root CA"), caTmpl("Test Root CA"), &p.rootKey.PublicKey, p.rootKey)
	p.teamA = p.sign(caTmpl("Team A, Issuing"), p.root, &p.teamAK.PublicKey, p.rootKey)
	p.teamB = p.sign(caTmpl("Team B Issuing"), p.root, &p.teamBK.PublicKey, p.rootKey)
	return p
}

func (p *pki) write(name string, blocks ...*pem.Block) string {
	var b []byte
	for _, bl := range blocks {
		b = append(b, pem.EncodeToMemory(bl)...)
	}
	path := filepath.Join(p.dir, name)
	if err := os.WriteFile(path, b, 0o600); err != nil {
		p.t.Fatal(err)
	}
	return path
}

func certPEM(c *x509.Certificate) *pem.Block { return &pem.Block{Type: "CERTIFICATE", Bytes: c.Raw} }

func keyPEM(t *testing.T, k *ecdsa.PrivateKey) *pem.Block {
	der, err := x509.MarshalECPrivateKey(k)
	if err != nil {
		t.Fatal(err)
	}
	return &pem.Block{Type: "EC PRIVATE KEY", Bytes: der}
}

// leaf issues a client certificate. subject is a raw RDN sequence when
// the test needs odd names (two CNs).
type leafOpts struct {
	cn       string
	rawSubj  []byte
	byTeamB  bool
	expired  bool
	selfSign bool
}

func (p *pki) client(o leafOpts) tls.Certificate {
	k := newKey(p.t)
	tmpl := &x509.Certificate{Subject: pkix.Name{CommonName: o.cn}, RawSubject: o.rawSubj,
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}, KeyUsage: x509.KeyUsageDigitalSignature}
	if o.expired {
		tmpl.NotBefore, tmpl.NotAfter = time.Now().Add(-48*time.Hour), time.Now().Add(-24*time.Hour)
	}
	parent, pk, inter := p.teamA, p.teamAK, p.teamA
	if o.byTeamB {
		parent, pk, inter = p.teamB, p.teamBK, p.teamB
	}
	if o.selfSign {
		parent, pk, inter = tmpl, k, nil
	}
	c := p.sign(tmpl, parent, &k.PublicKey, pk)
	chain := [][]byte{c.Raw}
	if inter != nil {
		chain = append(chain, inter.Raw)
	}
	return tls.Certificate{Certificate: chain, PrivateKey: k}
}

// tlsClient talks to 127.0.0.1 with SNI localhost, presenting cert (if any).
func (p *pki) tlsClient(cert *tls.Certificate) *http.Client {
	pool := x509.NewCertPool()
	pool.AddCert(p.root)
	cfg := &tls.Config{RootCAs: pool, ServerName: "localhost"}
	if cert != nil {
		// always send it, even when the server's list of acceptable CAs
		// does not name its issuer (Go's client would otherwise keep it)
		cfg.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return cert, nil }
	}
	d := &net.Dialer{Timeout: 5 * time.Second}
	return &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		TLSClientConfig: cfg,
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			_, port, _ := net.SplitHostPort(addr)
			return d.DialContext(ctx, "tcp", "127.0.0.1:"+port)
		},
	}}
}

func TestClientCert(t *testing.T) {
	p := newPKI(t)
	srvKey := newKey(t)
	srv := p.sign(&x509.Certificate{Subject: pkix.Name{CommonName: "localhost"}, DNSNames: []string{"localhost"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}, p.root, &srvKey.PublicKey, p.rootKey)
	srvCrt := p.write("server-cert.pem", certPEM(srv))
	srvPK := p.write("server-key.pem", keyPEM(t, srvKey))
	rootPEM := p.write("root.pem", certPEM(p.root))

	dir := t.TempDir()
	users := testkit.WriteFile(t, dir, "users.toml", testkit.UsersTOML())
	res := testkit.WriteFile(t, dir, "deployment.toml", testkit.ResourcesTOML)
	up := testkit.NewUpstream(t)
	const boundSecret = "0123456789abcdef0123456789abcdef-bound"
	// a tenant's users: bob of b.com, with a role of that tenant
	bUsers := testkit.WriteFile(t, dir, "b.toml", fmt.Sprintf(`
[[roles]]
name = "b-usermgt"
permissions = ["/permission/admin/manage/identity/usermgt/list"]

[[users]]
username = "bob"
password = %q
roles = ["b-usermgt"]
`, testkit.Hashes()["bob-pw"]))
	site := func(port int, mode, verifier, clientCert string) string {
		return fmt.Sprintf(`
https://localhost:%d {
	tls %s %s {
		client_auth {
			mode %s
			trust_pool file %s
			%s
		}
	}
	rest_auth {
		users %s
		resources %s
		forward_identity
		client_cert {
			%s
		}
		basic
	}
	reverse_proxy %s
}
`, port, srvCrt, srvPK, mode, rootPEM, verifier, users, res, clientCert, up.Addr())
	}
	cfg := `{
	skip_install_trust
	admin localhost:2999
	http_port 9080
	https_port 9443
	grace_period 1ns
	auto_https disable_redirects
}` + site(9443, "verify_if_given", "", `trusted_issuer_cn "Team A\, Issuing"`) +
		site(9444, "request", "", "") +
		site(9445, "require_and_verify", `verifier cert_cn {
				trusted_issuer_cn "Team A, Issuing"
			}`, "") +
		site(9446, "verify_if_given", "", `username header
			trusted_client svc-gateway`) +
		strings.Replace(site(9447, "verify_if_given", "", ""), "forward_identity", "forward_identity\n\t\ttenant b.com {\n\t\t\tusers "+bUsers+"\n\t\t}", 1) +
		strings.Replace(site(9448, "verify_if_given", "", ""), "forward_identity", "forward_identity\n\t\tbearer {\n\t\t\trequire_binding mtls\n\t\t\tjwt {\n\t\t\t\taudience api\n\t\t\t\tsecret "+boundSecret+"\n\t\t\t\talgorithms HS256\n\t\t\t}\n\t\t}", 1)
	// a token service that binds its tokens to the client certificate
	withClients := testkit.WriteFile(t, dir, "clients.toml", testkit.UsersTOML()+testkit.ClientsTOML())
	cfg += fmt.Sprintf(`
https://localhost:9449 {
	tls %s %s {
		client_auth {
			mode verify_if_given
			trust_pool file %s
		}
	}
	oauth2_server {
		issuer https://localhost:9449
		users %s
		certificate_bound_tokens
	}
	rest_auth {
		users %s
		resources %s
		bearer
	}
	reverse_proxy %s
}
`, srvCrt, srvPK, rootPEM, withClients, withClients, res, up.Addr())
	// clients that authenticate with certificates (RFC 8705 section 2)
	selfAdmin := p.client(leafOpts{cn: "admin", selfSign: true})
	selfThumb := func() string {
		sum := sha256.Sum256(selfAdmin.Certificate[0])
		return base64.RawURLEncoding.EncodeToString(sum[:])
	}()
	certClients := testkit.WriteFile(t, dir, "cert-clients.toml", testkit.UsersTOML()+`
[[clients]]
client_id = "svc-tls"
token_endpoint_auth_method = "tls_client_auth"
tls_client_auth_subject_dn = "CN=alice"
grant_types = ["client_credentials"]

[[clients]]
client_id = "svc-self"
token_endpoint_auth_method = "self_signed_tls_client_auth"
tls_client_certificate_sha256 = "`+selfThumb+`"
grant_types = ["client_credentials"]
`)
	for _, x := range []struct {
		port int
		mode string
	}{{9450, "verify_if_given"}, {9451, "request"}} {
		cfg += fmt.Sprintf(`
https://localhost:%d {
	tls %s %s {
		client_auth {
			mode %s
			trust_pool file %s
		}
	}
	oauth2_server {
		issuer https://localhost:%d
		users %s
	}
	rest_auth {
		users %s
		resources %s
		bearer
	}
	reverse_proxy %s
}
`, x.port, srvCrt, srvPK, x.mode, rootPEM, x.port, certClients, certClients, res, up.Addr())
	}
	// trust_pool file in "request" mode still builds a pool; the mode
	// (file names avoid .crt and .key: caddytest rewrites such paths)
	// decides that nothing is verified.
	tester := caddytest.NewTester(t)
	tester.InitServer(cfg, "caddyfile")
	h := &testkit.Harness{T: t, Up: up}

	alice := p.client(leafOpts{cn: "alice"})
	carol := p.client(leafOpts{cn: "carol"})
	bobB := p.client(leafOpts{cn: "bob", byTeamB: true})
	gateway := p.client(leafOpts{cn: "svc-gateway"})
	expired := p.client(leafOpts{cn: "alice", expired: true})
	twoCN, _ := asn1.Marshal(pkix.RDNSequence{
		{{Type: asn1.ObjectIdentifier{2, 5, 4, 3}, Value: "alice"}},
		{{Type: asn1.ObjectIdentifier{2, 5, 4, 3}, Value: "admin"}},
	})
	twoCNs := p.client(leafOpts{rawSubj: twoCN})
	bobAtB := p.client(leafOpts{cn: "bob@b.com"})
	// certificate-bound tokens (RFC 8705), signed with go-jose
	thumb := func(c tls.Certificate) string {
		sum := sha256.Sum256(c.Certificate[0])
		return base64.RawURLEncoding.EncodeToString(sum[:])
	}
	boundTo := func(cnf map[string]any) string {
		signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.HS256, Key: []byte(boundSecret)}, nil)
		if err != nil {
			t.Fatal(err)
		}
		c := map[string]any{"sub": "alice", "aud": "api", "exp": time.Now().Add(time.Hour).Unix()}
		if cnf != nil {
			c["cnf"] = cnf
		}
		payload, _ := json.Marshal(c)
		obj, err := signer.Sign(payload)
		if err != nil {
			t.Fatal(err)
		}
		tok, _ := obj.CompactSerialize()
		return "Bearer " + tok
	}
	aliceBound := boundTo(map[string]any{"x5t#S256": thumb(alice)})
	tokenAt := func(port int, c *tls.Certificate, clientID string) (int, string) {
		req, _ := http.NewRequest("POST", fmt.Sprintf("https://localhost:%d/oauth2/token", port), strings.NewReader("grant_type=client_credentials&client_id="+clientID))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		resp, err := p.tlsClient(c).Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var out struct {
			AccessToken string `json:"access_token"`
		}
		json.NewDecoder(resp.Body).Decode(&out)
		return resp.StatusCode, "Bearer " + out.AccessToken
	}
	code, tlsTok := tokenAt(9450, &alice, "svc-tls")
	if code != 200 {
		t.Fatalf("tls_client_auth with alice's certificate: %d", code)
	}
	code, selfTok := tokenAt(9451, &selfAdmin, "svc-self")
	if code != 200 {
		t.Fatalf("self_signed_tls_client_auth: %d", code)
	}
	for _, c := range []struct {
		name string
		port int
		cert *tls.Certificate
		id   string
	}{
		{"tls_client_auth with another subject", 9450, &carol, "svc-tls"},
		{"tls_client_auth without a certificate", 9450, nil, "svc-tls"},
		{"self_signed_tls_client_auth with another certificate", 9451, &alice, "svc-self"},
		{"a secret client with no secret", 9450, &alice, "svc"},
	} {
		if code, _ := tokenAt(c.port, c.cert, c.id); code != 401 {
			t.Errorf("%s: %d, want 401", c.name, code)
		}
	}
	issued := func(c *tls.Certificate) string {
		req, _ := http.NewRequest("POST", "https://localhost:9449/oauth2/token", strings.NewReader("grant_type=client_credentials"))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.SetBasicAuth("svc", "svc-secret")
		resp, err := p.tlsClient(c).Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var out struct {
			AccessToken string `json:"access_token"`
		}
		json.NewDecoder(resp.Body).Decode(&out)
		if out.AccessToken == "" {
			t.Fatalf("no token: %d", resp.StatusCode)
		}
		return "Bearer " + out.AccessToken
	}

	get := func(c *tls.Certificate, port int, path string, headers ...string) func() int {
		return func() int {
			req, _ := http.NewRequest("GET", fmt.Sprintf("https://localhost:%d%s", port, path), nil)
			for i := 0; i+1 < len(headers); i += 2 {
				req.Header.Add(headers[i], headers[i+1])
			}
			resp, err := p.tlsClient(c).Do(req)
			if err != nil {
				return -1 // the handshake failed
			}
			resp.Body.Close()
			return resp.StatusCode
		}
	}
	const users_ = "/scim2/Users"
	const me = "/api/identity/user/v1.0/me"
	cases := []struct {
		name    string
		status  int
		send    func() int
		reached bool
	}{
		{"cn mode: alice by Team A", 200, get(&alice, 9443, users_), true},
		{"mtls-bound token with its certificate", 200, get(&alice, 9448, users_, "Authorization", aliceBound), true},
		{"mtls-bound token with another certificate", 401, get(&carol, 9448, users_, "Authorization", aliceBound), false},
		{"mtls-bound token without a certificate", 401, get(nil, 9448, users_, "Authorization", aliceBound), false},
		{"require_binding mtls: an unbound token", 401, get(&alice, 9448, users_, "Authorization", boundTo(nil)), false},
		{"token service: a token issued over alice's connection, used with it", 200, get(&alice, 9449, me, "Authorization", issued(&alice)), true},
		{"token service: the same token with carol's certificate", 401, get(&carol, 9449, me, "Authorization", issued(&alice)), false},
		{"token service: the same token without a certificate", 401, get(nil, 9449, me, "Authorization", issued(&alice)), false},
		{"token service: a token issued without a certificate is a bearer token", 200, get(nil, 9449, me, "Authorization", issued(nil)), true},
		{"tls_client_auth: the client's token with its certificate", 200, get(&alice, 9450, me, "Authorization", tlsTok), true},
		{"tls_client_auth: the client's token with another certificate", 401, get(&carol, 9450, me, "Authorization", tlsTok), false},
		{"self-signed: the client's token with its certificate (request mode)", 200, get(&selfAdmin, 9451, me, "Authorization", selfTok), true},
		{"self-signed: the client's token with another certificate", 401, get(&alice, 9451, me, "Authorization", selfTok), false},
		{"tenants: CN=bob@b.com in b.com, with b.com's role", 200, get(&bobAtB, 9447, "/t/b.com"+users_), true},
		{"tenants: CN=bob@b.com in the super tenant", 401, get(&bobAtB, 9447, users_), false},
		{"tenants: CN=alice (a super-tenant user) in b.com", 401, get(&alice, 9447, "/t/b.com"+users_), false},
		{"cn mode: unknown user is signed in without roles", 403, get(&carol, 9443, users_), false},
		{"cn mode: unknown user, rule for any signed-in user", 200, get(&carol, 9443, me), true},
		{"cn mode: issuer CN not trusted (sibling intermediate)", 401, get(&bobB, 9443, users_), false},
		{"cn mode: two CNs", 401, get(&twoCNs, 9443, me), false},
		{"expired certificate fails at TLS", -1, get(&expired, 9443, me), false},
		{"self-signed fails at TLS when verifying", -1, get(&selfAdmin, 9443, me), false},
		{"no certificate, no credentials", 401, get(nil, 9443, me), false},
		{"no certificate, Basic still works", 200, get(nil, 9443, me, "Authorization", testkit.Basic("bob", "bob-pw")), true},
		{"mode request: self-signed admin is never authenticated", 401, get(&selfAdmin, 9444, me), false},
		{"mode request: even a good certificate is unverified", 401, get(&alice, 9444, me), false},
		{"verifier cert_cn: Team A passes", 200, get(&alice, 9445, users_), true},
		{"verifier cert_cn: Team B refused at the handshake", -1, get(&bobB, 9445, me), false},
		{"header mode: the gateway names alice", 200, get(&gateway, 9446, users_, "WSO2-Identity-User", "alice"), true},
		{"header mode: the gateway names bob (bob's permissions)", 403, get(&gateway, 9446, users_, "WSO2-Identity-User", "bob"), false},
		{"header mode: untrusted client names admin", 401, get(&alice, 9446, users_, "WSO2-Identity-User", "admin"), false},
		{"header mode: trusted client names nobody", 401, get(&gateway, 9446, me), false},
		{"header mode: two user fields", 400, get(&gateway, 9446, me, "WSO2-Identity-User", "alice", "WSO2-Identity-User", "admin"), false},
		{"header mode: a list is one (unknown) user", 403, get(&gateway, 9446, users_, "WSO2-Identity-User", "alice,admin"), false},
		{"header mode: user names are exact", 403, get(&gateway, 9446, users_, "WSO2-Identity-User", "Alice"), false},
		{"header without a certificate is ignored", 401, get(nil, 9446, me, "WSO2-Identity-User", "admin"), false},
	}
	for _, c := range cases {
		h.Expect(c.name, c.status, c.reached, c.send)
	}

	// identity headers and the user field never reach the upstream
	h.Expect("spoofed identity headers", 200, true, get(&gateway, 9446, me,
		"WSO2-Identity-User", "alice", "X-Restauth-User", "admin", "x_restauth_roles", "admin", "WSO2_Identity_User", "admin"))
	last, _ := up.Last()
	if last.Get("X-Restauth-User") != "alice" || last.Get("X-Restauth-Auth-Method") != "client_cert" {
		t.Errorf("forwarded identity: %v", last)
	}
	for name := range last {
		if n := strings.ToLower(strings.ReplaceAll(name, "_", "-")); n == "wso2-identity-user" || (strings.HasPrefix(n, "x-restauth-") && last.Get(name) == "admin") {
			t.Errorf("the upstream received %s: %q", name, last.Values(name))
		}
	}
	h.Expect("user field on an unsecured path", 200, true, get(nil, 9446, "/public/x", "WSO2-Identity-User", "admin"))
	if last, _ := up.Last(); last.Get("Wso2-Identity-User") != "" {
		t.Errorf("the user field reached the upstream on an unsecured path: %q", last.Get("Wso2-Identity-User"))
	}
}

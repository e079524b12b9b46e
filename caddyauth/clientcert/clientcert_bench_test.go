package clientcert

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/restauth/caddy-restauth/caddyauth"
	"github.com/restauth/caddy-restauth/caddyauth/filestore"
	"github.com/restauth/caddy-restauth/permissions"
)

// BenchmarkClientCert measures what client_cert adds to a request on a
// kept-alive mTLS connection: the handshake is paid once per connection,
// so this is reading the verified chain's identity and the user's roles.
func BenchmarkClientCert(b *testing.B) {
	s, err := caddyauth.NewSnapshot(nil, &permissions.Users{
		Roles: []permissions.Role{{Name: "r", Permissions: []string{"/permission"}}},
		Users: []permissions.User{{Name: "alice", Hash: "$2a$04$abcdefghijklmnopqrstuuabcdefghijklmnopqrstuvwxyz01234", Roles: []string{"r"}}},
	}, permissions.Options{}, &filestore.FileStore{})
	if err != nil {
		b.Fatal(err)
	}
	k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "alice", Organization: []string{"Acme"}},
		Issuer: pkix.Name{CommonName: "Team A"}, NotBefore: time.Now(), NotAfter: time.Now().Add(time.Hour)}
	der, _ := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &k.PublicKey, k)
	leaf, _ := x509.ParseCertificate(der)
	req := httptest.NewRequest("GET", "/", nil)
	req.TLS = &tls.ConnectionState{PeerCertificates: []*x509.Certificate{leaf}, VerifiedChains: [][]*x509.Certificate{{leaf}}}
	for _, mode := range []string{"cn", "header"} {
		c := &ClientCert{Username: mode, warnOnce: new(sync.Once), ids: &identityCache{ids: map[*x509.Certificate]*identityResult{}}}
		if mode == "header" {
			c.Header, c.headerName, c.TrustedClient = "WSO2-Identity-User", "Wso2-Identity-User", []string{"alice"}
			req.Header.Set("WSO2-Identity-User", "alice")
		}
		b.Run(mode, func(b *testing.B) {
			b.ReportAllocs()
			for i := 0; i < b.N; i++ {
				if _, err := c.Authenticate(req, s); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

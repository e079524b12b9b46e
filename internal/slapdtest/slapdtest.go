// Package slapdtest runs a real OpenLDAP slapd for tests: a config and
// the entries in a temp dir, slapd in the foreground on a free 127.0.0.1
// port, stopped by its PID. Under CI=true a missing slapd fails the test;
// elsewhere the test is skipped with the command that installs it.
package slapdtest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha1"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-ldap/ldap/v3"
)

// Suffix is the directory's base DN; Admin and AdminPassword its root.
const (
	Suffix        = "dc=example,dc=org"
	Admin         = "cn=admin," + Suffix
	AdminPassword = "admin-secret"
)

// Binary is slapd's path, or the test fails (CI) or is skipped.
func Binary(t testing.TB) string {
	t.Helper()
	for _, p := range []string{"/usr/sbin/slapd", "/usr/local/libexec/slapd"} {
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	if p, err := exec.LookPath("slapd"); err == nil {
		return p
	}
	msg := "slapd is not installed (apt-get install slapd ldap-utils)"
	if os.Getenv("CI") == "true" {
		t.Fatal(msg)
	}
	t.Skip(msg)
	return ""
}

// Options are what a server starts with.
type Options struct {
	// LDIF is loaded with slapadd before the server starts (the suffix
	// entry is added first).
	LDIF string
	// MemberOf loads the memberof overlay: groupOfNames members added
	// later (Server.Add) get memberOf on their entries.
	MemberOf bool
	// TLS, when set, serves StartTLS with a certificate for 127.0.0.1
	// and localhost signed by a test CA (Server.CAFile).
	TLS bool
}

// Server is a running slapd.
type Server struct {
	URL    string // ldap://127.0.0.1:<port>
	Addr   string
	CAFile string // with Options.TLS

	t    testing.TB
	bin  string
	dir  string
	conf string
	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan struct{}
}

// Start writes a config and the entries into a temp dir and starts slapd
// on a free port; it is stopped when the test ends.
func Start(t testing.TB, o Options) *Server {
	t.Helper()
	s := &Server{t: t, bin: Binary(t), dir: t.TempDir()}
	if err := os.Mkdir(filepath.Join(s.dir, "db"), 0o700); err != nil {
		t.Fatal(err)
	}
	var tlsConf string
	if o.TLS {
		tlsConf = s.writeTLS()
	}
	overlay := ""
	mods := "moduleload back_mdb\n"
	if o.MemberOf {
		mods += "moduleload memberof\n"
		overlay = "overlay memberof\nmemberof-refint true\n"
	}
	conf := fmt.Sprintf(`include /etc/ldap/schema/core.schema
include /etc/ldap/schema/cosine.schema
include /etc/ldap/schema/inetorgperson.schema
include /etc/ldap/schema/nis.schema
modulepath /usr/lib/ldap
%s
pidfile %s/slapd.pid
%s
database mdb
maxsize 268435456
suffix "%s"
rootdn "%s"
rootpw %s
directory %s/db
index uid,cn eq
index member eq
index objectClass eq
access to attrs=userPassword by self write by anonymous auth by * none
access to * by * read
%s`, mods, s.dir, tlsConf, Suffix, Admin, SSHA(AdminPassword), s.dir, overlay)
	s.conf = filepath.Join(s.dir, "slapd.conf")
	if err := os.WriteFile(s.conf, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	ldif := filepath.Join(s.dir, "data.ldif")
	data := fmt.Sprintf("dn: %s\nobjectClass: dcObject\nobjectClass: organization\no: Example\ndc: example\n\n%s", Suffix, o.LDIF)
	if err := os.WriteFile(ldif, []byte(data), 0o600); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(strings.TrimSuffix(s.bin, "slapd")+"slapadd", "-f", s.conf, "-l", ldif).CombinedOutput(); err != nil {
		// slapadd is slapd under another name
		if out2, err2 := exec.Command(s.bin, "-T", "add", "-f", s.conf, "-l", ldif).CombinedOutput(); err2 != nil {
			t.Fatalf("slapadd: %v\n%s\n%s", err, out, out2)
		}
	}
	s.Addr = freeAddr(t)
	s.URL = "ldap://" + s.Addr
	s.run()
	t.Cleanup(s.Stop)
	return s
}

// freeAddr is a 127.0.0.1 port nothing listens on now.
func freeAddr(t testing.TB) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}

// run starts slapd in the foreground and waits until it answers.
func (s *Server) run() {
	s.t.Helper()
	cmd := exec.Command(s.bin, "-f", s.conf, "-h", s.URL+"/", "-d", "0")
	cmd.Stdout, cmd.Stderr = io.Discard, io.Discard
	if err := cmd.Start(); err != nil {
		s.t.Fatalf("starting slapd: %v", err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	s.mu.Lock()
	s.cmd, s.done = cmd, done
	s.mu.Unlock()
	deadline := time.Now().Add(15 * time.Second)
	for {
		if c, err := ldap.DialURL(s.URL); err == nil {
			err = c.Bind(Admin, AdminPassword)
			c.Close()
			if err == nil {
				return
			}
		}
		select {
		case <-done:
			s.t.Fatalf("slapd exited at start (config %s)", s.conf)
		default:
		}
		if time.Now().After(deadline) {
			s.t.Fatal("slapd did not answer within 15 s")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Stop kills slapd by its PID and waits for it; a stopped server can be
// started again on the same port (Restart).
func (s *Server) Stop() {
	s.mu.Lock()
	cmd, done := s.cmd, s.done
	s.cmd = nil
	s.mu.Unlock()
	if cmd == nil {
		return
	}
	_ = cmd.Process.Kill()
	<-done
}

// Restart starts a stopped server again on its port, with its data.
func (s *Server) Restart() {
	s.t.Helper()
	s.run()
}

// Conn is a connection bound as the directory's root, for changing
// entries during a test.
func (s *Server) Conn() *ldap.Conn {
	s.t.Helper()
	c, err := ldap.DialURL(s.URL)
	if err != nil {
		s.t.Fatal(err)
	}
	if err := c.Bind(Admin, AdminPassword); err != nil {
		c.Close()
		s.t.Fatal(err)
	}
	return c
}

// SSHA is a salted SHA-1 userPassword value ({SSHA}), as slappasswd
// writes it.
func SSHA(password string) string {
	salt := make([]byte, 8)
	_, _ = rand.Read(salt)
	h := sha1.New()
	h.Write([]byte(password))
	h.Write(salt)
	return "{SSHA}" + base64.StdEncoding.EncodeToString(append(h.Sum(nil), salt...))
}

// writeTLS makes a CA and a server certificate for 127.0.0.1 and
// localhost, and returns the config lines that serve them.
func (s *Server) writeTLS() string {
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	ca := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "slapdtest CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, ca, ca, &caKey.PublicKey, caKey)
	if err != nil {
		s.t.Fatal(err)
	}
	caCert, _ := x509.ParseCertificate(caDER)
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	leaf := &x509.Certificate{
		SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "localhost"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		DNSNames: []string{"localhost"}, IPAddresses: []net.IP{net.ParseIP("127.0.0.1")},
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, leaf, caCert, &key.PublicKey, caKey)
	if err != nil {
		s.t.Fatal(err)
	}
	keyDER, _ := x509.MarshalPKCS8PrivateKey(key)
	write := func(name, typ string, b []byte) string {
		p := filepath.Join(s.dir, name)
		if err := os.WriteFile(p, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: b}), 0o600); err != nil {
			s.t.Fatal(err)
		}
		return p
	}
	s.CAFile = write("ca.pem", "CERTIFICATE", caDER)
	cert := write("server.pem", "CERTIFICATE", der)
	k := write("server.key", "PRIVATE KEY", keyDER)
	return fmt.Sprintf("TLSCACertificateFile %s\nTLSCertificateFile %s\nTLSCertificateKeyFile %s\n", s.CAFile, cert, k)
}

// Proxy is a TCP proxy in front of a server that can delay every read,
// to make a directory slow.
type Proxy struct {
	Addr   string
	target string
	l      net.Listener
	mu     sync.Mutex
	delay  time.Duration
}

// NewProxy listens on a free port and forwards to target.
func NewProxy(t testing.TB, target string) *Proxy {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &Proxy{Addr: l.Addr().String(), target: target, l: l}
	go p.serve()
	t.Cleanup(func() { l.Close() })
	return p
}

// SetDelay makes every chunk from the server wait d.
func (p *Proxy) SetDelay(d time.Duration) {
	p.mu.Lock()
	p.delay = d
	p.mu.Unlock()
}

func (p *Proxy) serve() {
	for {
		c, err := p.l.Accept()
		if err != nil {
			return
		}
		go func() {
			up, err := net.Dial("tcp", p.target)
			if err != nil {
				c.Close()
				return
			}
			go func() { _, _ = io.Copy(up, c); up.Close() }()
			buf := make([]byte, 32*1024)
			for {
				n, err := up.Read(buf)
				if n > 0 {
					p.mu.Lock()
					d := p.delay
					p.mu.Unlock()
					time.Sleep(d)
					if _, werr := c.Write(buf[:n]); werr != nil {
						break
					}
				}
				if err != nil {
					break
				}
			}
			c.Close()
			up.Close()
		}()
	}
}

package caddyauth

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/certmagic"
	"go.uber.org/zap"
	"golang.org/x/crypto/bcrypt"

	"github.com/restauth/caddy-restauth/permissions"
)

// Regression tests for the outside review (issue 13) that look inside
// the package; the others are in review_test.go.

// TestReview3LeewayJSON: in JSON an explicit leeway of 0 is strict, and
// differs from leaving leeway out (30 s).
func TestReview3LeewayJSON(t *testing.T) {
	for _, c := range []struct {
		js   string
		want time.Duration
	}{
		{`{"leeway":0}`, 0},
		{`{}`, 30 * time.Second},
		{`{"leeway":"5s"}`, 5 * time.Second},
	} {
		var v JWTValidator
		if err := json.Unmarshal([]byte(c.js), &v); err != nil {
			t.Fatal(err)
		}
		if err := v.setup(); err != nil {
			t.Fatal(err)
		}
		if got := time.Duration(*v.Leeway); got != c.want {
			t.Errorf("%s: leeway %v, want %v", c.js, got, c.want)
		}
	}
}

// TestReview13RemoteSymmetricKeys: an oct key in a set fetched from a URL
// is skipped (a file may hold one).
func TestReview13RemoteSymmetricKeys(t *testing.T) {
	oct := `{"kty":"oct","kid":"h","k":"MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWYtdGVzdA"}`
	ed := `{"kty":"OKP","kid":"e","crv":"Ed25519","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}`
	ks, err := parseJWKSet([]byte(`{"keys":[`+oct+`,`+ed+`]}`), false)
	if err != nil || len(ks) != 1 || ks[0].kid != "e" {
		t.Fatalf("remote set: %v %v", ks, err)
	}
	if _, err := parseJWKSet([]byte(`{"keys":[`+oct+`]}`), false); err == nil || !strings.Contains(err.Error(), "symmetric key from a URL is refused") {
		t.Fatalf("remote set of one oct key: %v", err)
	}
	if ks, err := parseJWKSet([]byte(`{"keys":[`+oct+`]}`), true); err != nil || len(ks) != 1 {
		t.Fatalf("file: %v %v", ks, err)
	}
}

// testService is a token service on an issuer, with the users and clients
// of a users file, as Provision would set it up (without a caddy.Context).
func testService(t *testing.T, iss *oauthIssuer, usersFile string) *TokenService {
	t.Helper()
	u, err := loadTokenUsers([]string{usersFile})
	if err != nil {
		t.Fatal(err)
	}
	ts := &TokenService{Issuer: iss.issuer, BasePath: "/oauth2", Audience: iss.audience, AccessTTL: caddy.Duration(time.Hour),
		RefreshTTL: caddy.Duration(time.Hour), iss: iss, logger: zap.NewNop(), users: new(atomic.Pointer[tokenUsers])}
	ts.users.Store(u)
	return ts
}

// post sends a form to one of a service's endpoints as client app.
func (ts *TokenService) post(t *testing.T, endpoint string, kv ...string) (int, map[string]any) {
	t.Helper()
	v := url.Values{}
	for i := 0; i+1 < len(kv); i += 2 {
		v.Set(kv[i], kv[i+1])
	}
	r := httptest.NewRequest("POST", "/oauth2/"+endpoint, strings.NewReader(v.Encode()))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	r.SetBasicAuth("app", "app-secret")
	w := httptest.NewRecorder()
	if err := ts.ServeHTTP(w, r, nil); err != nil {
		t.Fatal(err)
	}
	var out map[string]any
	json.Unmarshal(w.Body.Bytes(), &out)
	return w.Code, out
}

func reviewUsers(t *testing.T) string {
	t.Helper()
	pw, _ := bcrypt.GenerateFromPassword([]byte("alice-pw"), 4)
	secret, _ := bcrypt.GenerateFromPassword([]byte("app-secret"), 4)
	path := filepath.Join(t.TempDir(), "users.toml")
	data := fmt.Sprintf(`
[[roles]]
name = "r"
scopes = ["s"]

[[users]]
username = "alice"
password = %q
roles = ["r"]

[[clients]]
client_id = "app"
secret = %q
grant_types = ["password", "refresh_token"]
scopes = ["s"]
`, pw, secret)
	if err := os.WriteFile(path, []byte(data), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestReview8SharedStorage: two instances on one storage. A key rotated
// on one verifies on the other at once (an unknown kid reads the ring
// again), and a refresh family revoked on one cannot be refreshed on the
// other, before any periodic sync.
func TestReview8SharedStorage(t *testing.T) {
	st := &certmagic.FileStorage{Path: t.TempDir()}
	a, err := newOAuthIssuer(st, zap.NewNop(), "https://id.test", "ES256", []string{"api"}, time.Hour, 720*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Destruct()
	b, err := newOAuthIssuer(st, zap.NewNop(), "https://id.test", "ES256", []string{"api"}, time.Hour, 720*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Destruct()

	// a rotates (as its loop would once the key is old)
	keys, err := syncKeys(context.Background(), st, a.prefix, "ES256", time.Nanosecond, time.Hour)
	if err != nil || len(keys) != 2 {
		t.Fatalf("rotation: %d keys, %v", len(keys), err)
	}
	a.ring.set(keys)
	tok, _, err := a.sign("alice", "app", "s", "", false)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.verify(tok); err != nil {
		t.Fatalf("a token under the key rotated in on the other instance: %v", err)
	}

	// a family revoked through one instance, refreshed through the other
	users := reviewUsers(t)
	sa, sb := testService(t, a, users), testService(t, b, users)
	code, out := sa.post(t, "token", "grant_type", "password", "username", "alice", "password", "alice-pw")
	rt, _ := out["refresh_token"].(string)
	if code != 200 || rt == "" {
		t.Fatalf("password grant: %d %v", code, out)
	}
	if code, out := sa.post(t, "revoke", "token", rt); code != 200 {
		t.Fatalf("revoke: %d %v", code, out)
	}
	if code, out := sb.post(t, "token", "grant_type", "refresh_token", "refresh_token", rt); code != 400 {
		t.Errorf("refresh on the other instance after a revocation: %d %v", code, out)
	}
}

// TestReview9UnknownUserCost: in a store with mixed hash costs, unknown
// names are checked against each cost in proportion to the accounts that
// use it, each name always against the same one.
func TestReview9UnknownUserCost(t *testing.T) {
	low := permissions.HashParams{Algorithm: permissions.Bcrypt, Cost: 4}
	high := permissions.HashParams{Algorithm: permissions.Bcrypt, Cost: 5}
	s, err := newStandIns([]permissions.HashParams{low, low, low, high})
	if err != nil {
		t.Fatal(err)
	}
	n, atHigh := 4000, 0
	for i := 0; i < n; i++ {
		name := fmt.Sprint("nobody-", i)
		a := s.pick(name)
		if a != s.pick(name) {
			t.Fatal("a name's stand-in changes")
		}
		if a.params == high {
			atHigh++
		}
	}
	if share := float64(atHigh) / float64(n); share < 0.2 || share > 0.3 {
		t.Errorf("%.3f of unknown names cost what the one high-cost user costs, want about 0.25", share)
	}
}

// TestReview10RefreshSweep: refresh records whose family has ended are
// deleted in the background, used or not; live ones stay.
func TestReview10RefreshSweep(t *testing.T) {
	st := &certmagic.FileStorage{Path: t.TempDir()}
	o, err := newOAuthIssuer(st, zap.NewNop(), "https://id.test", "ES256", []string{"api"}, time.Hour, 720*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	defer o.Destruct()
	past, future := time.Now().Add(-time.Minute), time.Now().Add(time.Hour)
	for _, rec := range []refreshRecord{{Family: "a", Expires: past}, {Family: "b", Expires: past, Used: true},
		{Family: "c", Expires: future, Used: true}, {Family: "d", Expires: future}} {
		if _, err := o.newRefresh(rec); err != nil {
			t.Fatal(err)
		}
	}
	if n := o.sweepRefresh(1); n > 1 {
		t.Fatalf("a batch of 1 deleted %d", n)
	}
	o.sweepRefresh(100)
	left, _ := st.List(context.Background(), o.prefix+"/refresh", false)
	if len(left) != 2 {
		t.Fatalf("%d records left, want the 2 live ones", len(left))
	}
}

// failingStorage fails every Store while fail is set.
type failingStorage struct {
	certmagic.Storage
	fail atomic.Bool
}

func (f *failingStorage) Store(ctx context.Context, key string, value []byte) error {
	if f.fail.Load() {
		return errors.New("disk full")
	}
	return f.Storage.Store(ctx, key, value)
}

// TestReview11RevocationUnsaved: a revocation that could not be stored is
// answered 503, never 200.
func TestReview11RevocationUnsaved(t *testing.T) {
	st := &failingStorage{Storage: &certmagic.FileStorage{Path: t.TempDir()}}
	o, err := newOAuthIssuer(st, zap.NewNop(), "https://id.test", "ES256", []string{"api"}, time.Hour, 720*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	defer o.Destruct()
	ts := testService(t, o, reviewUsers(t))
	_, out := ts.post(t, "token", "grant_type", "password", "username", "alice", "password", "alice-pw")
	st.fail.Store(true)
	for _, tok := range []string{out["access_token"].(string), out["refresh_token"].(string)} {
		if code, out := ts.post(t, "revoke", "token", tok); code != 503 {
			t.Errorf("revoke with the storage failing: %d %v", code, out)
		}
	}
}

// TestReview14ThrottleKeys: IPv6 clients count per /64; a full table
// never drops a blocked key; over-long user names are refused before they
// are counted.
func TestReview14ThrottleKeys(t *testing.T) {
	l := newFailureLimits(2, 0, 0, time.Hour, 64)
	if got := l.addrKey("2001:db8:1:2:aaaa::1"); got != "2001:db8:1:2::/64" {
		t.Errorf("IPv6 key %q", got)
	}
	if got := l.addrKey("192.0.2.7"); got != "192.0.2.7" {
		t.Errorf("IPv4 key %q", got)
	}
	l.fail("alice", "2001:db8:1:2::1")
	l.fail("alice", "2001:db8:1:2::ffff")
	if l.wait("alice", "2001:db8:1:2:3::9") == 0 {
		t.Error("a fresh address in the same /64 is not throttled")
	}
	if l.wait("alice", "2001:db8:1:3::1") != 0 {
		t.Error("another /64 is throttled")
	}

	tr := newThrottle(time.Hour, 10)
	tr.fail("blocked", 1)
	for i := 0; i < 100; i++ {
		tr.fail(fmt.Sprint("flood-", i), 1000)
	}
	if tr.blocked("blocked", 1) == 0 {
		t.Error("a flood of new keys freed a blocked one")
	}
	if len(tr.entries) > 11 {
		t.Errorf("%d entries kept, want at most the limit and the blocked key", len(tr.entries))
	}

	long := strings.Repeat("u", maxName+1)
	if _, _, ok := parseBasic("Basic " + base64.StdEncoding.EncodeToString([]byte(long+":pw"))); ok {
		t.Error("a user name over 256 bytes parsed")
	}
}

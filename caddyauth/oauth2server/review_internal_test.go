package oauth2server

import (
	"context"
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
	"github.com/restauth/caddy-restauth/caddyauth/filestore"
	"go.uber.org/zap"
	"golang.org/x/crypto/bcrypt"
)

// testService is a token service on an issuer, with the users and clients
// of a users file, as Provision would set it up (without a caddy.Context).
func testService(t *testing.T, iss *oauthIssuer, usersFile string) *TokenService {
	t.Helper()
	u, err := loadTokenUsers([]string{usersFile}, &filestore.FileStore{})
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
	tok, _, err := a.sign("alice", "app", "s", "", false, nil)
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

// TestFleetMessageNeverShortens: a revocation message adds or lengthens a
// revocation; one with an earlier end (a stale or forged message) leaves
// the longer one, so it cannot bring a revoked token back early.
func TestFleetMessageNeverShortens(t *testing.T) {
	o := &oauthIssuer{revokedJTI: map[string]time.Time{}, revokedSID: map[string]time.Time{}, logger: zap.NewNop()}
	now := time.Now().Truncate(time.Second)
	send := func(kind, id string, until time.Time) {
		data, _ := json.Marshal(fleetMsg{Kind: kind, ID: id, Until: until.Unix()})
		o.onMessage(data)
	}
	send("jti", "a", now.Add(time.Hour))
	send("jti", "a", now.Add(time.Minute))
	send("sid", "f", now.Add(time.Minute))
	send("sid", "f", now.Add(2*time.Hour))
	send("sid", "", now.Add(time.Hour))
	o.onMessage([]byte("{not json"))
	if got := o.revokedJTI["a"]; !got.Equal(now.Add(time.Hour)) {
		t.Errorf("jti a revoked until %v, want %v (the later end)", got, now.Add(time.Hour))
	}
	if got := o.revokedSID["f"]; !got.Equal(now.Add(2 * time.Hour)) {
		t.Errorf("family f revoked until %v, want %v", got, now.Add(2*time.Hour))
	}
	if len(o.revokedSID) != 1 || len(o.revokedJTI) != 1 {
		t.Errorf("revocations %v %v, want one each", o.revokedJTI, o.revokedSID)
	}
}

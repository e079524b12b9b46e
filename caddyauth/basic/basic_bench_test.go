package basic

import (
	"encoding/base64"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/restauth/caddy-restauth/caddyauth"
	"github.com/restauth/caddy-restauth/caddyauth/filestore"
	"github.com/restauth/caddy-restauth/caddyauth/passwords"
	"github.com/restauth/caddy-restauth/caddyauth/throttle"
	"github.com/restauth/caddy-restauth/permissions"
)

// benchSnapshot is a snapshot with one user, alice (password pw, bcrypt at
// cost 10), in the users files' store.
func benchSnapshot(b testing.TB) (*caddyauth.Snapshot, string) {
	h, err := bcrypt.GenerateFromPassword([]byte("pw"), bcrypt.DefaultCost)
	if err != nil {
		b.Fatal(err)
	}
	users := &permissions.Users{
		Roles: []permissions.Role{{Name: "r", Permissions: []string{"/permission"}}},
		Users: []permissions.User{{Name: "alice", Hash: string(h), Roles: []string{"r"}}},
	}
	s, err := caddyauth.NewSnapshot(nil, users, permissions.Options{}, &filestore.FileStore{})
	if err != nil {
		b.Fatal(err)
	}
	return s, "Basic " + base64.StdEncoding.EncodeToString([]byte("alice:pw"))
}

// BenchmarkBasic measures a good Basic credential with the cache (the usual
// case for a client that keeps sending the same credentials), and a wrong
// password, which pays the bcrypt at cost 10 that a credential not yet
// cached pays.
func BenchmarkBasic(b *testing.B) {
	s, auth := benchSnapshot(b)
	a := &Basic{Realm: "r", Settings: throttle.Settings{ThrottleFailures: -1}}
	req := httptest.NewRequest("GET", "/", nil)
	req.Header.Set("Authorization", auth)
	b.Run("cached", func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			if _, err := a.Authenticate(req, s); err != nil {
				b.Fatal(err)
			}
		}
	})
	wrong := httptest.NewRequest("GET", "/", nil)
	wrong.Header.Set("Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte("alice:wrong")))
	b.Run("uncached", func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			if _, err := a.Authenticate(wrong, s); err == nil {
				b.Fatal("a wrong password passed")
			}
		}
	})
}

// BenchmarkUnknownVsWrongPassword reports the median time to refuse an
// unknown user and a known user with a wrong password, interleaved, one
// sample of each per iteration. They should be within a few percent of
// each other (the unknown user is checked against a hash with the store's
// usual cost). Run with -benchtime 200x for 200 samples each:
//
//	go test ./caddyauth/basic -run '^$' -bench UnknownVsWrong -benchtime 200x
func BenchmarkUnknownVsWrongPassword(b *testing.B) {
	s, _ := benchSnapshot(b)
	a := &Basic{Realm: "r", Settings: throttle.Settings{ThrottleFailures: -1}}
	mk := func(user, pass string) *http.Request {
		r := httptest.NewRequest("GET", "/", nil)
		r.Header.Set("Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte(user+":"+pass)))
		return r
	}
	unknown, wrong := mk("mallory", "guess"), mk("alice", "guess")
	var du, dw []time.Duration
	for i := 0; i < b.N; i++ {
		t0 := time.Now()
		if _, err := a.Authenticate(unknown, s); err == nil {
			b.Fatal("unknown user passed")
		}
		t1 := time.Now()
		if _, err := a.Authenticate(wrong, s); err == nil {
			b.Fatal("wrong password passed")
		}
		du, dw = append(du, t1.Sub(t0)), append(dw, time.Since(t1))
	}
	med := func(d []time.Duration) float64 {
		slices.Sort(d)
		return float64(d[len(d)/2]) / float64(time.Millisecond)
	}
	mu, mw := med(du), med(dw)
	b.ReportMetric(mu, "unknown-ms")
	b.ReportMetric(mw, "wrong-ms")
	b.ReportMetric(mu/mw, "ratio")
}

// BenchmarkUnknownMixedCosts: a store whose users have two bcrypt costs
// (three at 9, one at 11, as after a cost increase that reached one user
// so far). An unknown name is checked against one of the two, in
// proportion, so the time of a wrong password does not tell a real user
// from an unknown name: it reports the median refusal time of each real
// user class, of the unknown names that cost the same, and the share of
// unknown names at the high cost (0.25 matches the users):
//
//	go test ./caddyauth/basic -run '^$' -bench UnknownMixedCosts -benchtime 200x
func BenchmarkUnknownMixedCosts(b *testing.B) {
	users := &permissions.Users{}
	var params []permissions.HashParams
	for i, cost := range []int{9, 9, 9, 11} {
		h, err := bcrypt.GenerateFromPassword([]byte("pw"), cost)
		if err != nil {
			b.Fatal(err)
		}
		users.Users = append(users.Users, permissions.User{Name: "user" + strconv.Itoa(i), Hash: string(h)})
		params = append(params, permissions.HashParams{Algorithm: permissions.Bcrypt, Cost: cost})
	}
	// the store's stand-ins pick alike (the same settings, the same key)
	standIns, err := passwords.NewStandIns(params)
	if err != nil {
		b.Fatal(err)
	}
	s, err := caddyauth.NewSnapshot(nil, users, permissions.Options{}, &filestore.FileStore{})
	if err != nil {
		b.Fatal(err)
	}
	a := &Basic{Realm: "r", Settings: throttle.Settings{ThrottleFailures: -1}}
	refuse := func(user string) time.Duration {
		r := httptest.NewRequest("GET", "/", nil)
		r.Header.Set("Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte(user+":guess")))
		t0 := time.Now()
		if _, err := a.Authenticate(r, s); err == nil {
			b.Fatal("a wrong password passed")
		}
		return time.Since(t0)
	}
	var low, high, unknownLow, unknownHigh []time.Duration
	for i := 0; i < b.N; i++ {
		low = append(low, refuse("user0"))
		high = append(high, refuse("user3"))
		name := "nobody" + strconv.Itoa(i)
		if d := refuse(name); standIns.Pick([]byte(name)).Params.Cost == 11 {
			unknownHigh = append(unknownHigh, d)
		} else {
			unknownLow = append(unknownLow, d)
		}
	}
	med := func(d []time.Duration) float64 {
		if len(d) == 0 {
			return 0
		}
		slices.Sort(d)
		return float64(d[len(d)/2]) / float64(time.Millisecond)
	}
	b.ReportMetric(med(low), "user-cost9-ms")
	b.ReportMetric(med(unknownLow), "unknown-cost9-ms")
	b.ReportMetric(med(high), "user-cost11-ms")
	b.ReportMetric(med(unknownHigh), "unknown-cost11-ms")
	b.ReportMetric(float64(len(unknownHigh))/float64(b.N), "unknown-high-share")
}

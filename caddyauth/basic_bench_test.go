package caddyauth

import (
	"encoding/base64"
	"net/http"
	"net/http/httptest"
	"slices"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/restauth/caddy-restauth/permissions"
)

func benchStore(b testing.TB) (*Store, string) {
	h, err := bcrypt.GenerateFromPassword([]byte("pw"), bcrypt.DefaultCost)
	if err != nil {
		b.Fatal(err)
	}
	users := &permissions.Users{
		Roles: []permissions.Role{{Name: "r", Permissions: []string{"/permission"}}},
		Users: []permissions.User{{Name: "alice", Hash: string(h), Roles: []string{"r"}}},
	}
	s, err := newStore(nil, users, permissions.Options{})
	if err != nil {
		b.Fatal(err)
	}
	return s, "Basic " + base64.StdEncoding.EncodeToString([]byte("alice:pw"))
}

// BenchmarkBasic measures a good Basic credential with the cache (the usual
// case for a client that keeps sending the same credentials) and without it
// (every request pays a bcrypt at cost 10).
func BenchmarkBasic(b *testing.B) {
	s, auth := benchStore(b)
	a := &Basic{Realm: "r", ThrottleFailures: -1}
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
	b.Run("uncached", func(b *testing.B) {
		b.ReportAllocs()
		acct := s.users["alice"]
		for i := 0; i < b.N; i++ {
			s.cache = newCredCache(10)
			acct.verified.Store(nil)
			if _, err := a.Authenticate(req, s); err != nil {
				b.Fatal(err)
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
//	go test ./caddyauth -run '^$' -bench UnknownVsWrong -benchtime 200x
func BenchmarkUnknownVsWrongPassword(b *testing.B) {
	s, _ := benchStore(b)
	a := &Basic{Realm: "r", ThrottleFailures: -1}
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

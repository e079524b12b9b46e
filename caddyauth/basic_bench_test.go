package caddyauth

import (
	"encoding/base64"
	"net/http/httptest"
	"testing"

	"golang.org/x/crypto/bcrypt"

	"github.com/restauth/caddy-restauth/permissions"
)

func benchStore(b *testing.B) (*Store, string) {
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
		for i := 0; i < b.N; i++ {
			s.cache = newCredCache(10)
			if _, err := a.Authenticate(req, s); err != nil {
				b.Fatal(err)
			}
		}
	})
}

package ldapstore

import (
	"context"
	"fmt"
	"sort"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/restauth/caddy-restauth/internal/slapdtest"
)

// BenchmarkVerify: a cached credential (no round trip), an uncached one
// (one search, one bind and a group search on loopback) with 1, 2, 8 and
// 32 logins at once against a pool of 8 connections of each kind, and
// an unknown user (one search and one bind of a made-up DN).
//
//	go test ./caddyauth/ldapstore -run '^$' -bench Verify -benchmem
func BenchmarkVerify(b *testing.B) {
	dir := slapdtest.Start(b, slapdtest.Options{LDIF: slapdtest.PrimaryLDIF()})
	ctx := context.Background()
	b.Run("cached", func(b *testing.B) {
		v := newTestView(b, dir.URL, nil)
		if _, err := v.Verify(ctx, []byte("alice"), []byte("ldap-alice")); err != nil {
			b.Fatal(err)
		}
		b.ReportAllocs()
		for b.Loop() {
			if _, err := v.Verify(ctx, []byte("alice"), []byte("ldap-alice")); err != nil {
				b.Fatal(err)
			}
		}
	})
	for _, conc := range []int{1, 2, 8, 32} {
		b.Run(fmt.Sprintf("uncached-%d-at-once", conc), func(b *testing.B) {
			v := newTestView(b, dir.URL, func(s *LDAPStore) { s.CacheTTL = -1; s.LookupTTL = -1 })
			var next atomic.Int64
			b.ReportAllocs()
			b.ResetTimer()
			var wg sync.WaitGroup
			per := (b.N + conc - 1) / conc
			for range conc {
				wg.Go(func() {
					for range per {
						uid := fmt.Sprintf("user%04d", next.Add(1)%slapdtest.NUsers)
						if _, err := v.Verify(ctx, []byte(uid), []byte("pw-"+uid)); err != nil {
							b.Error(err)
							return
						}
					}
				})
			}
			wg.Wait()
		})
	}
	b.Run("unknown-user", func(b *testing.B) {
		v := newTestView(b, dir.URL, func(s *LDAPStore) { s.CacheTTL = -1; s.LookupTTL = -1 })
		for b.Loop() {
			_, _ = v.Verify(ctx, []byte("nobody"), []byte("x"))
		}
	})
}

// BenchmarkUnknownVsWrongPassword: an unknown user costs what a wrong
// password costs (medians of interleaved samples).
//
//	go test ./caddyauth/ldapstore -run '^$' -bench UnknownVsWrong -benchtime 400x
func BenchmarkUnknownVsWrongPassword(b *testing.B) {
	dir := slapdtest.Start(b, slapdtest.Options{LDIF: slapdtest.PrimaryLDIF()})
	v := newTestView(b, dir.URL, func(s *LDAPStore) { s.CacheTTL = -1; s.LookupTTL = -1 })
	ctx := context.Background()
	var unknown, wrong []time.Duration
	for i := 0; b.Loop(); i++ {
		start := time.Now()
		if i%2 == 0 {
			_, _ = v.Verify(ctx, []byte(fmt.Sprintf("nobody%d", i)), []byte("x"))
			unknown = append(unknown, time.Since(start))
		} else {
			uid := fmt.Sprintf("user%04d", i%slapdtest.NUsers)
			_, _ = v.Verify(ctx, []byte(uid), []byte("wrong"))
			wrong = append(wrong, time.Since(start))
		}
	}
	median := func(d []time.Duration) time.Duration {
		sort.Slice(d, func(i, j int) bool { return d[i] < d[j] })
		if len(d) == 0 {
			return 0
		}
		return d[len(d)/2]
	}
	b.ReportMetric(float64(median(unknown).Microseconds()), "unknown-us")
	b.ReportMetric(float64(median(wrong).Microseconds()), "wrong-us")
}

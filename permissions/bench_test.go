package permissions

import (
	"strings"
	"testing"
)

func benchPaths() []string {
	return []string{
		"/scim2/Users",               // early match
		"/api/identity/user/v1.0/me", // early
		"/t/carbon.super/api/server/v1/applications/abc/inbound-protocols/oidc", // middle
		"/api/users/v2/me/approval-tasks/42",                                    // late
		"/o/org1/api/server/v1/organizations/x/y",                               // late
		"/nothing/matches/here/at/all",                                          // none
	}
}

func BenchmarkDecide(b *testing.B) {
	p := loadCorpus(b, corpusFiles[0])
	paths := benchPaths()
	b.Run("indexed", func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			p.Match("GET", paths[i%len(paths)])
		}
	})
	b.Run("naive", func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			p.MatchNaive("GET", paths[i%len(paths)])
		}
	})
}

// BenchmarkDecidePath measures each path of the mix alone.
func BenchmarkDecidePath(b *testing.B) {
	p := loadCorpus(b, corpusFiles[0])
	for _, path := range benchPaths() {
		b.Run(strings.ReplaceAll(path, "/", "_"), func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				p.Match("GET", path)
			}
		})
	}
}

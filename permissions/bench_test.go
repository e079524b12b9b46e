package permissions

import (
	"fmt"
	"strconv"
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
	// the handler's whole decision: the path as sent, canonicalized and
	// matched (Decide), then the permission check
	sub := &Subject{Roles: p.Roles([]string{"admin"})}
	b.Run("whole", func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			if _, rule, err := p.Decide("GET", paths[i%len(paths)]); err == nil && rule >= 0 && p.Rule(rule).Secured {
				p.Authorize(rule, sub)
			}
		}
	})
	// the same from every core at once (go test -cpu 1,2,4), as a server
	// on several cores does
	b.Run("whole-parallel", func(b *testing.B) {
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			i := 0
			for pb.Next() {
				if _, rule, err := p.Decide("GET", paths[i%len(paths)]); err == nil && rule >= 0 && p.Rule(rule).Secured {
					p.Authorize(rule, sub)
				}
				i++
			}
		})
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

// BenchmarkDecideUncached is the decision without the cache of recent
// answers: lowering, the candidate index, and the patterns of the
// candidates in order (what a path seen for the first time costs).
func BenchmarkDecideUncached(b *testing.B) {
	p := loadCorpus(b, corpusFiles[0])
	paths := benchPaths()
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		p.match("GET", LowerASCII(paths[i%len(paths)]))
	}
}

// growthTOML writes n rules shaped like the 313-rule corpus: its rules
// again and again, each copy under its own path segment (/svcN), in the
// deployment.toml form.
func growthTOML(b testing.TB, n int) []byte {
	base, err := LoadResources(corpusFiles[0])
	if err != nil {
		b.Fatal(err)
	}
	var sb strings.Builder
	sb.WriteString("[resource_access_control]\ndefault_access = \"deny\"\n")
	for i := 0; i < n; i++ {
		r := base.Rules[i%len(base.Rules)]
		ctx := r.Context
		if copyN := i / len(base.Rules); copyN > 0 {
			if strings.HasPrefix(ctx, "(.*)/") {
				ctx = "(.*)/svc" + strconv.Itoa(copyN) + ctx[4:]
			} else if strings.HasPrefix(ctx, "/") {
				ctx = "/svc" + strconv.Itoa(copyN) + ctx
			}
		}
		methods := "all"
		if len(r.Methods) > 0 {
			methods = strings.Join(r.Methods, ",")
		}
		fmt.Fprintf(&sb, "\n[[resource.access_control]]\ncontext = %q\nsecure = %v\nhttp_method = %q\n", ctx, r.Secured, methods)
		if len(r.Permissions) > 0 {
			fmt.Fprintf(&sb, "permissions = [%q]\n", r.Permissions[0])
		}
	}
	return []byte(sb.String())
}

// BenchmarkGrowth compares a decision on 313 rules with one on 10,000
// rules shaped like them (uncached, the same kind of paths: early, late,
// none), and measures loading the 10,000-rule file.
func BenchmarkGrowth(b *testing.B) {
	data := growthTOML(b, 10000)
	paths := []string{
		"/scim2/Users", "/svc15/api/identity/user/v1.0/me", "/t/carbon.super/api/server/v1/applications/abc/inbound-protocols/oidc",
		"/svc30/api/users/v2/me/approval-tasks/42", "/o/org1/svc20/api/server/v1/organizations/x/y", "/nothing/matches/here/at/all",
	}
	small := loadCorpus(b, corpusFiles[0])
	res, err := ParseResources("growth.toml", data)
	if err != nil {
		b.Fatal(err)
	}
	big, err := NewPolicy(res.Rules, nil, Options{})
	if err != nil {
		b.Fatal(err)
	}
	for _, c := range []struct {
		name string
		p    *Policy
	}{{"313-rules", small}, {"10000-rules", big}} {
		b.Run(c.name, func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				c.p.match("GET", LowerASCII(paths[i%len(paths)]))
			}
		})
	}
	b.Run("load-10000-rules", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			res, err := ParseResources("growth.toml", data)
			if err != nil {
				b.Fatal(err)
			}
			if _, err := NewPolicy(res.Rules, nil, Options{}); err != nil {
				b.Fatal(err)
			}
		}
	})
}

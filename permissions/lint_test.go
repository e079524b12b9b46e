package permissions

import (
	"path/filepath"
	"strings"
	"testing"
)

func TestLint(t *testing.T) {
	users := &Users{
		Roles: []Role{{Name: "admin", Permissions: []string{"/permission/admin"}, Source: "u.toml:2"}, {Name: "lonely", Source: "u.toml:6"}},
		Users: []User{{Name: "a", Roles: []string{"admin"}}},
	}
	rules := []Rule{
		{Context: "/api/*", Glob: true, Secured: true, Source: "Caddyfile"},
		{Context: "/api/users", Glob: true, Methods: []string{"GET"}, Secured: true, Source: "Caddyfile"},          // under /api/*
		{Context: "(.*)/scim2/Me", Methods: []string{"GET"}, Secured: true, Source: "d.toml:3"},                    //
		{Context: "(.*)/scim2/me", Methods: []string{"GET", "HEAD"}, Secured: true, Source: "d.toml:7"},            // same regex, same methods
		{Context: "(.*)/scim2/Me", Methods: []string{"POST"}, Secured: true, Source: "d.toml:11"},                  // other method: reachable
		{Context: "/x/*", Secured: true, Source: "d.toml:15", Permissions: []string{"/permission/nobody"}},         // a glob-like regex
		{Context: "(.*)/t/(.*)", Secured: true, Source: "d.toml:19", Handlers: []string{"bearer"}},                 // bearer not configured
		{Context: "/a/t/b(.*)", Secured: true, Source: "d.toml:23", Ignored: []string{"cross_tenant"}},             // under (.*)/t/(.*)
		{Context: "(.*)/ok", Secured: true, Source: "d.toml:27", Permissions: []string{"/permission/admin/login"}}, // held via ancestor
		{Context: "/v1/(?!x)(.*)", Secured: true, Source: "d.toml:31"},                                             // lookahead: never claimed covered
		{Context: "/v1/(?!x)(.*)", Secured: true, Source: "d.toml:35"},                                             // identical: covered
	}
	p, err := NewPolicy(rules, users.Roles, Options{})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, f := range p.Lint([]string{"basic"}, users) {
		got = append(got, f.Source+" "+f.Code)
	}
	want := []string{
		"Caddyfile rule.unreachable",
		"d.toml:7 rule.unreachable",
		"d.toml:15 pattern.glob_like",
		"d.toml:15 permission.unheld",
		"d.toml:19 handler.unknown",
		"d.toml:19 rule.unpassable",
		"d.toml:23 rule.unreachable",
		"d.toml:23 key.ignored",
		"d.toml:35 rule.unreachable",
		"u.toml:6 role.unused",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("findings:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// TestLintCorpus: WSO2's own lists have entries that repeat an earlier
// entry's context and methods; lint finds them, and every finding names a
// file and line.
func TestLintCorpus(t *testing.T) {
	files, _ := filepath.Glob("testdata/corpus/*.toml")
	if len(files) != 3 {
		t.Fatalf("corpus files: %v", files)
	}
	for _, f := range files {
		res, err := LoadResources(f)
		if err != nil {
			t.Fatal(err)
		}
		p, err := NewPolicy(res.Rules, nil, Options{})
		if err != nil {
			t.Fatal(err)
		}
		unreachable := 0
		for _, fd := range p.Lint(nil, nil) {
			if !strings.HasPrefix(fd.Source, f+":") {
				t.Errorf("finding without file:line: %v", fd)
			}
			if fd.Code == "rule.unreachable" {
				unreachable++
				t.Log(fd)
			}
		}
		if unreachable == 0 {
			t.Errorf("%s: no unreachable rules found", f)
		}
	}
}

package permissions

import (
	"fmt"
	"math/rand"
	"strings"
	"sync"
	"testing"
)

var corpusFiles = []string{
	"testdata/corpus/wso2-is-access-control.toml",
	"testdata/corpus/wso2-is59-access-control.toml",
	"testdata/corpus/wso2-is7-v2-access-control.toml",
}

func loadCorpus(t testing.TB, path string) *Policy {
	t.Helper()
	r, err := LoadResources(path)
	if err != nil {
		t.Fatal(err)
	}
	p, err := NewPolicy(r.Rules, nil, Options{})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// corpusPaths makes request paths from the corpus's own literals: each rule's
// literal with tenant prefixes, suffixes, case changes and near misses.
func corpusPaths(p *Policy, seed int64) []string {
	rng := rand.New(rand.NewSource(seed))
	prefixes := []string{"", "/t/carbon.super", "/t/foo.com", "/o/org1", "/x"}
	suffixes := []string{"", "/", "/123", "/a/b", "x", "/.search", "?"}
	var out []string
	for i := range p.rules {
		lit := p.rules[i].pat.Literal()
		if !strings.HasPrefix(lit, "/") {
			lit = "/" + lit
		}
		for k := 0; k < 4; k++ {
			s := prefixes[rng.Intn(len(prefixes))] + lit + suffixes[rng.Intn(len(suffixes))]
			if rng.Intn(3) == 0 {
				s = strings.ToUpper(s)
			}
			if rng.Intn(4) == 0 && len(s) > 3 {
				j := 1 + rng.Intn(len(s)-1)
				s = s[:j] + s[j+1:]
			}
			out = append(out, s)
		}
	}
	return append(out, "/", "/scim2/Users", "/api/server/v1/tenants", "/t/a/api/server/v1/tenants", "/unknown")
}

// TestMatchEqualsNaive checks the candidate index against trying every rule
// in order, on every corpus, for every method.
func TestMatchEqualsNaive(t *testing.T) {
	methods := []string{"GET", "get", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "FOO"}
	for _, f := range corpusFiles {
		p := loadCorpus(t, f)
		n := 0
		for k, path := range corpusPaths(p, 1) {
			if raceEnabled && k%10 != 0 {
				continue
			}
			for _, m := range methods {
				if got, want := p.Match(m, path), p.MatchNaive(m, path); got != want {
					t.Errorf("%s: %s %s: Match=%d, MatchNaive=%d", f, m, path, got, want)
				}
				n++
			}
		}
		t.Logf("%s: %d decisions compared", f, n)
	}
}

// TestMatchEqualsNaiveGrowth checks the index where its buckets are shared
// by many rules: the 10,000 rules of BenchmarkGrowth, 32 copies of the
// corpus each under its own first segment, on paths made from a sample of
// them (every rule's would take minutes on the naive scan).
func TestMatchEqualsNaiveGrowth(t *testing.T) {
	res, err := ParseResources("growth.toml", growthTOML(t, 10000))
	if err != nil {
		t.Fatal(err)
	}
	p, err := NewPolicy(res.Rules, nil, Options{})
	if err != nil {
		t.Fatal(err)
	}
	paths := corpusPaths(p, 2)
	rng := rand.New(rand.NewSource(3))
	n, hits := 0, 0
	samples := 300
	if raceEnabled {
		samples = 30
	}
	for k := 0; k < samples; k++ {
		path := paths[rng.Intn(len(paths))]
		for _, m := range []string{"GET", "DELETE"} {
			got, want := p.Match(m, path), p.MatchNaive(m, path)
			if got != want {
				t.Errorf("%s %s: Match=%d, MatchNaive=%d", m, path, got, want)
			}
			if got >= 0 {
				hits++
			}
			n++
		}
	}
	if hits < n/4 {
		t.Fatalf("only %d of %d decisions found a rule: the sample does not exercise the index", hits, n)
	}
	t.Logf("%d decisions compared, %d found a rule", n, hits)
}

// TestDecide: Decide on paths as sent (escaped, doubled slashes, upper
// case, refused) answers as Canonicalize and the ordered scan do, for
// every method, asked once and again (from its cache).
func TestDecide(t *testing.T) {
	p := loadCorpus(t, corpusFiles[0])
	paths := corpusPaths(p, 4)
	for _, s := range paths[:len(paths)/4] {
		paths = append(paths, strings.Replace(s, "/", "//", 1), strings.Replace(s, "a", "%61", 1), strings.Replace(s, "/", "/./", 1))
	}
	n := 0
	for round := 0; round < 2; round++ {
		for k, s := range paths {
			if raceEnabled && k%10 != 0 {
				continue
			}
			for _, m := range []string{"GET", "POST", "DELETE", "FOO"} {
				want, werr := Canonicalize(s)
				wantRule := -1
				if werr == nil {
					wantRule = p.MatchNaive(m, want)
				}
				got, rule, err := p.Decide(m, s)
				if err != werr || got != want || rule != wantRule {
					t.Errorf("round %d: Decide(%s, %q) = %q, %d, %v; want %q, %d, %v", round, m, s, got, rule, err, want, wantRule, werr)
				}
				n++
			}
		}
	}
	t.Logf("%d decisions compared", n)
}

// TestDecideConcurrent: goroutines deciding the same and new paths at once
// (enough new ones that the caches start over several times) all get the
// answers computed beforehand; under -race it also checks the caches'
// locking.
func TestDecideConcurrent(t *testing.T) {
	p := loadCorpus(t, corpusFiles[0])
	paths := corpusPaths(p, 5)
	type want struct {
		path string
		rule int
	}
	expect := make([]want, len(paths))
	for i, s := range paths {
		c, err := Canonicalize(s)
		if err != nil {
			expect[i] = want{"", -2}
			continue
		}
		expect[i] = want{c, p.MatchNaive("GET", c)}
	}
	var wg sync.WaitGroup
	errs := make(chan string, 8)
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			for k := 0; k < 3*decisionCacheSize/8; k++ {
				i := (g*7919 + k) % len(paths)
				path, rule, err := p.Decide("GET", paths[i])
				if err != nil {
					rule = -2
				}
				if path != expect[i].path || rule != expect[i].rule {
					errs <- fmt.Sprintf("Decide(%q) = %q, %d; want %q, %d", paths[i], path, rule, expect[i].path, expect[i].rule)
					return
				}
				if m := p.Match("GET", LowerASCII(expect[i].path)); err == nil && m != rule {
					errs <- fmt.Sprintf("Match(%q) = %d, Decide said %d", expect[i].path, m, rule)
					return
				}
				// a path never seen before, to push the caches past their bound
				if _, _, err := p.Decide("GET", fmt.Sprintf("/new/%d/%d", g, k)); err != nil {
					errs <- err.Error()
					return
				}
			}
		}(g)
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
}

package permissions

import (
	"fmt"
	"math/rand"
	"strings"
	"testing"
	"unicode/utf8"
)

// TestReview1NegatedClassFolding: a negated class is folded before it is
// negated, as Java's CASE_INSENSITIVE does ([^b] excludes b and B), and
// only ASCII letters fold. Before the fix [^b] matched every character and
// [^A-Z] matched "a", so a wide rule took requests meant for a stricter
// rule after it.
func TestReview1NegatedClassFolding(t *testing.T) {
	cases := []struct {
		pat, path string
		ok        bool
	}{
		{"/x/[^b]", "/x/b", false},
		{"/x/[^b]", "/x/B", false},
		{"/x/[^b]", "/x/c", true},
		{"/x/[^b]", "/x/C", true},
		{"/x/[^A-Z]", "/x/a", false},
		{"/x/[^A-Z]", "/x/A", false},
		{"/x/[^A-Z]", "/x/1", true},
		{"/x/[^a-c]+", "/x/BAD", false},
		{"/x/[^a-c]+", "/x/dEf", true},
		{"/x/[^X-c]", "/x/y", false},   // X-c holds X, Y, Z, [ .. `, a, b, c
		{"/x/[^X-c]", "/x/B", false},   // ... so its folding holds x-z and A-C
		{"/x/[^X-c]", "/x/_", false},   // _ is between Z and a
		{"/x/[^X-c]", "/x/d", true},    //
		{"/x/[^]b]", "/x/]", false},    // ] right after [^ is a member
		{"/x/[^]b]", "/x/B", false},    //
		{"/x/[^\\x42]", "/x/b", false}, // an escaped B folds too
		{"/x/[^\\W]", "/x/K", true},    // [^\W] is a word character
		{"/x/[^\\w]", "/x/k", false},   //
		{"/x/[^k]", "/x/\u212a", true}, // the Kelvin sign is not k in ASCII folding
		{"/x/[k]", "/x/\u212a", false}, //
		{"/x/[^s]", "/x/\u017f", true}, // nor is long s an s
		{"/x/[^é]", "/x/É", true},      // non-ASCII letters do not fold at all
		{"/x/é", "/x/É", false},        //
		{"/x/[A-C]", "/x/b", true},     // classes that are not negated fold too
		{"/x/(?:B|C)", "/x/c", true},   //
	}
	for _, c := range cases {
		p, err := CompileRegexp(c.pat)
		if err != nil {
			t.Fatalf("%q: %v", c.pat, err)
		}
		if got := p.Match(LowerASCII(c.path)); got != c.ok {
			t.Errorf("%q on %q = %v, want %v", c.pat, c.path, got, c.ok)
		}
		ref, err := compileNaivePattern(c.pat)
		if err != nil {
			t.Fatalf("reference: %q: %v", c.pat, err)
		}
		if got := naiveMatch(ref, c.path); got != c.ok {
			t.Errorf("reference: %q on %q = %v, want %v", c.pat, c.path, got, c.ok)
		}
	}

	// in a first-match list, the negated rule no longer takes what a
	// stricter rule after it is for
	pol, err := NewPolicy([]Rule{
		{Context: "/api/v[^2]/(.*)", Methods: []string{"GET"}, Secured: true, Source: "a:1"},
		{Context: "/api/V2/(.*)", Methods: []string{"GET"}, Secured: true, Permissions: []string{"/permission/admin"}, Source: "a:2"},
	}, nil, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if got := pol.Match("GET", "/api/v2/users"); got != 1 {
		t.Errorf("/api/v2/users: rule %d, want 1 (the stricter rule)", got)
	}
	if got := pol.Match("GET", "/api/v1/users"); got != 0 {
		t.Errorf("/api/v1/users: rule %d, want 0", got)
	}
}

// TestJavaSyntaxRefused: constructs Java and Go read differently are load
// errors, not a guess.
func TestJavaSyntaxRefused(t *testing.T) {
	for _, c := range []struct{ pat, want string }{
		{"(?i)/a", "inline flags"},
		{"/a(?-i)b", "inline flags"},
		{"/a(?i:b)", "inline flags"},
		{`/\p{Lu}`, "Unicode class"},
		{`/[\P{L}]`, "Unicode class"},
		{`/\Qa.b\E`, `\Q...\E`},
		{"/[[:alpha:]]", "nested class"},
		{"/[a-z&&[^b]]", "intersection"},
		{"/[a-z&&b]", "intersection"},
	} {
		_, err := CompileRegexp(c.pat)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q: error %v, want one saying %q", c.pat, err, c.want)
		}
	}
	// still fine: named groups, non-capturing groups, lookaheads, escaped
	// brackets inside classes
	for _, ok := range []string{"/(?P<id>[0-9]+)", "/(?<id>a)", "/(?:a|b)", "(.*)/v1/(?!(a|b))(.*)", `/[\[\]]`, "/[a&b]"} {
		if _, err := CompileRegexp(ok); err != nil {
			t.Errorf("%q: %v", ok, err)
		}
	}
}

// classPatterns are patterns heavy in classes, negated classes and ranges,
// for the differential tests.
var classPatterns = []string{
	"/x/[^b]", "/x/[^A-Z]+", "/x/[^a-c](.*)", "/x/[^X-c]", "/x/[a-fK-P]+/(.*)", "/x/[^0-9a-f]*",
	"(.*)/v[^2]/(.*)", "/x/[^]b]", `/x/[^\x42-\x44]`, `/x/[^\W]`, `/x/[\d_A-C]+`, "/x/(?!a)[^z](.*)",
	"/[^/]+/Users(/?)", "(.*)/[^s]cim2/(.*)", `/x/[^\x{41}]`, "/x/[K-k]", "/x/[^K-k]", "/x/(?=[^a])(.*)",
}

// TestMatchEqualsNaiveClasses compares Match with the independent naive
// matcher on class-heavy rules, for paths made of the letters around the
// classes' edges in both cases.
func TestMatchEqualsNaiveClasses(t *testing.T) {
	var rules []Rule
	for i, pat := range classPatterns {
		rules = append(rules, Rule{Context: pat, Methods: []string{"GET"}, Secured: true, Source: fmt.Sprintf("t:%d", i)})
	}
	p, err := NewPolicy(rules, nil, Options{})
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewSource(7))
	alphabet := []string{"a", "b", "c", "d", "z", "A", "B", "C", "X", "Z", "K", "k", "s", "S", "_", "[", "`", "0", "9", "/", "é", "\u212a", "\u017f"}
	prefixes := []string{"/x/", "/api/v", "/t/a/", "/Users/", "/scim2/"}
	n := 0
	for k := 0; k < 20000; k++ {
		var b strings.Builder
		b.WriteString(prefixes[rng.Intn(len(prefixes))])
		for j := rng.Intn(5); j >= 0; j-- {
			b.WriteString(alphabet[rng.Intn(len(alphabet))])
		}
		path := b.String()
		if c, err := Canonicalize(path); err != nil || c != path {
			continue
		}
		if got, want := p.Match("GET", path), p.MatchNaive("GET", path); got != want {
			t.Errorf("GET %q: Match=%d, MatchNaive=%d", path, got, want)
		}
		n++
	}
	t.Logf("%d paths compared", n)
}

// FuzzFolding holds a pattern's folding (lower-case path, folded pattern)
// to the naive matcher's (path as sent, both cases written into the
// pattern) on any pattern both compile.
func FuzzFolding(f *testing.F) {
	for _, pat := range classPatterns {
		f.Add(pat, "/x/B")
	}
	f.Add("/x/[^a-c]", "/x/D")
	f.Add("/x/[^\\x61]", "/x/A")
	f.Fuzz(func(t *testing.T, pat, path string) {
		if !utf8.ValidString(path) || strings.ContainsRune(path, '\n') || len(pat) > 64 {
			return
		}
		p, err := CompileRegexp(pat)
		if err != nil {
			return
		}
		ref, err := compileNaivePattern(pat)
		if err != nil {
			t.Fatalf("%q compiles, but not for the reference: %v", pat, err)
		}
		if got, want := p.Match(LowerASCII(path)), naiveMatch(ref, path); got != want {
			t.Fatalf("%q on %q: Match %v, reference %v", pat, path, got, want)
		}
	})
}

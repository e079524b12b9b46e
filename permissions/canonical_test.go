package permissions

import (
	"errors"
	"strings"
	"sync"
	"testing"
	"unicode/utf8"
)

func TestCanonicalize(t *testing.T) {
	ok := []struct{ in, out string }{
		{"", "/"},
		{"/", "/"},
		{"/scim2/Users", "/scim2/Users"},
		{"//scim2//Users", "/scim2/Users"},
		{"/scim2/%55sers", "/scim2/Users"},
		{"/a/.../b", "/a/.../b"},
		{"/a/.b/c.", "/a/.b/c."},
		{"/caf%C3%A9", "/café"},
		{"/a%20b", "/a b"},
		{"/a+b", "/a+b"},
	}
	for _, c := range ok {
		got, err := Canonicalize(c.in)
		if err != nil || got != c.out {
			t.Errorf("Canonicalize(%q) = %q, %v; want %q", c.in, got, err, c.out)
		}
	}
	bad := []struct {
		in  string
		err error
	}{
		{"scim2", ErrNotAbsolute},
		{"*", ErrNotAbsolute},
		{"/a/./b", ErrDotSegment},
		{"/a/../b", ErrDotSegment},
		{"/a/..", ErrDotSegment},
		{"/a/.", ErrDotSegment},
		{"/a/%2e%2e/b", ErrDotSegment},
		{"/a/%2E/b", ErrDotSegment},
		{"/a/.%2e/b", ErrDotSegment},
		{"/a//../b", ErrDotSegment},
		{"/a%2fb", ErrEncodedSlash},
		{"/a%2Fb", ErrEncodedSlash},
		{"/a%5cb", ErrEncodedSlash},
		{"/a\\b", ErrBackslash},
		{"/a%00", ErrControl},
		{"/a%0a", ErrControl},
		{"/a\x00", ErrControl},
		{"/a%7F", ErrControl},
		{"/a;b", ErrSemicolon},
		{"/a%3bb", ErrSemicolon},
		{"/a%252e", ErrDoubleEncoded},
		{"/a%25", ErrDoubleEncoded},
		{"/a%zz", ErrBadEscape},
		{"/a%2", ErrBadEscape},
		{"/a%", ErrBadEscape},
		{"/%C0%AE", ErrInvalidUTF8},
		{"/\xff", ErrInvalidUTF8},
	}
	for _, c := range bad {
		_, err := Canonicalize(c.in)
		if !errors.Is(err, c.err) {
			t.Errorf("Canonicalize(%q) error %v, want %v", c.in, err, c.err)
		}
	}
	long := make([]byte, MaxPathLength+1)
	for i := range long {
		long[i] = 'a'
	}
	long[0] = '/'
	if _, err := Canonicalize(string(long)); !errors.Is(err, ErrTooLong) {
		t.Errorf("long path: %v", err)
	}
}

func TestCanonicalizeNoAllocation(t *testing.T) {
	n := testing.AllocsPerRun(100, func() { Canonicalize("/api/identity/user/v1.0/me") })
	if n != 0 {
		t.Errorf("%v allocations for an already canonical path", n)
	}
}

func FuzzCanonicalize(f *testing.F) {
	for _, s := range []string{"/", "/a//b", "/%2e%2e/", "/a%2fb", "/caf%C3%A9", "/a;b", "/%25", "/x/../y"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		out, err := Canonicalize(s)
		if _, _, derr := fuzzPolicy(t).Decide("GET", s); derr != err {
			t.Fatalf("Decide(%q) error %v, Canonicalize's %v", s, derr, err)
		}
		// the same answer as the plain three-pass version it replaced
		if rout, rerr := canonicalizeRef(s); rout != out || rerr != err {
			t.Fatalf("Canonicalize(%q) = %q, %v; the reference says %q, %v", s, out, err, rout, rerr)
		}
		if err != nil {
			return
		}
		// an accepted path is canonical: canonicalizing it again (as an
		// escaped path with no escapes left) changes nothing
		if again, err := Canonicalize(out); err != nil && !errors.Is(err, ErrBadEscape) && !errors.Is(err, ErrDoubleEncoded) || err == nil && again != out {
			t.Fatalf("Canonicalize(%q) = %q, then %q, %v", s, out, again, err)
		}
		// deciding on it gives one answer: twice the same, and the same as
		// the plain ordered scan, on WSO2's 144-rule list
		p := fuzzPolicy(t)
		first := p.Match("GET", out)
		if second := p.Match("GET", out); second != first {
			t.Fatalf("%q: rule %d, then %d", out, first, second)
		}
		if naive := p.MatchNaive("GET", out); naive != first {
			t.Fatalf("%q: indexed rule %d, ordered scan %d", out, first, naive)
		}
		// Decide, on the path as sent, says the same, from its cache too
		for k := 0; k < 2; k++ {
			if path, rule, err := p.Decide("GET", s); err != nil || path != out || rule != first {
				t.Fatalf("Decide(%q) = %q, %d, %v; want %q, %d", s, path, rule, err, out, first)
			}
		}
	})
}

var (
	fuzzPolicyOnce sync.Once
	fuzzPol        *Policy
)

func fuzzPolicy(t *testing.T) *Policy {
	fuzzPolicyOnce.Do(func() {
		res, err := LoadResources("testdata/corpus/wso2-is59-access-control.toml")
		if err != nil {
			t.Fatal(err)
		}
		if fuzzPol, err = NewPolicy(res.Rules, nil, Options{}); err != nil {
			t.Fatal(err)
		}
	})
	return fuzzPol
}

// canonicalizeRef is Canonicalize as first written, in three plain passes
// (validate and decode, dot segments, UTF-8): FuzzCanonicalize holds the
// one-pass version to its answers.
func canonicalizeRef(escaped string) (string, error) {
	if len(escaped) > MaxPathLength {
		return "", ErrTooLong
	}
	if escaped == "" {
		return "/", nil
	}
	if escaped[0] != '/' {
		return "", ErrNotAbsolute
	}
	// First pass: validate every byte as it decodes, and learn whether the
	// path needs rewriting at all.
	rewrite := false
	for i := 0; i < len(escaped); i++ {
		c := escaped[i]
		switch c {
		case '%':
			if i+2 >= len(escaped) || !isHex(escaped[i+1]) || !isHex(escaped[i+2]) {
				return "", ErrBadEscape
			}
			c = unhex(escaped[i+1])<<4 | unhex(escaped[i+2])
			i += 2
			rewrite = true
			switch c {
			case '/', '\\':
				return "", ErrEncodedSlash
			case '%':
				return "", ErrDoubleEncoded
			}
		case '/':
			if i > 0 && escaped[i-1] == '/' {
				rewrite = true
			}
		}
		switch {
		case c == '\\':
			return "", ErrBackslash
		case c == ';':
			return "", ErrSemicolon
		case c < 0x20 || c == 0x7f:
			return "", ErrControl
		}
	}
	out := escaped
	if rewrite {
		var b strings.Builder
		b.Grow(len(escaped))
		for i := 0; i < len(escaped); i++ {
			c := escaped[i]
			if c == '%' {
				c = unhex(escaped[i+1])<<4 | unhex(escaped[i+2])
				i += 2
			} else if c == '/' && i > 0 && escaped[i-1] == '/' {
				continue
			}
			b.WriteByte(c)
		}
		out = b.String()
	}
	// Dot segments, judged on the decoded form (so %2e counts as '.').
	for start := 1; start <= len(out); {
		end := strings.IndexByte(out[start:], '/')
		if end < 0 {
			end = len(out)
		} else {
			end += start
		}
		if seg := out[start:end]; seg == "." || seg == ".." {
			return "", ErrDotSegment
		}
		start = end + 1
	}
	if !utf8.ValidString(out) {
		return "", ErrInvalidUTF8
	}
	return out, nil
}

// BenchmarkCanonicalize: a path that needs no change (the usual case), and
// one that is decoded and collapsed.
func BenchmarkCanonicalize(b *testing.B) {
	for _, c := range []struct{ name, path string }{
		{"canonical", "/t/carbon.super/api/server/v1/applications/abc/inbound-protocols/oidc"},
		{"rewritten", "/t/carbon.super/api//server/v1/applications/caf%C3%A9/inbound-protocols/oidc"},
	} {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for i := 0; i < b.N; i++ {
				Canonicalize(c.path)
			}
		})
		b.Run(c.name+"-three-pass", func(b *testing.B) {
			b.ReportAllocs()
			for i := 0; i < b.N; i++ {
				canonicalizeRef(c.path)
			}
		})
	}
}

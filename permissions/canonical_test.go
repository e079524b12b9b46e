package permissions

import (
	"errors"
	"sync"
	"testing"
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

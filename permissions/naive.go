package permissions

import (
	"errors"
	"fmt"
	"regexp"
	"regexp/syntax"
	"strings"
	"sync"
	"unicode/utf8"
)

// The naive matcher is the reference that Match is checked against: every
// rule in order, each pattern on RE2 as a whole, on the path as it came.
// It shares nothing with Match but Go's regexp package: its own reading
// of lookaheads, its own method test, and its own case folding, done the
// other way round. Match lowers the path and folds the pattern to lower
// case; the naive matcher leaves the path alone and writes both cases
// of every ASCII letter into the pattern's source ("b" becomes "[bB]",
// "[^a-c]" becomes "[^a-cA-C]"), before Go's parser reads and negates a
// class. A bug in either folding shows as a difference.

// naiveRule is a rule compiled by the reference.
type naiveRule struct {
	methods []string // upper case; empty for all
	pieces  []naivePiece
	err     error
}

type naivePiece struct {
	re       *regexp.Regexp // ^(?:piece)$
	look     *regexp.Regexp // ^(?:lookahead body), or nil
	positive bool
}

// naiveRules compiles the policy's rules for the reference once.
type naiveRules struct {
	once  sync.Once
	rules []naiveRule
}

// MatchNaive is Match done the slow, obvious and independent way (see the
// comment above naiveRule). It exists to check Match and to measure it.
func (p *Policy) MatchNaive(method, path string) int {
	p.naive.once.Do(func() {
		p.naive.rules = make([]naiveRule, len(p.rules))
		for i := range p.rules {
			p.naive.rules[i] = compileNaive(&p.rules[i].Rule)
		}
	})
	for i := range p.naive.rules {
		r := &p.naive.rules[i]
		if r.err != nil {
			panic(fmt.Sprintf("the reference cannot compile rule %d (%q), which Match compiled: %v", i, p.rules[i].Context, r.err))
		}
		if naiveMethod(r.methods, method) && naiveMatch(r.pieces, path) {
			return i
		}
	}
	return -1
}

func compileNaive(r *Rule) naiveRule {
	out := naiveRule{}
	for _, m := range r.Methods {
		if m = naiveUpper(m); m == "ALL" {
			out.methods = nil
			break
		}
		out.methods = append(out.methods, m)
	}
	src := r.Context
	if r.Glob {
		src = naiveGlob(src)
	}
	out.pieces, out.err = compileNaivePattern(src)
	return out
}

// naiveUpper upper-cases ASCII letters.
func naiveUpper(s string) string {
	b := []byte(s)
	for i, c := range b {
		if 'a' <= c && c <= 'z' {
			b[i] = c - 32
		}
	}
	return string(b)
}

// naiveMethod: the rule's methods hold the request's, compared without
// regard to ASCII case; GET brings HEAD.
func naiveMethod(methods []string, method string) bool {
	if len(methods) == 0 {
		return true
	}
	m := naiveUpper(method)
	for _, x := range methods {
		if x == m || x == "GET" && m == "HEAD" {
			return true
		}
	}
	return false
}

// naiveGlob turns a Caddy path glob into a regular expression: each '*'
// any run of characters, the rest literal.
func naiveGlob(glob string) string {
	parts := strings.Split(glob, "*")
	for i, part := range parts {
		parts[i] = regexp.QuoteMeta(part)
	}
	return strings.Join(parts, ".*")
}

// compileNaivePattern splits a pattern at its top-level lookaheads and
// compiles each part, folded, on its own.
func compileNaivePattern(src string) ([]naivePiece, error) {
	var pieces []naivePiece
	depth, last := 0, 0
	cur := naivePiece{}
	for i := 0; i < len(src); i++ {
		switch src[i] {
		case '\\':
			i++
		case '[':
			_, n, err := naiveClass(src, i)
			if err != nil {
				return nil, err
			}
			i += n - 1
		case ')':
			depth--
		case '(':
			if depth > 0 || !strings.HasPrefix(src[i:], "(?=") && !strings.HasPrefix(src[i:], "(?!") {
				depth++
				continue
			}
			end := naiveGroupEnd(src, i)
			if end < 0 {
				return nil, errors.New("unclosed lookahead")
			}
			re, err := naiveCompile(src[last:i], true)
			if err != nil {
				return nil, err
			}
			look, err := naiveCompile(src[i+3:end], false)
			if err != nil {
				return nil, err
			}
			cur.re, cur.look, cur.positive = re, look, src[i+2] == '='
			pieces = append(pieces, cur)
			cur = naivePiece{}
			last, i = end+1, end
		}
	}
	re, err := naiveCompile(src[last:], true)
	if err != nil {
		return nil, err
	}
	cur.re = re
	return append(pieces, cur), nil
}

// naiveGroupEnd finds the ')' closing the group at src[open], or -1.
func naiveGroupEnd(src string, open int) int {
	depth := 0
	for i := open; i < len(src); i++ {
		switch src[i] {
		case '\\':
			i++
		case '[':
			if _, n, err := naiveClass(src, i); err == nil {
				i += n - 1
			}
		case '(':
			depth++
		case ')':
			if depth--; depth == 0 {
				return i
			}
		}
	}
	return -1
}

func naiveCompile(src string, full bool) (*regexp.Regexp, error) {
	folded, err := naiveFold(src)
	if err != nil {
		return nil, err
	}
	expr := "^(?:" + folded + ")"
	if full {
		expr += "$"
	}
	return regexp.Compile(expr)
}

// naiveMatch tries every split of s (at character boundaries) for pieces
// that end in a lookahead.
func naiveMatch(pieces []naivePiece, s string) bool {
	pc := pieces[0]
	if pc.look == nil {
		return pc.re.MatchString(s)
	}
	for i := 0; i <= len(s); i++ {
		if i < len(s) && !utf8.RuneStart(s[i]) {
			continue
		}
		if pc.re.MatchString(s[:i]) && pc.look.MatchString(s[i:]) == pc.positive && naiveMatch(pieces[1:], s[i:]) {
			return true
		}
	}
	return false
}

// naiveFold writes both cases of every ASCII letter into a pattern's
// source: a letter outside a class becomes a class of both, and a class
// gets the other case of each letter and range it holds.
func naiveFold(src string) (string, error) {
	var b strings.Builder
	for i := 0; i < len(src); {
		c := src[i]
		switch {
		case c == '\\':
			esc := naiveEscape(src, i)
			if r, ok := escapedRune(esc); ok && isASCIILetter(r) {
				b.WriteString("[" + string(r) + string(r^0x20) + "]")
			} else {
				b.WriteString(esc)
			}
			i += len(esc)
		case c == '[':
			class, n, err := naiveClass(src, i)
			if err != nil {
				return "", err
			}
			b.WriteString(class)
			i += n
		case c == '(' && strings.HasPrefix(src[i:], "(?"):
			// a group's head is syntax, not letters to fold: (?: (?P<name> (?<name>
			end := i + 3
			if j := strings.IndexByte(src[i:], '>'); (strings.HasPrefix(src[i:], "(?P<") || strings.HasPrefix(src[i:], "(?<")) && j > 0 {
				end = i + j + 1
			}
			end = min(end, len(src))
			b.WriteString(src[i:end])
			i = end
		case isASCIILetter(rune(c)):
			b.WriteString("[" + string(c) + string(c^0x20) + "]")
			i++
		default:
			b.WriteByte(c)
			i++
		}
	}
	return b.String(), nil
}

func isASCIILetter(r rune) bool { return 'a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' }

// naiveEscape returns the escape sequence at src[i] ('\\'), whole.
func naiveEscape(src string, i int) string {
	if i+1 >= len(src) {
		return src[i:]
	}
	switch c := src[i+1]; {
	case c == 'x' && i+2 < len(src) && src[i+2] == '{':
		if j := strings.IndexByte(src[i:], '}'); j > 0 {
			return src[i : i+j+1]
		}
		return src[i:]
	case c == 'x':
		return src[i:min(i+4, len(src))]
	case c == 'p' || c == 'P':
		if i+2 < len(src) && src[i+2] == '{' {
			if j := strings.IndexByte(src[i:], '}'); j > 0 {
				return src[i : i+j+1]
			}
		}
		return src[i:min(i+3, len(src))]
	case '0' <= c && c <= '7':
		j := i + 1
		for j < len(src) && j < i+4 && '0' <= src[j] && src[j] <= '7' {
			j++
		}
		return src[i:j]
	}
	_, w := utf8.DecodeRuneInString(src[i+1:])
	return src[i : i+1+w]
}

// escapedRune is the one character an escape stands for, if it stands
// for one (not a class such as \d or an assertion such as \b).
func escapedRune(esc string) (rune, bool) {
	re, err := syntax.Parse(esc, syntax.Perl)
	if err != nil || re.Op != syntax.OpLiteral || len(re.Rune) != 1 {
		return 0, false
	}
	return re.Rune[0], true
}

// naiveClass reads the class at src[i] and returns it with the other case
// of its ASCII letters added, and its length in src.
func naiveClass(src string, i int) (string, int, error) {
	j := i + 1
	head := "["
	if j < len(src) && src[j] == '^' {
		head, j = "[^", j+1
	}
	type item struct {
		lo, hi rune
		ok     bool // a character or range, not a class escape
	}
	var items []item
	var body strings.Builder
	first := true
	for {
		if j >= len(src) {
			return "", 0, errors.New("unclosed class")
		}
		if src[j] == ']' && !first {
			break
		}
		first = false
		if src[j] == '[' {
			return "", 0, errors.New("'[' in a class")
		}
		// one member: a character (maybe escaped), maybe a range, or a
		// class escape; characters are written out as \x{...}, so that no
		// member's place in the class changes what it means
		lo, n, ok := naiveClassChar(src, j)
		if !ok {
			body.WriteString(src[j : j+n])
		}
		j += n
		it := item{lo: lo, hi: lo, ok: ok}
		if ok && j+1 < len(src) && src[j] == '-' && src[j+1] != ']' {
			hi, m, ok2 := naiveClassChar(src, j+1)
			if !ok2 {
				return "", 0, errors.New("a class escape ends a range")
			}
			j += 1 + m
			it.hi = hi
		}
		if ok {
			fmt.Fprintf(&body, `\x{%x}-\x{%x}`, it.lo, it.hi)
		}
		items = append(items, it)
	}
	for _, it := range items {
		if !it.ok {
			continue
		}
		for _, span := range [][2]rune{{'A', 'Z'}, {'a', 'z'}} {
			lo, hi := max(it.lo, span[0]), min(it.hi, span[1])
			if lo <= hi {
				fmt.Fprintf(&body, `\x{%x}-\x{%x}`, lo^0x20, hi^0x20)
			}
		}
	}
	return head + body.String() + "]", j + 1 - i, nil
}

// naiveClassChar reads one member character of a class at src[j]: it
// returns the character, the bytes it takes, and false for a class escape
// (\d, \w, ...), which is not a character.
func naiveClassChar(src string, j int) (rune, int, bool) {
	if src[j] == '\\' {
		esc := naiveEscape(src, j)
		r, ok := escapedRune(esc)
		return r, len(esc), ok
	}
	r, w := utf8.DecodeRuneInString(src[j:])
	return r, w, true
}

package permissions

import (
	"fmt"
	"regexp"
	"regexp/syntax"
	"strings"
	"unicode/utf8"
)

// A Pattern is a compiled context pattern. It matches a canonical path as a
// whole (a full match, as Java's Matcher.matches does), ignoring ASCII case
// as WSO2's Pattern.CASE_INSENSITIVE does.
//
// Regular expressions have Java's meaning for what the WSO2 lists use,
// including lookaheads (?!...) and (?=...) written at the top level of the
// pattern. Go's RE2 engine runs everything else, so matching takes time
// linear in the path for each piece and no pattern can backtrack
// catastrophically.
type Pattern struct {
	src     string
	pieces  []piece // the pattern split at top-level lookaheads
	literal string  // a lower-case string every match contains, "" if none known
	simple  *regexp.Regexp
}

// piece is a run of pattern followed, optionally, by a lookahead.
type piece struct {
	re        *regexp.Regexp // ^(?:piece)$
	fast      glob           // the same as a glob, when it is one
	look      *regexp.Regexp // ^(?:lookahead body), nil if none
	lookAhead bool           // true for (?=, false for (?!
}

// String returns the pattern's source.
func (p *Pattern) String() string { return p.src }

// Literal returns a lower-case string that every path the pattern matches
// contains, or "" when there is none.
func (p *Pattern) Literal() string { return p.literal }

// CompileRegexp compiles a WSO2 context regular expression.
func CompileRegexp(src string) (*Pattern, error) {
	if src == "" {
		return nil, fmt.Errorf("empty pattern")
	}
	if err := checkJavaSyntax(src); err != nil {
		return nil, err
	}
	parts, looks, err := splitLookaheads(src)
	if err != nil {
		return nil, err
	}
	p := &Pattern{src: src}
	for i, part := range parts {
		re, tree, err := compilePiece(part, true)
		if err != nil {
			return nil, err
		}
		if lit := requiredLiteral(tree); len(lit) > len(p.literal) {
			p.literal = lit
		}
		pc := piece{re: re, fast: toGlob(tree)}
		if i < len(looks) {
			lre, _, err := compilePiece(looks[i].body, false)
			if err != nil {
				return nil, err
			}
			pc.look, pc.lookAhead = lre, looks[i].positive
		}
		p.pieces = append(p.pieces, pc)
	}
	if len(p.pieces) == 1 && p.pieces[0].look == nil && p.pieces[0].fast == nil {
		p.simple = p.pieces[0].re
	}
	return p, nil
}

// CompileGlob compiles a Caddy path-matcher pattern: '*' matches any run of
// characters (including '/'), everything else is literal, and the whole path
// must match. "/api/*" matches "/api/" and "/api/x/y" but not "/api".
func CompileGlob(glob string) (*Pattern, error) {
	if glob == "" {
		return nil, fmt.Errorf("empty pattern")
	}
	var b strings.Builder
	for i, part := range strings.Split(glob, "*") {
		if i > 0 {
			b.WriteString("(.*)")
		}
		b.WriteString(regexp.QuoteMeta(part))
	}
	p, err := CompileRegexp(b.String())
	if err != nil {
		return nil, err
	}
	p.src = glob
	return p, nil
}

// Match reports whether the lower-cased canonical path matches the pattern.
// The caller lowers the path once (see LowerASCII) for all patterns.
func (p *Pattern) Match(lowerPath string) bool {
	if p.simple != nil {
		return p.simple.MatchString(lowerPath)
	}
	return matchPieces(p.pieces, lowerPath)
}

// matchRE is Match with RE2 only, without the fast form (for comparison).
func (p *Pattern) matchRE(lowerPath string) bool {
	fast := make([]piece, len(p.pieces))
	for i, pc := range p.pieces {
		pc.fast = nil
		fast[i] = pc
	}
	return matchPieces(fast, lowerPath)
}

func matchPieces(pieces []piece, s string) bool {
	pc := &pieces[0]
	if pc.look == nil {
		return pc.matchFull(s)
	}
	// Try every split: s[:i] must match the piece, and at i the lookahead
	// must hold, and the rest must match the remaining pieces.
	for i := 0; i <= len(s); i++ {
		if i > 0 && i < len(s) && !utf8.RuneStart(s[i]) {
			continue
		}
		if !pc.matchFull(s[:i]) {
			continue
		}
		if pc.look.MatchString(s[i:]) != pc.lookAhead {
			continue
		}
		if matchPieces(pieces[1:], s[i:]) {
			return true
		}
	}
	return false
}

func (pc *piece) matchFull(s string) bool {
	if pc.fast != nil {
		return pc.fast.match(s)
	}
	return pc.re.MatchString(s)
}

type lookahead struct {
	body     string
	positive bool
}

// maxLookaheads bounds the lookaheads in one pattern. Matching tries every
// split of the path at each of them, so the work grows with the path length
// to the power of their number; WSO2's lists use at most one.
const maxLookaheads = 2

// splitLookaheads cuts src at each top-level (?!...) or (?=...). It returns
// n+1 parts for n lookaheads. A lookahead inside a group is refused.
func splitLookaheads(src string) (parts []string, looks []lookahead, err error) {
	depth := 0
	last := 0
	for i := 0; i < len(src); i++ {
		c := src[i]
		switch {
		case c == '\\':
			i++ // skip the escaped character
		case c == '[':
			end, _, err := classEnd(src, i)
			if err != nil {
				return nil, nil, err
			}
			if end < 0 {
				return nil, nil, fmt.Errorf("missing ] for the class at offset %d", i)
			}
			i = end
		case c == '(' && strings.HasPrefix(src[i:], "(?!") || c == '(' && strings.HasPrefix(src[i:], "(?="):
			if depth > 0 {
				return nil, nil, fmt.Errorf("lookahead inside a group at offset %d is not supported", i)
			}
			end, err := closingParen(src, i)
			if err != nil {
				return nil, nil, err
			}
			if len(looks) == maxLookaheads {
				return nil, nil, fmt.Errorf("more than %d lookaheads are not supported", maxLookaheads)
			}
			parts = append(parts, src[last:i])
			looks = append(looks, lookahead{body: src[i+3 : end], positive: src[i+2] == '='})
			last = end + 1
			i = end
		case c == '(':
			if strings.HasPrefix(src[i:], "(?<=") || strings.HasPrefix(src[i:], "(?<!") {
				return nil, nil, fmt.Errorf("lookbehind at offset %d is not supported", i)
			}
			depth++
		case c == ')':
			depth--
		}
	}
	parts = append(parts, src[last:])
	return parts, looks, nil
}

// closingParen finds the ')' matching the '(' at open.
func closingParen(src string, open int) (int, error) {
	depth := 0
	for i := open; i < len(src); i++ {
		c := src[i]
		switch {
		case c == '\\':
			i++
		case c == '[':
			end, _, err := classEnd(src, i)
			if err != nil {
				return 0, err
			}
			if end < 0 {
				return 0, fmt.Errorf("missing ] for the class at offset %d", i)
			}
			i = end
		case c == '(':
			depth++
		case c == ')':
			depth--
			if depth == 0 {
				return i, nil
			}
		}
	}
	return 0, fmt.Errorf("missing ) for the group at offset %d", open)
}

// compilePiece parses a piece of a pattern, folds its ASCII letters to
// lower case so that it can run on a lower-cased path (foldNegatedClasses,
// then lowerTree), and compiles it anchored at the start and, when full,
// at the end. It returns the parsed tree too.
func compilePiece(src string, full bool) (*regexp.Regexp, *syntax.Regexp, error) {
	src, err := foldNegatedClasses(src)
	if err != nil {
		return nil, nil, err
	}
	tree, err := syntax.Parse(src, syntax.Perl)
	if err != nil {
		return nil, nil, err
	}
	lowerTree(tree)
	expr := "^(?:" + tree.String() + ")"
	if full {
		expr += "$"
	}
	re, err := regexp.Compile(expr)
	if err != nil {
		return nil, nil, err
	}
	return re, tree, nil
}

// lowerTree turns ASCII upper-case letters in literals into lower case and
// adds the lower-case counterpart of upper-case ranges in classes. That is
// Java's ASCII case folding for every class that is not negated; a negated
// class must be folded before it is negated, which foldNegatedClasses has
// done in the source (the parsed tree no longer tells a negated class
// apart).
func lowerTree(re *syntax.Regexp) {
	switch re.Op {
	case syntax.OpLiteral:
		for i, r := range re.Rune {
			if 'A' <= r && r <= 'Z' {
				re.Rune[i] = r + 'a' - 'A'
			}
		}
	case syntax.OpCharClass:
		n := len(re.Rune)
		for i := 0; i+1 < n; i += 2 {
			lo, hi := max(re.Rune[i], 'A'), min(re.Rune[i+1], 'Z')
			if lo <= hi {
				re.Rune = append(re.Rune, lo+'a'-'A', hi+'a'-'A')
			}
		}
	}
	for _, sub := range re.Sub {
		lowerTree(sub)
	}
}

// requiredLiteral returns the longest literal run found in the top-level
// concatenation (looking through capture groups), which every match must
// contain.
func requiredLiteral(re *syntax.Regexp) string {
	for re.Op == syntax.OpCapture {
		re = re.Sub[0]
	}
	switch re.Op {
	case syntax.OpLiteral:
		if re.Flags&syntax.FoldCase != 0 {
			return ""
		}
		return string(re.Rune)
	case syntax.OpConcat:
		best, cur := "", ""
		for _, sub := range re.Sub {
			for sub.Op == syntax.OpCapture {
				sub = sub.Sub[0]
			}
			if sub.Op == syntax.OpLiteral && sub.Flags&syntax.FoldCase == 0 {
				cur += string(sub.Rune)
				if len(cur) > len(best) {
					best = cur
				}
				continue
			}
			if sub.Op == syntax.OpConcat {
				if l := requiredLiteral(sub); len(l) > len(best) {
					best = l
				}
			}
			cur = ""
		}
		return best
	}
	return ""
}

// LowerASCII returns s with ASCII letters in lower case. It allocates only
// when s has an upper-case letter.
func LowerASCII(s string) string {
	for i := 0; i < len(s); i++ {
		if 'A' <= s[i] && s[i] <= 'Z' {
			b := []byte(s)
			for j := i; j < len(b); j++ {
				if 'A' <= b[j] && b[j] <= 'Z' {
					b[j] += 'a' - 'A'
				}
			}
			return string(b)
		}
	}
	return s
}

package permissions

import (
	"regexp/syntax"
	"strings"
	"unicode/utf8"
)

// A glob is the fast form of the patterns WSO2's lists are made of: literal
// text, (.*), (.+), (/?) and a leading ^. It matches without a regular
// expression engine, in time linear in the path. Patterns with anything
// else run on RE2.
//
// Optional literals such as (/?) are expanded when the glob is built, so a
// glob is a short list of variants, each a plain run of literals and stars;
// a path matches when any variant does.
type glob [][]token

// maxOptional bounds the optional literals of a glob (2^n variants).
const maxOptional = 3

type token struct {
	lit string // literal text; "" for a star
	min int    // for a star: the least number of characters
}

func (t token) star() bool { return t.lit == "" }

// toGlob returns the fast form of a parsed, lower-cased piece, or nil.
func toGlob(re *syntax.Regexp) glob {
	var flat []*syntax.Regexp
	if !flatten(re, &flat) {
		return nil
	}
	variants := [][]token{nil}
	optional := 0
	for i, s := range flat {
		switch {
		case s.Op == syntax.OpEmptyMatch:
		case s.Op == syntax.OpBeginText && i == 0:
		case s.Op == syntax.OpLiteral && s.Flags&syntax.FoldCase == 0:
			for j := range variants {
				variants[j] = appendLit(variants[j], string(s.Rune))
			}
		case (s.Op == syntax.OpStar || s.Op == syntax.OpPlus) && isAnyChar(s.Sub[0]):
			min := 0
			if s.Op == syntax.OpPlus {
				min = 1
			}
			for j := range variants {
				variants[j] = appendStar(variants[j], min)
			}
		case s.Op == syntax.OpQuest && s.Sub[0].Op == syntax.OpLiteral && s.Sub[0].Flags&syntax.FoldCase == 0:
			if optional++; optional > maxOptional {
				return nil
			}
			lit := string(s.Sub[0].Rune)
			n := len(variants)
			for j := 0; j < n; j++ {
				with := appendLit(append([]token(nil), variants[j]...), lit)
				variants = append(variants, with)
			}
		default:
			return nil
		}
	}
	return glob(variants)
}

// flatten lists the parts of nested concatenations and captures in order.
func flatten(re *syntax.Regexp, out *[]*syntax.Regexp) bool {
	for re.Op == syntax.OpCapture {
		re = re.Sub[0]
	}
	if re.Op != syntax.OpConcat {
		*out = append(*out, re)
		return true
	}
	for _, s := range re.Sub {
		if !flatten(s, out) {
			return false
		}
	}
	return true
}

func appendLit(v []token, lit string) []token {
	if n := len(v); n > 0 && !v[n-1].star() {
		v[n-1].lit += lit
		return v
	}
	return append(v, token{lit: lit})
}

func appendStar(v []token, min int) []token {
	if n := len(v); n > 0 && v[n-1].star() {
		v[n-1].min += min
		return v
	}
	return append(v, token{min: min})
}

func isAnyChar(re *syntax.Regexp) bool {
	return re.Op == syntax.OpAnyCharNotNL || re.Op == syntax.OpAnyChar
}

// match reports whether s matches the whole glob.
func (g glob) match(s string) bool {
	for _, v := range g {
		if matchVariant(v, s) {
			return true
		}
	}
	return false
}

// matchVariant matches literals and stars. Between two stars, taking the
// leftmost place where the literal fits is always right (a later star can
// absorb whatever is left), so no backtracking is needed; the literal after
// the last star must end the path. Characters are counted as RE2 counts
// them: runes, an invalid byte counting as one.
func matchVariant(v []token, s string) bool {
	for i, t := range v {
		if !t.star() {
			if !strings.HasPrefix(s, t.lit) {
				return false
			}
			s = s[len(t.lit):]
			continue
		}
		if i+1 == len(v) {
			return atLeastRunes(s, t.min)
		}
		lit := v[i+1].lit
		if i+2 == len(v) { // the literal closes the path
			return strings.HasSuffix(s, lit) && atLeastRunes(s[:len(s)-len(lit)], t.min)
		}
		if !atLeastRunes(s, t.min) {
			return false
		}
		s = skipRunes(s, t.min)
		k := strings.Index(s, lit)
		if k < 0 {
			return false
		}
		s = s[k:]
	}
	return s == ""
}

// skipRunes drops n runes from the front of s.
func skipRunes(s string, n int) string {
	for ; n > 0 && s != ""; n-- {
		_, w := utf8.DecodeRuneInString(s)
		s = s[w:]
	}
	return s
}

func atLeastRunes(s string, n int) bool {
	if n == 0 || len(s) < n {
		return n == 0
	}
	return utf8.RuneCountInString(s) >= n
}

package permissions

import (
	"regexp/syntax"
	"strings"
	"unicode/utf8"
)

// A glob is the fast form of the patterns WSO2's lists are made of: literal
// text (where an unescaped '.', as in v1.0, is any one character), (.*),
// (.+), (/?) and a leading ^. It matches without a regular
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
	lit string // literal text, anyChar for "any one character"; "" for a star
	min int    // for a star: the least number of characters
}

// anyChar stands for one character of any kind inside a literal. It is a
// NUL byte, which a canonical path never holds.
const anyChar = "\x00"

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
			if strings.ContainsRune(string(s.Rune), 0) {
				return nil // a literal NUL would read as the wildcard; RE2 runs it
			}
			for j := range variants {
				variants[j] = appendLit(variants[j], string(s.Rune))
			}
		case isAnyChar(s):
			for j := range variants {
				variants[j] = appendLit(variants[j], anyChar)
			}
		case (s.Op == syntax.OpStar || s.Op == syntax.OpPlus) && isAnyChar(s.Sub[0]):
			min := 0
			if s.Op == syntax.OpPlus {
				min = 1
			}
			for j := range variants {
				variants[j] = appendStar(variants[j], min)
			}
		case s.Op == syntax.OpQuest && s.Sub[0].Op == syntax.OpLiteral && s.Sub[0].Flags&syntax.FoldCase == 0 &&
			!strings.ContainsRune(string(s.Sub[0].Rune), 0):
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
			n, ok := prefixW(s, t.lit)
			if !ok {
				return false
			}
			s = s[n:]
			continue
		}
		if i+1 == len(v) {
			return atLeastRunes(s, t.min)
		}
		lit := v[i+1].lit
		if i+2 == len(v) { // the literal closes the path
			start, ok := suffixW(s, lit)
			return ok && atLeastRunes(s[:start], t.min)
		}
		if !atLeastRunes(s, t.min) {
			return false
		}
		s = skipRunes(s, t.min)
		k := indexW(s, lit)
		if k < 0 {
			return false
		}
		s = s[k:]
	}
	return s == ""
}

// prefixW matches lit (with anyChar wildcards) at the start of s and
// returns how many bytes of s it took.
func prefixW(s, lit string) (int, bool) {
	if !strings.Contains(lit, anyChar) {
		return len(lit), strings.HasPrefix(s, lit)
	}
	n := 0
	for i := 0; i < len(lit); i++ {
		if n >= len(s) {
			return 0, false
		}
		if lit[i] == anyChar[0] {
			_, w := utf8.DecodeRuneInString(s[n:])
			n += w
			continue
		}
		if s[n] != lit[i] {
			return 0, false
		}
		n++
	}
	return n, true
}

// suffixW matches lit at the end of s and returns where the match starts.
func suffixW(s, lit string) (int, bool) {
	if !strings.Contains(lit, anyChar) {
		return len(s) - len(lit), strings.HasSuffix(s, lit)
	}
	n := len(s)
	for i := len(lit) - 1; i >= 0; i-- {
		if n <= 0 {
			return 0, false
		}
		if lit[i] == anyChar[0] {
			_, w := utf8.DecodeLastRuneInString(s[:n])
			n -= w
			continue
		}
		if s[n-1] != lit[i] {
			return 0, false
		}
		n--
	}
	return n, true
}

// indexW is the first place lit matches in s, or -1. Only positions where
// a character starts are tried.
func indexW(s, lit string) int {
	w := strings.Index(lit, anyChar)
	if w < 0 {
		return strings.Index(s, lit)
	}
	head := lit[:w] // find the fixed text before the first wildcard fast
	for i := 0; i <= len(s); {
		if head != "" {
			k := strings.Index(s[i:], head)
			if k < 0 {
				return -1
			}
			i += k
		} else if i > 0 && i < len(s) && !utf8.RuneStart(s[i]) {
			i++
			continue
		}
		if _, ok := prefixW(s[i:], lit); ok {
			return i
		}
		i++
	}
	return -1
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

package permissions

import (
	"regexp/syntax"
	"strings"
)

// A glob is the fast form of the patterns WSO2's lists are made of: literal
// text, (.*), (.+), (/?) and a leading ^. It matches without a regular
// expression engine. Patterns with anything else run on RE2.
type glob []token

type token struct {
	kind byte   // 'l' literal, '*' any run, 'o' optional literal
	lit  string // for 'l' and 'o'
	min  int    // for '*': the least number of characters
}

// toGlob returns the fast form of a parsed, lower-cased piece, or nil.
func toGlob(re *syntax.Regexp) glob {
	var subs []*syntax.Regexp
	if re.Op == syntax.OpConcat {
		subs = re.Sub
	} else {
		subs = []*syntax.Regexp{re}
	}
	var g glob
	for i, s := range subs {
		for s.Op == syntax.OpCapture {
			s = s.Sub[0]
		}
		switch {
		case s.Op == syntax.OpEmptyMatch:
		case s.Op == syntax.OpBeginText && i == 0:
		case s.Op == syntax.OpLiteral && s.Flags&syntax.FoldCase == 0:
			if n := len(g); n > 0 && g[n-1].kind == 'l' {
				g[n-1].lit += string(s.Rune)
			} else {
				g = append(g, token{kind: 'l', lit: string(s.Rune)})
			}
		case (s.Op == syntax.OpStar || s.Op == syntax.OpPlus) && isAnyChar(s.Sub[0]):
			min := 0
			if s.Op == syntax.OpPlus {
				min = 1
			}
			if n := len(g); n > 0 && g[n-1].kind == '*' {
				g[n-1].min += min
			} else {
				g = append(g, token{kind: '*', min: min})
			}
		case s.Op == syntax.OpQuest && s.Sub[0].Op == syntax.OpLiteral && s.Sub[0].Flags&syntax.FoldCase == 0:
			g = append(g, token{kind: 'o', lit: string(s.Sub[0].Rune)})
		case s.Op == syntax.OpConcat:
			sub := toGlob(s)
			if sub == nil {
				return nil
			}
			g = append(g, sub...)
		default:
			return nil
		}
	}
	if g == nil {
		g = glob{}
	}
	return g
}

func isAnyChar(re *syntax.Regexp) bool {
	return re.Op == syntax.OpAnyCharNotNL || re.Op == syntax.OpAnyChar
}

// match reports whether s matches the whole glob. Paths reaching it are
// canonical (no control characters), so "any character" is any byte; a
// multi-byte character counts as its bytes, which only matters for (.+)
// and there only as "at least one".
func (g glob) match(s string) bool {
	for i, t := range g {
		switch t.kind {
		case 'l':
			if !strings.HasPrefix(s, t.lit) {
				return false
			}
			s = s[len(t.lit):]
		case 'o':
			if strings.HasPrefix(s, t.lit) && g[i+1:].match(s[len(t.lit):]) {
				return true
			}
		case '*':
			rest := g[i+1:]
			if len(s) < t.min {
				return false
			}
			if len(rest) == 0 {
				return true
			}
			if rest[0].kind == 'l' && (len(rest) == 1) {
				// common tail: (.*)literal
				return len(s)-len(rest[0].lit) >= t.min && strings.HasSuffix(s, rest[0].lit)
			}
			for j := t.min; j <= len(s); j++ {
				if rest[0].kind == 'l' {
					k := strings.Index(s[j:], rest[0].lit)
					if k < 0 {
						return false
					}
					j += k
				}
				if rest.match(s[j:]) {
					return true
				}
			}
			return false
		}
	}
	return s == ""
}

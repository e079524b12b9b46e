package permissions

import (
	"fmt"
	"regexp/syntax"
	"slices"
	"strings"
	"unicode/utf8"
)

// Context patterns are Java regular expressions that run on Go's RE2. The
// two read most syntax alike; where they do not, a pattern is refused at
// load rather than run with a meaning its author did not write.
//
// Case: WSO2 compiles patterns with Pattern.CASE_INSENSITIVE, which folds
// ASCII letters only, and folds a character class before it negates it:
// [^b] excludes both b and B. Paths are matched lower-cased (LowerASCII),
// so a pattern is folded to lower case once, when it is compiled.

// checkJavaSyntax refuses what Java and Go read differently, or what this
// package cannot fold as Java does:
//   - inline flags such as (?i) or (?-i): patterns always ignore ASCII case,
//     and (?i) in Go would also fold non-ASCII letters;
//   - \p{...} and \P{...} classes: Java folds some of them by Unicode rules;
//   - \Q...\E quoting (escape characters one by one instead);
//   - '[' or "&&" inside a character class: nested classes and
//     intersections in Java, plain characters in Go.
func checkJavaSyntax(src string) error {
	for i := 0; i < len(src); i++ {
		switch src[i] {
		case '\\':
			if err := checkEscape(src, i); err != nil {
				return err
			}
			i++
		case '(':
			if !strings.HasPrefix(src[i:], "(?") {
				continue
			}
			rest := src[i+2:]
			switch {
			case strings.HasPrefix(rest, ":"), strings.HasPrefix(rest, "="), strings.HasPrefix(rest, "!"),
				strings.HasPrefix(rest, "<="), strings.HasPrefix(rest, "<!"): // lookbehinds: refused later, by name
			case strings.HasPrefix(rest, "P<"), strings.HasPrefix(rest, "<"): // named groups
			default:
				return fmt.Errorf("inline flags at offset %d are not supported: context patterns always ignore ASCII case, as WSO2's do", i)
			}
		case '[':
			end, _, err := classEnd(src, i)
			if err != nil {
				return err
			}
			if end < 0 {
				return nil // Go's parser reports the missing ]
			}
			i = end
		}
	}
	return nil
}

// checkEscape refuses the escapes at src[i] that Java reads differently.
func checkEscape(src string, i int) error {
	if i+1 >= len(src) {
		return nil // a trailing backslash: Go's parser reports it
	}
	switch src[i+1] {
	case 'p', 'P':
		return fmt.Errorf("the Unicode class \\%c at offset %d is not supported in context patterns", src[i+1], i)
	case 'Q':
		return fmt.Errorf("\\Q...\\E quoting at offset %d is not supported in context patterns: escape characters with \\", i)
	}
	return nil
}

// classEnd finds the ']' that closes the character class opening at
// src[open], and whether the class is negated. It returns -1 when the
// class is not closed. A ']' right after "[" or "[^" is a member, as both
// Java and Go read it.
func classEnd(src string, open int) (end int, negated bool, err error) {
	i := open + 1
	if i < len(src) && src[i] == '^' {
		negated = true
		i++
	}
	if i < len(src) && src[i] == ']' {
		i++
	}
	for ; i < len(src); i++ {
		switch src[i] {
		case ']':
			return i, negated, nil
		case '\\':
			if err := checkEscape(src, i); err != nil {
				return 0, false, err
			}
			i++
		case '[':
			return 0, false, fmt.Errorf("'[' inside the character class at offset %d: Java reads it as a nested class; escape it as \\[", open)
		case '&':
			if i+1 < len(src) && src[i+1] == '&' {
				return 0, false, fmt.Errorf("'&&' inside the character class at offset %d: Java reads it as an intersection", open)
			}
		}
	}
	return -1, negated, nil
}

// foldNegatedClasses rewrites each negated class [^...] of a pattern as
// the explicit class Java's CASE_INSENSITIVE makes of it: the members,
// with the other case of each ASCII letter added, negated. Go's parser
// negates first and keeps no trace of it, so lowerTree could only widen
// the negation ([^b] would match b). Classes that are not negated are left
// for lowerTree.
func foldNegatedClasses(src string) (string, error) {
	var b strings.Builder
	last := 0
	for i := 0; i < len(src); i++ {
		switch src[i] {
		case '\\':
			i++
		case '[':
			end, negated, err := classEnd(src, i)
			if err != nil {
				return "", err
			}
			if end < 0 {
				return src, nil // Go's parser reports the missing ]
			}
			if negated {
				body := src[i+2 : end]
				if strings.HasPrefix(body, "^") {
					body = `\` + body // a member, not a second negation
				}
				members, err := classMembers("[" + body + "]")
				if err != nil {
					return "", err
				}
				b.WriteString(src[last:i])
				writeClass(&b, negateRanges(foldASCIIRanges(members)))
				last = end + 1
			}
			i = end
		}
	}
	if last == 0 {
		return src, nil
	}
	b.WriteString(src[last:])
	return b.String(), nil
}

// classMembers parses a (not negated) class and returns its members as
// sorted, merged rune ranges (pairs, as syntax.Regexp.Rune holds them).
func classMembers(class string) ([]rune, error) {
	re, err := syntax.Parse(class, syntax.Perl)
	if err != nil {
		return nil, err
	}
	switch re.Op {
	case syntax.OpCharClass:
		return re.Rune, nil
	case syntax.OpLiteral:
		if len(re.Rune) == 1 {
			return []rune{re.Rune[0], re.Rune[0]}, nil
		}
	case syntax.OpAnyChar:
		return []rune{0, utf8.MaxRune}, nil
	case syntax.OpAnyCharNotNL:
		return []rune{0, '\n' - 1, '\n' + 1, utf8.MaxRune}, nil
	case syntax.OpNoMatch:
		return nil, nil
	}
	return nil, fmt.Errorf("cannot read the character class %s", class)
}

// foldASCIIRanges adds to rune ranges the other case of every ASCII letter
// they hold, and nothing else (Java's CASE_INSENSITIVE without
// UNICODE_CASE).
func foldASCIIRanges(r []rune) []rune {
	out := slices.Clone(r)
	for i := 0; i+1 < len(r); i += 2 {
		for _, span := range [][2]rune{{'A', 'Z'}, {'a', 'z'}} {
			lo, hi := max(r[i], span[0]), min(r[i+1], span[1])
			if lo > hi {
				continue
			}
			shift := rune('a' - 'A')
			if span[0] == 'a' {
				shift = -shift
			}
			out = append(out, lo+shift, hi+shift)
		}
	}
	return mergeRanges(out)
}

// mergeRanges sorts rune ranges and joins those that overlap or touch.
func mergeRanges(r []rune) []rune {
	type span struct{ lo, hi rune }
	spans := make([]span, 0, len(r)/2)
	for i := 0; i+1 < len(r); i += 2 {
		spans = append(spans, span{r[i], r[i+1]})
	}
	slices.SortFunc(spans, func(a, b span) int { return int(a.lo - b.lo) })
	var out []rune
	for _, s := range spans {
		if n := len(out); n > 0 && s.lo <= out[n-1]+1 {
			out[n-1] = max(out[n-1], s.hi)
			continue
		}
		out = append(out, s.lo, s.hi)
	}
	return out
}

// negateRanges returns the runes that sorted, merged ranges leave out.
func negateRanges(r []rune) []rune {
	var out []rune
	next := rune(0)
	for i := 0; i+1 < len(r); i += 2 {
		if r[i] > next {
			out = append(out, next, r[i]-1)
		}
		next = r[i+1] + 1
	}
	if next <= utf8.MaxRune {
		out = append(out, next, utf8.MaxRune)
	}
	return out
}

// writeClass writes rune ranges as a class in Go's syntax; no ranges is a
// class that matches nothing.
func writeClass(b *strings.Builder, r []rune) {
	if len(r) == 0 {
		b.WriteString(`[^\x00-\x{10FFFF}]`)
		return
	}
	b.WriteByte('[')
	for i := 0; i+1 < len(r); i += 2 {
		fmt.Fprintf(b, `\x{%x}`, r[i])
		if r[i+1] != r[i] {
			fmt.Fprintf(b, `-\x{%x}`, r[i+1])
		}
	}
	b.WriteByte(']')
}

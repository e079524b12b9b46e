package permissions

import (
	"errors"
	"strings"
	"unicode/utf8"
)

// Errors returned by Canonicalize, one per reason a path is refused. A
// request whose path is refused gets 400 Bad Request before any rule is
// matched.
var (
	ErrNotAbsolute   = errors.New("path does not start with /")
	ErrBadEscape     = errors.New("invalid percent-encoding")
	ErrDoubleEncoded = errors.New("percent sign left after decoding (double encoding)")
	ErrEncodedSlash  = errors.New("encoded slash or backslash")
	ErrBackslash     = errors.New("backslash in path")
	ErrControl       = errors.New("control character in path")
	ErrSemicolon     = errors.New("semicolon (path parameter) in path")
	ErrDotSegment    = errors.New("dot segment in path")
	ErrInvalidUTF8   = errors.New("path is not valid UTF-8")
	ErrTooLong       = errors.New("path too long")
)

// MaxPathLength is the longest escaped path Canonicalize accepts.
const MaxPathLength = 8192

// Canonicalize turns the escaped path of a request (as sent, without the
// query) into the single form that rules are matched against: decoded once,
// with runs of '/' collapsed. It refuses every path whose meaning could differ
// between this check and the upstream: dot segments, encoded '/' or '\', a raw
// '\', control characters, ';', a '%' left after decoding, invalid escapes and
// invalid UTF-8. Encoded characters count as what they decode to.
//
// A path that needs no change is returned as is, without allocating.
func Canonicalize(escaped string) (string, error) {
	if len(escaped) > MaxPathLength {
		return "", ErrTooLong
	}
	if escaped == "" {
		return "/", nil
	}
	if escaped[0] != '/' {
		return "", ErrNotAbsolute
	}
	// One pass validates every byte as it decodes, finds dot segments as
	// sent, and learns whether the path needs rewriting at all.
	rewrite, high, dots := false, false, false
	seg := 0 // where the current segment starts
	for i := 0; i < len(escaped); i++ {
		c := escaped[i]
		if plainPathByte[c] {
			continue
		}
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
			// reported after the bytes, as a byte error comes first
			dots = dots || isDots(escaped[seg:i])
			seg = i + 1
			continue
		}
		switch {
		case c == '\\':
			return "", ErrBackslash
		case c == ';':
			return "", ErrSemicolon
		case c < 0x20 || c == 0x7f:
			return "", ErrControl
		case c >= 0x80:
			high = true
		}
	}
	if dots || seg < len(escaped) && isDots(escaped[seg:]) {
		return "", ErrDotSegment
	}
	if !rewrite {
		if high && !utf8.ValidString(escaped) {
			return "", ErrInvalidUTF8
		}
		return escaped, nil
	}
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
	out := b.String()
	// dot segments again, judged on the decoded form (so %2e counts as '.')
	for start := 1; start <= len(out); {
		end := strings.IndexByte(out[start:], '/')
		if end < 0 {
			end = len(out)
		} else {
			end += start
		}
		if isDots(out[start:end]) {
			return "", ErrDotSegment
		}
		start = end + 1
	}
	if high && !utf8.ValidString(out) {
		return "", ErrInvalidUTF8
	}
	return out, nil
}

// plainPathByte marks the bytes that need no thought in a path: printable
// ASCII other than '%', '/', '\\' and ';'.
var plainPathByte = func() (t [256]bool) {
	for c := 0x20; c < 0x7f; c++ {
		t[c] = c != '%' && c != '/' && c != '\\' && c != ';'
	}
	return t
}()

// isDots reports whether a segment is "." or "..".
func isDots(seg string) bool { return seg == "." || seg == ".." }

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

func unhex(c byte) byte {
	switch {
	case '0' <= c && c <= '9':
		return c - '0'
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10
	default:
		return c - 'A' + 10
	}
}

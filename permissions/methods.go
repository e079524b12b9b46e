package permissions

import (
	"fmt"
	"slices"
	"strings"
)

var knownMethods = [...]string{"GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "CONNECT", "TRACE"}

const (
	bitGET  = 1 << 0
	bitHEAD = 1 << 1
)

// methodSet is the set of methods a rule covers.
type methodSet struct {
	all   bool
	mask  uint16
	extra []string // extension methods, upper case
}

// newMethodSet builds a set from method names (any case); "all" or an empty
// list means every method. GET brings HEAD with it.
func newMethodSet(methods []string) (methodSet, error) {
	var s methodSet
	if len(methods) == 0 {
		s.all = true
		return s, nil
	}
	for _, m := range methods {
		m = strings.ToUpper(strings.TrimSpace(m))
		if m == "ALL" {
			s.all = true
			continue
		}
		if !isToken(m) {
			return s, fmt.Errorf("bad HTTP method %q", m)
		}
		if b := methodBit(m); b != 0 {
			s.mask |= b
		} else {
			s.extra = append(s.extra, m)
		}
	}
	if s.mask&bitGET != 0 {
		s.mask |= bitHEAD
	}
	return s, nil
}

// has reports whether the set covers method, whose bit (methodBit) is m.
func (s *methodSet) has(m uint16, method string) bool {
	if s.all {
		return true
	}
	if m != 0 {
		return s.mask&m != 0
	}
	for _, e := range s.extra {
		if strings.EqualFold(e, method) {
			return true
		}
	}
	return false
}

// methodBit returns the bit of a standard method, compared case-insensitively,
// or 0.
// methodIndex is the method's place in knownMethods, or -1 (exact,
// upper-case names only: other spellings take the slower path).
func methodIndex(method string) int {
	for i, k := range knownMethods {
		if k == method {
			return i
		}
	}
	return -1
}

func methodBit(method string) uint16 {
	for i, k := range knownMethods {
		if len(k) == len(method) && strings.EqualFold(k, method) {
			return 1 << i
		}
	}
	return 0
}

// SplitMethods reads WSO2's http_method value: "all", one method, or a
// comma-separated list.
func SplitMethods(s string) []string {
	var out []string
	for _, m := range strings.Split(s, ",") {
		if m = strings.TrimSpace(m); m != "" {
			out = append(out, strings.ToUpper(m))
		}
	}
	return out
}

// isToken reports whether s is an RFC 9110 token.
func isToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' {
			continue
		}
		if !strings.ContainsRune("!#$%&'*+-.^_`|~", rune(c)) {
			return false
		}
	}
	return true
}

// registeredMethods are the methods of IANA's HTTP Method Registry (RFC
// 9110, WebDAV and its extensions, PATCH, QUERY). A rule may name any
// token, but one outside these is probably a typo: lint and the load log
// warn about it.
var registeredMethods = []string{"ACL", "BASELINE-CONTROL", "BIND", "CHECKIN", "CHECKOUT", "CONNECT", "COPY", "DELETE",
	"GET", "HEAD", "LABEL", "LINK", "LOCK", "MERGE", "MKACTIVITY", "MKCALENDAR", "MKCOL", "MKREDIRECTREF", "MKWORKSPACE",
	"MOVE", "OPTIONS", "ORDERPATCH", "PATCH", "POST", "PRI", "PROPFIND", "PROPPATCH", "PUT", "QUERY", "REBIND", "REPORT",
	"SEARCH", "TRACE", "UNBIND", "UNCHECKOUT", "UNLINK", "UNLOCK", "UPDATE", "UPDATEREDIRECTREF", "VERSION-CONTROL"}

// commonMethods are the ones suggestions are drawn from.
var commonMethods = []string{"GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "TRACE", "CONNECT"}

// unregisteredMethods returns a rule's methods that no registry holds.
func unregisteredMethods(methods []string) []string {
	var out []string
	for _, m := range methods {
		m = strings.ToUpper(strings.TrimSpace(m))
		if m != "ALL" && !slices.Contains(registeredMethods, m) {
			out = append(out, m)
		}
	}
	return out
}

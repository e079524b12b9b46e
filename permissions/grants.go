package permissions

import (
	"fmt"
	"strings"
)

// A RoleSet is a set of the policy's roles, as bits. Build one with
// Policy.Roles; it is only meaningful for the policy that built it.
type RoleSet []uint64

func (s RoleSet) intersects(t RoleSet) bool {
	for i := 0; i < len(s) && i < len(t); i++ {
		if s[i]&t[i] != 0 {
			return true
		}
	}
	return false
}

func (s *RoleSet) add(i int) {
	for len(*s) <= i/64 {
		*s = append(*s, 0)
	}
	(*s)[i/64] |= 1 << (i % 64)
}

// Roles returns the set of the named roles that the policy defines; names
// it does not know are left out (they hold nothing).
func (p *Policy) Roles(names []string) RoleSet {
	var s RoleSet
	for _, n := range names {
		if i, ok := p.roles[n]; ok {
			s.add(i)
		}
	}
	return s
}

// A Subject is what authorization looks at: an authenticated principal's
// roles and, for a bearer token, the token's scopes.
type Subject struct {
	Roles RoleSet
	// Token marks a bearer-token principal: a rule's scopes are then checked
	// against Scopes, and its permissions are not consulted.
	Token  bool
	Scopes []string
}

// Verdicts of Authorize.
const (
	Granted           = "granted"
	MissingPermission = "missing_permission"
	MissingScope      = "missing_scope"
)

// Authorize decides whether the subject may use rule i. It returns Granted
// or the reason for the refusal.
//
// A token subject needs every scope of a rule that lists scopes; otherwise
// (and for every other subject) a rule's permissions are checked against
// the subject's roles, all of them or, with AnyPermission, any one. A
// non-token subject on a rule with scopes but no permissions needs every
// scope among its roles' scopes. A rule with neither needs nothing more.
func (p *Policy) Authorize(i int, s *Subject) string {
	c := &p.rules[i]
	if s.Token && len(c.Scopes) > 0 {
		for _, want := range c.Scopes {
			if !contains(s.Scopes, want) {
				return MissingScope
			}
		}
		return Granted
	}
	if len(c.perms) > 0 {
		if p.AnyPermission {
			for _, rs := range c.perms {
				if rs == nil || s.Roles.intersects(rs) {
					return Granted
				}
			}
			return MissingPermission
		}
		for _, rs := range c.perms {
			if rs != nil && !s.Roles.intersects(rs) {
				return MissingPermission
			}
		}
		return Granted
	}
	for _, rs := range c.scopes {
		if !s.Roles.intersects(rs) {
			return MissingScope
		}
	}
	return Granted
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// EffectivePermission returns the permission a rule really requires. WSO2
// walks the permission tree one segment at a time and stops at an empty
// segment, so "/a/b//c" requires "/a/b" (a WSO2 default list has one such
// entry). Lint reports them.
func EffectivePermission(perm string) string {
	if i := strings.Index(perm, "//"); i >= 0 {
		perm = perm[:i]
	}
	return strings.TrimSuffix(perm, "/")
}

// grantingRoles returns the roles holding perm or one of its ancestors.
func (p *Policy) grantingRoles(roles []Role, perm string) RoleSet {
	perm = EffectivePermission(perm)
	rs := RoleSet{}
	for i, r := range roles {
		for _, held := range r.Permissions {
			if Grants(held, perm) {
				rs.add(i)
				break
			}
		}
	}
	return rs
}

func (p *Policy) scopeRoles(roles []Role, scope string) RoleSet {
	rs := RoleSet{}
	for i, r := range roles {
		if contains(r.Scopes, scope) {
			rs.add(i)
		}
	}
	return rs
}

// Grants reports whether holding permission held grants permission want:
// held is want or one of its ancestors in the permission tree, segment by
// segment ("/permission/admin" grants "/permission/admin/login" but not
// "/permission/administrator"). A trailing '/' on either is ignored.
func Grants(held, want string) bool {
	held = strings.TrimSuffix(held, "/")
	want = strings.TrimSuffix(want, "/")
	if !strings.HasPrefix(want, held) {
		return false
	}
	return len(want) == len(held) || want[len(held)] == '/' || held == ""
}

// checkPermission refuses permissions that are not absolute tree paths.
func checkPermission(perm string) error {
	if perm == "" {
		return fmt.Errorf("empty permission")
	}
	if strings.EqualFold(perm, "none") {
		return nil
	}
	p := strings.TrimSuffix(perm, "/")
	if !strings.HasPrefix(p, "/") || p == "" {
		return fmt.Errorf("permission %q must start with /", perm)
	}
	if strings.ContainsAny(p, ", \t") {
		return fmt.Errorf("permission %q contains a comma or space (list permissions separately)", perm)
	}
	return nil
}

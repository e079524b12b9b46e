package ldapstore

import (
	"strings"
	"time"

	"github.com/go-ldap/ldap/v3"
)

// groupsOf finds the names of the groups that hold a user: from the
// user's memberOf-style attribute or a group search, and with
// nested_groups search, the groups that hold those, level by level.
func (d *directory) groupsOf(entry *ldap.Entry, name string) ([]string, error) {
	var names, frontier []string
	seen := map[string]bool{}
	add := func(groupName, dn string) {
		key := strings.ToLower(dn)
		if dn == "" {
			key = "name:" + strings.ToLower(groupName)
		}
		if groupName == "" || seen[key] || len(names) >= maxGroupsPerUser {
			return
		}
		seen[key] = true
		names = append(names, groupName)
		if dn != "" {
			frontier = append(frontier, dn)
		}
	}
	switch {
	case d.cfg.MemberOfAttribute != "":
		for _, dn := range entry.GetEqualFoldAttributeValues(d.cfg.MemberOfAttribute) {
			add(firstRDNValue(dn), dn)
		}
	case d.cfg.GroupBaseDN != "":
		found, err := d.searchGroups(d.groupFilter(entry.DN, name))
		if err != nil {
			return nil, err
		}
		for _, g := range found {
			add(g.name, g.dn)
		}
	}
	if d.cfg.NestedGroups != nestedSearch {
		return names, nil
	}
	for depth := 0; depth < d.cfg.NestedDepth && len(frontier) > 0; depth++ {
		var b strings.Builder
		b.WriteString("(|")
		for _, dn := range frontier {
			b.WriteString(d.groupFilter(dn, ""))
		}
		b.WriteString(")")
		frontier = nil
		found, err := d.searchGroups(b.String())
		if err != nil {
			return nil, err
		}
		for _, g := range found {
			add(g.name, g.dn)
		}
	}
	return names, nil
}

// groupFilter fills the group filter for a member DN and user name, both
// escaped for a filter (RFC 4515).
func (d *directory) groupFilter(memberDN, name string) string {
	return strings.NewReplacer("{dn}", ldap.EscapeFilter(memberDN), "{username}", ldap.EscapeFilter(name)).Replace(d.cfg.GroupFilter)
}

type group struct{ name, dn string }

// searchGroups runs a group search under the group base.
func (d *directory) searchGroups(filter string) ([]group, error) {
	req := ldap.NewSearchRequest(d.cfg.GroupBaseDN, ldap.ScopeWholeSubtree, ldap.NeverDerefAliases,
		maxGroupsPerUser, int(d.timeout/time.Second)+1, false, filter, []string{d.cfg.GroupNameAttribute}, nil)
	res, err := d.searchReq(req)
	if ldap.IsErrorWithCode(err, ldap.LDAPResultSizeLimitExceeded) && res != nil {
		err = nil // a user in over a thousand groups keeps the first thousand
	}
	if err != nil {
		return nil, err
	}
	out := make([]group, 0, len(res.Entries))
	for _, e := range res.Entries {
		n := e.GetEqualFoldAttributeValue(d.cfg.GroupNameAttribute)
		if n == "" {
			n = firstRDNValue(e.DN)
		}
		out = append(out, group{name: n, dn: e.DN})
	}
	return out, nil
}

// firstRDNValue is the value of a DN's first part: admins for
// cn=admins,ou=groups,dc=example,dc=org; "" for what does not parse.
func firstRDNValue(dn string) string {
	parsed, err := ldap.ParseDN(dn)
	if err != nil || len(parsed.RDNs) == 0 || len(parsed.RDNs[0].Attributes) == 0 {
		return ""
	}
	return parsed.RDNs[0].Attributes[0].Value
}

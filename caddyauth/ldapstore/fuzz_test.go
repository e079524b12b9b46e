package ldapstore

import (
	"testing"

	ber "github.com/go-asn1-ber/asn1-ber"
	"github.com/go-ldap/ldap/v3"
)

// FuzzUserFilter: whatever the name, the default user filter compiles to
// the same shape (an AND of objectClass=inetOrgPerson and one equality
// on uid) whose value is exactly the name: no name adds a clause, a
// wildcard or a second filter. The group filter holds the same for a DN.
func FuzzUserFilter(f *testing.F) {
	for _, s := range []string{"alice", "*", "alice)(uid=*", "*)(|(uid=*", "a\\2a", "\x00", "é", "(uid=alice)", "a\\", ")"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, name string) {
		for _, c := range []struct{ tmpl, attr, class string }{
			{defaultUserFilter, "uid", "inetOrgPerson"},
			{defaultGroupFilter, "member", "groupOfNames"},
		} {
			filter := userFilter(c.tmpl, name)
			if c.attr == "member" {
				filter = (&directory{cfg: LDAPStore{GroupFilter: c.tmpl}}).groupFilter(name, "")
			}
			p, err := ldap.CompileFilter(filter)
			if err != nil {
				t.Fatalf("%q: %s does not compile: %v", name, filter, err)
			}
			if p.Tag != ldap.FilterAnd || len(p.Children) != 2 {
				t.Fatalf("%q: %s is not an AND of two", name, filter)
			}
			for i, want := range []struct{ attr, value string }{{"objectClass", c.class}, {c.attr, name}} {
				eq := p.Children[i]
				if eq.Tag != ldap.FilterEqualityMatch || len(eq.Children) != 2 {
					t.Fatalf("%q: clause %d of %s is not an equality", name, i, filter)
				}
				if a, v := value(eq.Children[0]), value(eq.Children[1]); a != want.attr || v != want.value {
					t.Fatalf("%q: clause %d of %s is %s=%q, want %s=%q", name, i, filter, a, v, want.attr, want.value)
				}
			}
		}
	})
}

func value(p *ber.Packet) string { return string(p.Data.Bytes()) }

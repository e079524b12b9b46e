package slapdtest

import (
	"fmt"
	"strings"
)

// The test directories (PrimaryLDIF, SecondaryLDIF): an organisation with a service
// account, 1,000 generated users and a few named ones, flat and nested
// groups, a name with filter characters in it, and a name that two
// entries share.
const (
	People         = "ou=people," + Suffix
	Groups         = "ou=groups," + Suffix
	Reader         = "cn=reader," + Suffix
	ReaderPassword = "reader-secret"
	StarName       = "star*(user)"
	NUsers         = 1000
)

// Passwords of the named users.
var Passwords = map[string]string{
	"alice": "ldap-alice", "carol": "ldap-carol", "dave": "ldap-dave", "erin": "ldap-erin",
	"twin": "ldap-twin", StarName: "ldap-star", "bob": "ldap-bob", "user0500": "pw-user0500",
}

// UserDN is the DN of a user under People.
func UserDN(uid string) string { return "uid=" + uid + "," + People }

func entry(dn string, lines ...string) string {
	return "dn: " + dn + "\n" + strings.Join(lines, "\n") + "\n\n"
}

func person(uid, password string, ou string) string {
	return entry("uid="+uid+","+ou,
		"objectClass: inetOrgPerson", "uid: "+uid, "cn: "+uid, "sn: "+uid, "userPassword: "+SSHA(password))
}

func groupOf(cn string, members ...string) string {
	lines := []string{"objectClass: groupOfNames", "cn: " + cn}
	for _, m := range members {
		lines = append(lines, "member: "+m)
	}
	return entry("cn="+cn+","+Groups, lines...)
}

// PrimaryLDIF is the primary test directory: alice in usermgt; carol in
// usermgt and login; dave in login; erin in ops, which superusers holds
// (nested); twin twice (in people and in people's contractors); the star
// user in login; 1,000 userNNNN (password pw-userNNNN) in staff; the
// service account Reader.
func PrimaryLDIF() string {
	var b strings.Builder
	b.WriteString(entry(People, "objectClass: organizationalUnit", "ou: people"))
	b.WriteString(entry(Groups, "objectClass: organizationalUnit", "ou: groups"))
	b.WriteString(entry("ou=contractors,"+People, "objectClass: organizationalUnit", "ou: contractors"))
	b.WriteString(entry(Reader, "objectClass: organizationalRole", "objectClass: simpleSecurityObject", "cn: reader",
		"userPassword: "+SSHA(ReaderPassword)))
	for _, u := range []string{"alice", "carol", "dave", "erin", "twin", StarName} {
		b.WriteString(person(u, Passwords[u], People))
	}
	b.WriteString(person("twin", Passwords["twin"], "ou=contractors,"+People))
	staff := make([]string, 0, NUsers)
	for i := range NUsers {
		uid := fmt.Sprintf("user%04d", i)
		b.WriteString(person(uid, "pw-"+uid, People))
		staff = append(staff, UserDN(uid))
	}
	b.WriteString(groupOf("usermgt", UserDN("alice"), UserDN("carol")))
	b.WriteString(groupOf("login", UserDN("carol"), UserDN("dave"), UserDN(StarName)))
	b.WriteString(groupOf("ops", UserDN("erin")))
	b.WriteString(groupOf("superusers", "cn=ops,"+Groups))
	b.WriteString(groupOf("staff", staff...))
	return b.String()
}

// SecondaryLDIF is a second directory: bob, in developers, and Reader.
func SecondaryLDIF() string {
	return entry(People, "objectClass: organizationalUnit", "ou: people") +
		entry(Groups, "objectClass: organizationalUnit", "ou: groups") +
		entry(Reader, "objectClass: organizationalRole", "objectClass: simpleSecurityObject", "cn: reader",
			"userPassword: "+SSHA(ReaderPassword)) +
		person("bob", Passwords["bob"], People) +
		groupOf("developers", UserDN("bob"))
}

package ldapstore_test

import (
	"strings"
	"testing"

	"github.com/restauth/caddy-restauth/internal/testkit"
)

func TestAdaptLDAP(t *testing.T) {
	got, err := testkit.AdaptRestAuth(t, `
		user_store ldap {
			url ldaps://dc1.example.org ldaps://dc2.example.org
			ca_file /etc/ssl/ad-ca.pem
			server_name ad.example.org
			bind_dn "CN=svc-caddy,OU=Service,DC=example,DC=org"
			bind_password {env.LDAP_BIND_PASSWORD}
			user_base_dn "OU=Staff,DC=example,DC=org"
			user_filter "(&(objectClass=user)(sAMAccountName={username}))"
			user_name_attribute sAMAccountName
			group_base_dn "OU=Groups,DC=example,DC=org"
			nested_groups in_chain
			role "API Admins" admin
			role Staff login usermgt
			password_changed_attribute pwdLastSet
			timeout 2s
			pool_size 4
			cache_ttl 1m
			lookup_ttl off
			cache_size 500
		}
		secondary_store PARTNERS ldap {
			url ldap://127.0.0.1:3389
			start_tls
			user_base_dn ou=people,dc=partners,dc=org
			member_of_attribute memberOf
			nested_groups search 3
		}`)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"handler":"rest_auth","secondary_stores":[{"domain":"PARTNERS","store":{"member_of_attribute":"memberOf","nested_depth":3,"nested_groups":"search","start_tls":true,"store":"ldap","urls":["ldap://127.0.0.1:3389"],"user_base_dn":"ou=people,dc=partners,dc=org"}}],"user_store":{"bind_dn":"CN=svc-caddy,OU=Service,DC=example,DC=org","bind_password":"{env.LDAP_BIND_PASSWORD}","ca_files":["/etc/ssl/ad-ca.pem"],"cache_size":500,"cache_ttl":60000000000,"group_base_dn":"OU=Groups,DC=example,DC=org","lookup_ttl":-1,"nested_groups":"in_chain","password_changed_attribute":"pwdLastSet","pool_size":4,"roles":{"API Admins":["admin"],"Staff":["login","usermgt"]},"server_name":"ad.example.org","store":"ldap","timeout":2000000000,"urls":["ldaps://dc1.example.org","ldaps://dc2.example.org"],"user_base_dn":"OU=Staff,DC=example,DC=org","user_filter":"(\u0026(objectClass=user)(sAMAccountName={username}))","user_name_attribute":"sAMAccountName"}}`
	if got != want {
		t.Errorf("JSON\n got %s\nwant %s", got, want)
	}
}

// TestLDAPConfigErrors: settings that cannot work, or would be unsafe, are
// refused when the config is validated, saying what to write.
func TestLDAPConfigErrors(t *testing.T) {
	base := "user_base_dn ou=people,dc=example,dc=org"
	for _, c := range []struct{ body, want string }{
		{"user_store ldap {\n" + base + "\n}", "url is required"},
		{"user_store ldap {\nurl http://dc\n" + base + "\n}", "write ldap://host[:port] or ldaps://host[:port]"},
		{"user_store ldap {\nurl ldaps://dc\nstart_tls\n" + base + "\n}", "start_tls is for ldap:// URLs"},
		{"user_store ldap {\nurl ldap://dc\n}", "user_base_dn is required"},
		{"user_store ldap {\nurl ldap://dc\nuser_base_dn people\n}", "is not a DN"},
		{"user_store ldap {\nurl ldap://dc\nbind_dn cn=svc,dc=x\n" + base + "\n}", "unauthenticated bind"},
		{"user_store ldap {\nurl ldap://dc\nuser_filter (uid=alice)\n" + base + "\n}", "must contain {username}"},
		{"user_store ldap {\nurl ldap://dc\nuser_filter (uid={username}\n" + base + "\n}", "is not an LDAP filter"},
		{"user_store ldap {\nurl ldap://dc\ngroup_base_dn ou=g,dc=x\ngroup_filter (member=x)\n" + base + "\n}", "must contain {dn} or {username}"},
		{"user_store ldap {\nurl ldap://dc\nnested_groups search\n" + base + "\n}", "nested_groups needs group_base_dn"},
		{"user_store ldap {\nurl ldap://dc\nnested_groups deep\n" + base + "\n}", "nested_groups search [<depth>] or nested_groups in_chain"},
		{"user_store ldap {\nurl ldap://dc\nbind_passwd x\n" + base + "\n}", "did you mean bind_password?"},
		{"user_store ldap {\nurl ldap://dc\ncache_ttl 5\n" + base + "\n}", "write 5s"},
		{"user_store ldpa {\nurl ldap://dc\n}", `unknown user store "ldpa"`},
		{"user_store\n", "a user store module is needed"},
		{"secondary_store PRIMARY ldap {\nurl ldap://dc\n" + base + "\n}", "PRIMARY is the primary store's domain"},
		{"secondary_store A/B ldap {\nurl ldap://dc\n" + base + "\n}", "cannot contain /"},
		{"secondary_store SEC file", "cannot serve a domain"},
		{"secondary_store SEC ldap {\nurl ldap://dc\n" + base + "\n}\nsecondary_store sec ldap {\nurl ldap://dc\n" + base + "\n}", "given twice"},
		{"user_store file {\nusers x\n}", "user_store file has no options"},
	} {
		err := testkit.ValidateRestAuth(t, c.body)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q: error %v, want one containing %q", c.body, err, c.want)
		}
	}
}

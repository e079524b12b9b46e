package ldapstore_test

import (
	"strings"
	"testing"

	"github.com/restauth/caddy-restauth/internal/slapdtest"
)

// Names of the test directory (internal/slapdtest), shorter.
const (
	people   = slapdtest.People
	groups   = slapdtest.Groups
	reader   = slapdtest.Reader
	readerPW = slapdtest.ReaderPassword
	starName = slapdtest.StarName
)

var (
	pw            = slapdtest.Passwords
	userDN        = slapdtest.UserDN
	secondaryLDIF = slapdtest.SecondaryLDIF
)

// storeBlock is a user_store (or secondary_store) ldap block for a
// server, with extra lines.
func storeBlock(head, url string, extra ...string) string {
	return head + ` ldap {
			url ` + url + `
			bind_dn ` + reader + `
			bind_password ` + readerPW + `
			user_base_dn ` + people + `
			group_base_dn ` + groups + `
			timeout 1s
` + "\t\t\t" + strings.Join(extra, "\n\t\t\t") + `
		}`
}

// startPrimary starts the primary directory for a test.
func startPrimary(t *testing.T, o slapdtest.Options) *slapdtest.Server {
	o.LDIF = slapdtest.PrimaryLDIF()
	return slapdtest.Start(t, o)
}

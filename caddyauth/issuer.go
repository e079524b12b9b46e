package caddyauth

import (
	"slices"
	"sync"
	"time"
)

// An Issuer is a token issuer running in this Caddy (an oauth2_server)
// that bearer's builtin mode trusts without configuration. The token
// service registers its issuer while it is live; bearer finds it by a
// token's iss.
type Issuer interface {
	// Verify checks one of the issuer's access tokens: signature, typ,
	// exp, and revocation. It returns a *Denial for a bad token.
	Verify(token string) (*IssuedToken, error)
	// Revoked reports whether a token's id or its refresh family has been
	// revoked (cached tokens are asked on every use).
	Revoked(jti, family string) bool
	// Audiences are the aud values the issuer's tokens carry.
	Audiences() []string
	// Generation changes whenever the issuer's keys do, so that cached
	// tokens are verified again.
	Generation() uint64
}

// IssuedToken is what an Issuer's Verify found in a token.
type IssuedToken struct {
	Subject  string
	ClientID string
	Scope    string
	ID       string // jti
	Family   string // the refresh family, "" for none
	Audience []string
	Expires  time.Time
	// Client marks a client's own token (client credentials): Subject is
	// the client id, never a user.
	Client bool
	// JKT and X5T are the token's confirmation (cnf): the thumbprint of
	// the DPoP key (RFC 9449) or of the client certificate (RFC 8705) it
	// is bound to; empty for a bearer token.
	JKT, X5T string
}

// issuers are the live issuers by iss, newest last: during a config reload
// the old and the new token service are both live for a moment.
var issuers struct {
	sync.Mutex
	m map[string][]Issuer
}

// RegisterIssuer makes an issuer live under its iss until the returned
// function is called (from the token service's Cleanup).
func RegisterIssuer(iss string, i Issuer) (unregister func()) {
	issuers.Lock()
	if issuers.m == nil {
		issuers.m = map[string][]Issuer{}
	}
	issuers.m[iss] = append(issuers.m[iss], i)
	issuers.Unlock()
	var once sync.Once
	return func() {
		once.Do(func() {
			issuers.Lock()
			defer issuers.Unlock()
			list := issuers.m[iss]
			if k := slices.Index(list, i); k >= 0 {
				list = slices.Delete(slices.Clone(list), k, k+1)
			}
			if len(list) == 0 {
				delete(issuers.m, iss)
			} else {
				issuers.m[iss] = list
			}
		})
	}
}

// LookupIssuer returns the live issuer of an iss (the newest), or nil.
func LookupIssuer(iss string) Issuer {
	issuers.Lock()
	defer issuers.Unlock()
	if list := issuers.m[iss]; len(list) > 0 {
		return list[len(list)-1]
	}
	return nil
}

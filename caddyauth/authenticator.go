package caddyauth

import (
	"errors"
	"net/http"
	"strings"
	"time"
)

// An Authenticator checks one kind of credential. The built-in ones are
// basic, bearer and client_cert; third parties add theirs as Caddy modules
// in the http.rest_auth.authenticators namespace, and the pipeline treats
// all of them alike: nothing in it knows a built-in by name.
//
// The rest_auth handler asks each authenticator allowed on the matched rule,
// in the configured order, whether its kind of credential is present; the
// first that says yes is the only one asked to authenticate (a bad
// credential is never passed over for another kind).
//
// The contract:
//   - Present must be cheap and must not verify anything.
//   - Authenticate returns a *Principal with a non-empty User, or an error.
//     A *Denial means the credential is bad (401, or 429 for throttling, or
//     400 for a malformed request); any other error means the answer could
//     not be found (a key server down, a timeout) and the request gets 503.
//     A panic is recovered and treated as 503.
//   - An authenticator must not write to the response or change the
//     request; it may be called concurrently.
type Authenticator interface {
	// Name is the name rules use in allowed_auth_handlers (basic, bearer,
	// client_cert, ...), also shown in logs and placeholders. It should be
	// the module's name in the namespace.
	Name() string
	// WSO2Name is the name WSO2's deployment.toml uses for this kind of
	// handler (BasicAuthentication, OAuthAuthentication,
	// ClientCertificate), accepted in allowed_auth_handlers too; "" if none.
	WSO2Name() string
	// Present reports whether the request carries this kind of credential.
	// It must be cheap and must not verify anything.
	Present(r *http.Request) bool
	// Authenticate verifies the credential, with the snapshot's user store
	// and policy. It returns a *Denial for a bad credential (401) or a
	// throttled one (429); any other error means the answer could not be
	// found (503).
	Authenticate(r *http.Request, s *Snapshot) (*Principal, error)
	// Challenge is the WWW-Authenticate value for a 401; err is this
	// authenticator's denial, or nil when its credential was not the one
	// refused. The pipeline keeps the answer per denial status and reason,
	// so it must depend on no more than those (and the configuration).
	Challenge(err error) string
}

// A Denial is an authentication failure with the status and the reason code
// that the response and the log line carry.
type Denial struct {
	Status     int
	Reason     string        // a reason code such as basic.invalid
	RetryAfter time.Duration // for 429
	// Header are response fields the answer carries besides the
	// challenges (a DPoP-Nonce, say); nil for most denials.
	Header http.Header
}

func (d *Denial) Error() string { return "denied: " + d.Reason }

// Deny is a shorthand for a 401 denial with a reason code.
func Deny(reason string) *Denial { return &Denial{Status: http.StatusUnauthorized, Reason: reason} }

// deny is Deny inside the package.
func deny(reason string) *Denial { return Deny(reason) }

// Authorization returns the request's Authorization field (read by its
// canonical key: no canonicalization per request), or "".
func Authorization(r *http.Request) string {
	if v := r.Header["Authorization"]; len(v) > 0 {
		return v[0]
	}
	return ""
}

// HasScheme reports whether an Authorization value starts with an
// authentication scheme (case-insensitive, RFC 7235) followed by a space,
// or is the bare scheme.
func HasScheme(v, scheme string) bool {
	if len(v) < len(scheme) || !strings.EqualFold(v[:len(scheme)], scheme) {
		return false
	}
	return len(v) == len(scheme) || v[len(scheme)] == ' '
}

// asDenial returns err as a Denial, turning unexpected errors into 503.
func asDenial(err error) *Denial {
	if d, ok := err.(*Denial); ok { // the usual case, without errors.As's allocation
		return d
	}
	var d *Denial
	if errors.As(err, &d) {
		return d
	}
	return &Denial{Status: http.StatusServiceUnavailable, Reason: "auth.unavailable"}
}

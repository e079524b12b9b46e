package caddyauth

import (
	"errors"
	"net/http"
	"slices"

	"github.com/restauth/caddy-restauth/permissions"
)

// An Authorizer makes an extra decision about an authenticated request, in
// the http.rest_auth.authorizers namespace. Authorizers run after the
// permission check has granted a matched, secured rule; every authorizer
// that applies to the rule must allow. A rule may name the ones that apply
// to it (authorizers <name>... in a resource block); otherwise all
// configured authorizers apply.
//
// The contract:
//   - Authorize returns nil to allow. A *Denial refuses: its Status is used
//     when it is 403 or 429 (anything else becomes 403), its Reason goes to
//     the log and the metrics. Any other error means the authorizer could
//     not decide, and the request gets 503. A panic is recovered as 503.
//   - An authorizer must not write to the response or change the request or
//     the principal; it may be called concurrently.
type Authorizer interface {
	// Name is how rules and logs refer to the authorizer; it should be the
	// module's name in the namespace.
	Name() string
	Authorize(r *http.Request, p *Principal, rule *permissions.Rule) error
}

// A PrincipalAuthorizer is an Authorizer that decides from the principal
// alone (its Authorize reads nothing else of the request), such as the
// claims authorizer. The check API and the CLI run it on the principal
// they describe; other authorizers are listed there as not evaluated.
type PrincipalAuthorizer interface {
	Authorizer
	// Check answers as Authorize would for any request of this principal.
	Check(p *Principal) error
}

// authorizersFor returns the configured authorizers that apply to a rule.
func (h *Handler) authorizersFor(rule *permissions.Rule) []Authorizer {
	return pick(h.authorizers, rule.Authorizers)
}

// pick returns the modules whose names are listed, in the modules' order;
// an empty list means all of them.
func pick[M interface{ Name() string }](all []M, names []string) []M {
	if len(names) == 0 {
		return all
	}
	var out []M
	for _, m := range all {
		if slices.Contains(names, m.Name()) {
			out = append(out, m)
		}
	}
	return out
}

// runAuthorizers asks each applicable authorizer; the first refusal wins.
func (h *Handler) runAuthorizers(r *http.Request, p *Principal, rule *permissions.Rule) (d *Denial) {
	for _, az := range h.authorizersFor(rule) {
		if d := h.runAuthorizer(az, r, p, rule); d != nil {
			return d
		}
	}
	return nil
}

func (h *Handler) runAuthorizer(az Authorizer, r *http.Request, p *Principal, rule *permissions.Rule) (d *Denial) {
	defer func() {
		if v := recover(); v != nil {
			h.logger.Error("authorizer panicked", errorField(az.Name(), v)...)
			d = &Denial{Status: http.StatusServiceUnavailable, Reason: "authz.unavailable"}
		}
	}()
	err := az.Authorize(r, p, rule)
	if err == nil {
		return nil
	}
	var den *Denial
	if errors.As(err, &den) {
		out := *den
		if out.Status != http.StatusForbidden && out.Status != http.StatusTooManyRequests {
			out.Status = http.StatusForbidden
		}
		if out.Reason == "" {
			out.Reason = "authz." + az.Name()
		}
		return &out
	}
	h.logger.Error("authorizer could not decide", errorField(az.Name(), err)...)
	return &Denial{Status: http.StatusServiceUnavailable, Reason: "authz.unavailable"}
}

// Package claims is the claims authorizer of rest_auth
// (http.rest_auth.authorizers.claims): conditions on a bearer token's
// verified claims, which every request that reaches the rules it applies
// to must meet.
//
//	rest_auth {
//		authorizer claims {
//			name sales
//			claim department equals sales marketing
//			claim realm_access.roles contains reporting
//			claim level ge 3
//			claim email_verified equals true
//			claim act absent
//		}
//		resource /reports/* GET {
//			authorizers sales
//		}
//	}
package claims

import (
	"errors"
	"fmt"
	"math"
	"net/http"
	"strconv"
	"strings"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"

	"github.com/restauth/caddy-restauth/caddyauth"
	"github.com/restauth/caddy-restauth/permissions"
)

func init() {
	caddy.RegisterModule(Claims{})
}

// Claims allows a request when its principal's token claims meet every
// condition. A principal without a token (Basic, a client certificate)
// fails every condition that is not marked tokens_only, and passes those
// that are.
type Claims struct {
	// Label names this instance for rules' authorizers lists, when one
	// rest_auth has several claims authorizers; default "claims".
	Label string `json:"name,omitempty"`
	// Conditions must all hold.
	Conditions []Condition `json:"conditions,omitempty"`
}

// Condition is one test of one claim.
type Condition struct {
	// Claim is the claim's name; a dotted path reaches into objects
	// (realm_access.roles), and a name that itself holds dots
	// (https://example.com/roles) is found as it is first.
	Claim string `json:"claim"`
	// Op is equals (the claim is one of Values; for an array, see
	// contains), contains (an array claim holds one of Values, or a
	// string claim holds one of them as a space-separated word, as scope
	// does), present, absent, or a numeric comparison with the one value:
	// gt, ge, lt, le.
	Op string `json:"op"`
	// Values are compared as text with strings, as numbers with numbers
	// and as true/false with booleans.
	Values []string `json:"values,omitempty"`
	// TokensOnly lets a principal without a token pass this condition.
	TokensOnly bool `json:"tokens_only,omitempty"`

	num float64 // the value of a numeric comparison
}

// CaddyModule returns the Caddy module information.
func (Claims) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "http.rest_auth.authorizers.claims",
		New: func() caddy.Module { return new(Claims) },
	}
}

// Provision checks the conditions and reads their numbers.
func (c *Claims) Provision(caddy.Context) error { return c.prepare() }

// prepare checks the conditions; Provision and the offline tools use it.
func (c *Claims) prepare() error {
	if len(c.Conditions) == 0 {
		return errors.New("claims: give at least one condition (claim <name> <op> [<value>...])")
	}
	for i := range c.Conditions {
		k := &c.Conditions[i]
		if k.Claim == "" {
			return fmt.Errorf("claims: condition %d names no claim", i+1)
		}
		switch k.Op {
		case "equals", "contains":
			if len(k.Values) == 0 {
				return fmt.Errorf("claims: %s %s needs at least one value", k.Claim, k.Op)
			}
		case "present", "absent":
			if len(k.Values) > 0 {
				return fmt.Errorf("claims: %s %s takes no value", k.Claim, k.Op)
			}
		case "gt", "ge", "lt", "le":
			if len(k.Values) != 1 {
				return fmt.Errorf("claims: %s %s takes one number", k.Claim, k.Op)
			}
			n, err := strconv.ParseFloat(k.Values[0], 64)
			if err != nil || math.IsNaN(n) || math.IsInf(n, 0) {
				return fmt.Errorf("claims: %s %s: %q is not a number", k.Claim, k.Op, k.Values[0])
			}
			k.num = n
		default:
			return fmt.Errorf("claims: %s: unknown op %q (equals, contains, present, absent, gt, ge, lt, le)%s",
				k.Claim, k.Op, permissions.DidYouMean(k.Op, []string{"equals", "contains", "present", "absent", "gt", "ge", "lt", "le"}))
		}
	}
	return nil
}

// Name returns the label, or "claims".
func (c *Claims) Name() string {
	if c.Label != "" {
		return c.Label
	}
	return "claims"
}

// Authorize checks the principal's claims; the request is not read.
func (c *Claims) Authorize(_ *http.Request, p *caddyauth.Principal, _ *permissions.Rule) error {
	return c.Check(p)
}

// Check decides from the principal alone, for the check API and the CLI
// as for requests (caddyauth.PrincipalAuthorizer). A refusal's reason
// names the condition that failed: claims.<op>:<claim>, or
// claims.no_token:<claim> for a principal without a token.
func (c *Claims) Check(p *caddyauth.Principal) error {
	for i := range c.Conditions {
		k := &c.Conditions[i]
		if p == nil || !p.Token {
			if k.TokensOnly {
				continue
			}
			return &caddyauth.Denial{Status: http.StatusForbidden, Reason: "claims.no_token:" + k.Claim}
		}
		if !k.holds(p.Claims) {
			return &caddyauth.Denial{Status: http.StatusForbidden, Reason: "claims." + k.Op + ":" + k.Claim}
		}
	}
	return nil
}

// holds tests the condition on a token's claims.
func (k *Condition) holds(claims map[string]any) bool {
	v, found := lookup(claims, k.Claim)
	switch k.Op {
	case "present":
		return found && v != nil
	case "absent":
		return !found || v == nil
	case "equals":
		for _, w := range k.Values {
			if same(v, w) {
				return true
			}
		}
	case "contains":
		switch x := v.(type) {
		case []any:
			for _, e := range x {
				for _, w := range k.Values {
					if same(e, w) {
						return true
					}
				}
			}
		case string:
			for _, word := range strings.Fields(x) {
				for _, w := range k.Values {
					if word == w {
						return true
					}
				}
			}
		}
	default: // gt, ge, lt, le
		n, ok := number(v)
		if !ok {
			return false
		}
		switch k.Op {
		case "gt":
			return n > k.num
		case "ge":
			return n >= k.num
		case "lt":
			return n < k.num
		case "le":
			return n <= k.num
		}
	}
	return false
}

// lookup finds a claim: the whole name first, then a dotted path through
// objects.
func lookup(m map[string]any, name string) (any, bool) {
	for {
		if v, ok := m[name]; ok {
			return v, true
		}
		head, rest, ok := strings.Cut(name, ".")
		if !ok {
			return nil, false
		}
		sub, isMap := m[head].(map[string]any)
		if !isMap {
			return nil, false
		}
		m, name = sub, rest
	}
}

// same compares a claim's value with a configured text: strings as they
// are, numbers by value, booleans as true/false. Objects and arrays
// never equal a text.
func same(v any, w string) bool {
	switch x := v.(type) {
	case string:
		return x == w
	case bool:
		return w == strconv.FormatBool(x)
	}
	if n, ok := number(v); ok {
		f, err := strconv.ParseFloat(w, 64)
		return err == nil && f == n
	}
	return false
}

// number reads a JSON number (float64, or json.Number from a decoder that
// keeps them).
func number(v any) (float64, bool) {
	switch x := v.(type) {
	case float64:
		return x, true
	case interface{ Float64() (float64, error) }:
		f, err := x.Float64()
		return f, err == nil
	}
	return 0, false
}

// UnmarshalCaddyfile reads
//
//	claims {
//		name <name>
//		claim <claim> equals|contains <value>...
//		claim <claim> present|absent
//		claim <claim> gt|ge|lt|le <number>
//		tokens_only       # principals without a token pass these conditions
//	}
//
// tokens_only applies to the conditions of the block it is written in.
func (c *Claims) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	d.Next() // the module name
	if d.NextArg() {
		return d.ArgErr()
	}
	tokensOnly := false
	for d.NextBlock(0) {
		switch d.Val() {
		case "name":
			if err := caddyauth.OneArg(d, &c.Label); err != nil {
				return err
			}
		case "claim":
			args := d.RemainingArgs()
			if len(args) < 2 {
				return d.Err("claim: write claim <claim> <op> [<value>...], e.g. claim department equals sales")
			}
			c.Conditions = append(c.Conditions, Condition{Claim: args[0], Op: args[1], Values: args[2:]})
		case "tokens_only":
			if d.NextArg() {
				return d.ArgErr()
			}
			tokensOnly = true
		default:
			return caddyauth.UnknownOption(d, "claims", []string{"name", "claim", "tokens_only"})
		}
	}
	for i := range c.Conditions {
		c.Conditions[i].TokensOnly = c.Conditions[i].TokensOnly || tokensOnly
	}
	if err := c.prepare(); err != nil {
		return d.Err(err.Error())
	}
	return nil
}

// Interface guards
var (
	_ caddyauth.Authorizer          = (*Claims)(nil)
	_ caddyauth.PrincipalAuthorizer = (*Claims)(nil)
	_ caddy.Provisioner             = (*Claims)(nil)
	_ caddyfile.Unmarshaler         = (*Claims)(nil)
)

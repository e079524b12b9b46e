package claims

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/restauth/caddy-restauth/caddyauth"
)

// TestConditions: each op on flat and nested claims, arrays, numbers
// (float64 and json.Number) and booleans.
func TestConditions(t *testing.T) {
	var withNumbers map[string]any
	dec := json.NewDecoder(strings.NewReader(`{"level": 3, "ratio": 0.5}`))
	dec.UseNumber()
	if err := dec.Decode(&withNumbers); err != nil {
		t.Fatal(err)
	}
	tok := map[string]any{
		"department": "sales", "level": float64(3), "verified": true, "nothing": nil,
		"realm_access":              map[string]any{"roles": []any{"reporting", "user"}},
		"https://example.com/roles": []any{"admin"},
		"scope":                     "read write",
		"groups":                    []any{float64(7), "x"},
	}
	cases := []struct {
		claim, op string
		values    []string
		claims    map[string]any
		want      bool
	}{
		{"department", "equals", []string{"hr", "sales"}, tok, true},
		{"department", "equals", []string{"Sales"}, tok, false},
		{"department", "contains", []string{"sales"}, tok, true}, // a string: its words
		{"realm_access.roles", "contains", []string{"reporting"}, tok, true},
		{"realm_access.roles", "contains", []string{"admin"}, tok, false},
		{"realm_access.roles", "equals", []string{"reporting"}, tok, false}, // an array never equals a text
		{"https://example.com/roles", "contains", []string{"admin"}, tok, true},
		{"scope", "contains", []string{"write"}, tok, true},
		{"scope", "contains", []string{"rea"}, tok, false},
		{"groups", "contains", []string{"7"}, tok, true},
		{"level", "equals", []string{"3"}, tok, true},
		{"level", "equals", []string{"3.0"}, tok, true},
		{"level", "ge", []string{"3"}, tok, true},
		{"level", "gt", []string{"3"}, tok, false},
		{"level", "lt", []string{"3.5"}, tok, true},
		{"level", "le", []string{"2"}, tok, false},
		{"level", "ge", []string{"3"}, withNumbers, true},
		{"ratio", "lt", []string{"1"}, withNumbers, true},
		{"department", "ge", []string{"1"}, tok, false}, // not a number
		{"verified", "equals", []string{"true"}, tok, true},
		{"verified", "equals", []string{"false"}, tok, false},
		{"department", "present", nil, tok, true},
		{"nothing", "present", nil, tok, false},
		{"nothing", "absent", nil, tok, true},
		{"act", "absent", nil, tok, true},
		{"realm_access.missing", "absent", nil, tok, true},
		{"department.x", "present", nil, tok, false},
		{"department", "equals", []string{"sales"}, nil, false},
	}
	for _, c := range cases {
		a := &Claims{Conditions: []Condition{{Claim: c.claim, Op: c.op, Values: c.values}}}
		if err := a.prepare(); err != nil {
			t.Fatalf("%s %s %v: %v", c.claim, c.op, c.values, err)
		}
		err := a.Check(&caddyauth.Principal{User: "u", Token: true, Claims: c.claims})
		if got := err == nil; got != c.want {
			t.Errorf("%s %s %v on %v: %v, want %v", c.claim, c.op, c.values, c.claims, err, c.want)
		}
		if err != nil && err.(*caddyauth.Denial).Reason != "claims."+c.op+":"+c.claim {
			t.Errorf("reason %q", err.(*caddyauth.Denial).Reason)
		}
	}
}

// TestNoToken: a principal without a token fails a condition unless it
// applies to tokens only.
func TestNoToken(t *testing.T) {
	basic := &caddyauth.Principal{User: "alice", AuthMethod: "basic"}
	strict := &Claims{Conditions: []Condition{{Claim: "department", Op: "equals", Values: []string{"sales"}}}}
	loose := &Claims{Conditions: []Condition{{Claim: "department", Op: "equals", Values: []string{"sales"}, TokensOnly: true}}}
	for _, c := range []*Claims{strict, loose} {
		if err := c.prepare(); err != nil {
			t.Fatal(err)
		}
	}
	if err := strict.Check(basic); err == nil || err.(*caddyauth.Denial).Reason != "claims.no_token:department" {
		t.Errorf("strict on Basic: %v", err)
	}
	if err := loose.Check(basic); err != nil {
		t.Errorf("tokens_only on Basic: %v", err)
	}
	if err := loose.Check(&caddyauth.Principal{User: "u", Token: true, Claims: map[string]any{"department": "hr"}}); err == nil {
		t.Error("tokens_only let a token with the wrong claim through")
	}
}

// TestPrepareErrors: mistakes are refused with what to write.
func TestPrepareErrors(t *testing.T) {
	cases := []struct {
		c    Condition
		want string
	}{
		{Condition{Claim: "a", Op: "equal", Values: []string{"x"}}, "did you mean equals?"},
		{Condition{Claim: "a", Op: "equals"}, "needs at least one value"},
		{Condition{Claim: "a", Op: "present", Values: []string{"x"}}, "takes no value"},
		{Condition{Claim: "a", Op: "ge", Values: []string{"three"}}, "is not a number"},
		{Condition{Claim: "a", Op: "ge", Values: []string{"NaN"}}, "is not a number"},
		{Condition{Claim: "a", Op: "lt", Values: []string{"1", "2"}}, "takes one number"},
		{Condition{Op: "present"}, "names no claim"},
	}
	for _, c := range cases {
		err := (&Claims{Conditions: []Condition{c.c}}).prepare()
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: %v, want %q", c.c, err, c.want)
		}
	}
	if err := (&Claims{}).prepare(); err == nil {
		t.Error("no conditions accepted")
	}
}

package permissions

import (
	"fmt"
	"slices"
	"strings"
)

// A Finding is one thing lint reports about a policy.
type Finding struct {
	// Source is "file:line" of what the finding is about.
	Source string `json:"source"`
	// Rule is the rule's place in the policy, from 1, when the finding is
	// about a rule; 0 otherwise.
	Rule int `json:"rule,omitempty"`
	// Level is "error" (the policy cannot work as written) or "warning".
	Level   string `json:"level"`
	Code    string `json:"code"`
	Message string `json:"message"`
}

func (f Finding) String() string {
	where := f.Source
	if f.Rule > 0 {
		where = RuleName(f.Source, f.Rule)
	}
	return where + ": " + f.Level + ": " + f.Message + " [" + f.Code + "]"
}

// Lint looks for mistakes in a policy: rules that can never match because
// an earlier rule takes all their requests, regular expressions written as
// if they were globs, permissions no role holds, roles no user has, and
// WSO2 keys that are accepted but not enforced. handlers are the
// authentication handlers configured; rules that allow only others can
// never be passed. users may be nil.
func (p *Policy) Lint(handlers []string, users *Users) []Finding {
	return p.lint(handlers, users, true)
}

// LoadLint is the part of Lint that is cheap enough to run on every load
// (nothing that compares rules with each other), for the findings in
// LoadFindings.
func (p *Policy) LoadLint(handlers []string) []Finding {
	var out []Finding
	for _, f := range p.lint(handlers, nil, false) {
		if slices.Contains(LoadFindings, f.Code) {
			out = append(out, f)
		}
	}
	return out
}

func (p *Policy) lint(handlers []string, users *Users, pairs bool) []Finding {
	var out []Finding
	for j := range p.rules {
		r := &p.rules[j]
		add := func(level, code, format string, args ...any) {
			out = append(out, Finding{Source: r.Source, Rule: j + 1, Level: level, Code: code, Message: fmt.Sprintf(format, args...)})
		}
		for i := 0; pairs && i < j; i++ {
			if p.rules[i].covers(r) {
				add("warning", "rule.unreachable", "context %s can never match: %s (%s) comes first and takes all its requests",
					r.Context, p.Name(i), p.rules[i].Context)
				break
			}
		}
		if !r.Glob && looksLikeGlob(r.Context) {
			add("warning", "pattern.glob_like", "context %q is a regular expression, where /* means \"any number of slashes\"; for everything below a path write (.*)", r.Context)
		}
		if r.Glob && looksLikeRegexp(r.Context) {
			add("warning", "pattern.regex_like", "resource path %q is a path pattern, not a regular expression: * is any run of characters and ( ) . \\ are themselves; for everything below /api write /api/*", r.Context)
		}
		for _, m := range unregisteredMethods(r.Methods) {
			add("warning", "method.unknown", "method %s is not a registered HTTP method: no ordinary client sends it%s", m, DidYouMean(m, commonMethods))
		}
		if len(r.Handlers) > 0 && handlers != nil {
			usable := false
			for _, h := range r.Handlers {
				if slices.Contains(handlers, h) {
					usable = true
				} else {
					add("error", "handler.unknown", "allowed handler %q is not configured (configured: %s)%s", h, strings.Join(handlers, ", "), DidYouMean(h, handlers))
				}
			}
			if !usable && r.Secured {
				add("error", "rule.unpassable", "no configured handler is allowed, so no request can pass this rule")
			}
		}
		if users != nil && r.Secured {
			for _, perm := range r.Permissions {
				if perm != "none" && !anyRoleGrants(users.Roles, perm) {
					add("warning", "permission.unheld", "no role holds permission %s (or an ancestor of it)", perm)
				}
			}
		}
		for _, k := range r.Ignored {
			add("warning", "key.ignored", "%s is accepted for WSO2 compatibility but not enforced", k)
		}
		if !r.Secured && (r.CrossTenant || len(r.CrossTenantAllowed) > 0) {
			add("warning", "tenant.unsecured", "cross_tenant has no effect on an unsecured rule: no user is checked")
		}
		if len(r.CrossTenantAllowed) > 0 && !r.CrossTenant {
			add("warning", "tenant.allowed_unused", "cross_access_allowed_tenants has no effect without cross_tenant = true")
		}
	}
	add := func(src, level, code, format string, args ...any) {
		out = append(out, Finding{Source: src, Level: level, Code: code, Message: fmt.Sprintf(format, args...)})
	}
	if users != nil {
		used := map[string]bool{}
		for _, u := range users.Users {
			for _, r := range u.Roles {
				used[r] = true
			}
		}
		for _, r := range users.Roles {
			if !used[r.Name] {
				add(r.Source, "warning", "role.unused", "no user has role %q", r.Name)
			}
		}
	}
	return out
}

func anyRoleGrants(roles []Role, perm string) bool {
	for _, r := range roles {
		for _, held := range r.Permissions {
			if Grants(held, perm) {
				return true
			}
		}
	}
	return false
}

// looksLikeGlob reports a regular expression with a '*' right after '/' or
// at its start: written as a glob, it means something else.
func looksLikeGlob(re string) bool {
	return strings.HasPrefix(re, "*") || strings.Contains(re, "/*")
}

// LoadFindings are the lint codes worth a log line each time a policy
// loads: a rule that can never be used as written.
var LoadFindings = []string{"method.unknown", "pattern.regex_like", "handler.unknown", "rule.unpassable"}

// looksLikeRegexp reports a path pattern written in regular-expression
// syntax (WSO2's habit), which as a path pattern means literal text.
func looksLikeRegexp(glob string) bool {
	return strings.ContainsAny(glob, "()\\") || strings.Contains(glob, ".*")
}

// covers reports whether rule c takes every request rule d would match:
// its methods include d's and its pattern matches every path d's does. It
// knows identical patterns, literal patterns, and globs of the shapes
// P(.*), (.*)S and (.*)X(.*); it may miss other cases, never invents one.
func (c *compiled) covers(d *compiled) bool {
	if !c.methods.includes(&d.methods) {
		return false
	}
	if c.Glob == d.Glob && strings.EqualFold(c.Context, d.Context) {
		return true
	}
	return c.pat.covers(d.pat)
}

// includes reports whether s covers every method t covers.
func (s *methodSet) includes(t *methodSet) bool {
	if s.all {
		return true
	}
	if t.all {
		return false
	}
	if t.mask&^s.mask != 0 {
		return false
	}
	for _, e := range t.extra {
		if !slices.Contains(s.extra, e) {
			return false
		}
	}
	return true
}

// covers reports whether p matches every path q matches, for the shapes
// described at compiled.covers.
func (p *Pattern) covers(q *Pattern) bool {
	if len(p.pieces) != 1 || len(q.pieces) != 1 || p.pieces[0].look != nil || q.pieces[0].look != nil {
		return false
	}
	pg, qg := p.pieces[0].fast, q.pieces[0].fast
	if pg == nil || qg == nil || len(pg) != 1 {
		return false
	}
	pv := pg[0]
	for _, v := range qg {
		if !variantCovers(pv, v) {
			return false
		}
	}
	return true
}

// variantCovers: does the glob variant p match every string variant q does?
func variantCovers(p, q []token) bool {
	for _, t := range append(append([]token(nil), p...), q...) {
		if strings.Contains(t.lit, anyChar) {
			return false // wildcards: not reasoned about, never claimed
		}
	}
	if len(q) == 1 && !q[0].star() || len(q) == 0 { // q is one literal path
		lit := ""
		if len(q) == 1 {
			lit = q[0].lit
		}
		return matchVariant(p, lit)
	}
	switch {
	case len(p) == 2 && !p[0].star() && p[1].star() && p[1].min == 0: // P(.*)
		return !q[0].star() && strings.HasPrefix(q[0].lit, p[0].lit)
	case len(p) == 2 && p[0].star() && p[0].min == 0 && !p[1].star(): // (.*)S
		last := q[len(q)-1]
		return !last.star() && strings.HasSuffix(last.lit, p[1].lit)
	case len(p) == 3 && p[0].star() && p[0].min == 0 && !p[1].star() && p[2].star() && p[2].min == 0: // (.*)X(.*)
		for _, t := range q {
			if !t.star() && strings.Contains(t.lit, p[1].lit) {
				return true
			}
		}
	case len(p) == 1 && p[0].star() && p[0].min == 0: // (.*)
		return true
	}
	return false
}

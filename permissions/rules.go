package permissions

import (
	"fmt"
	"math/bits"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
)

// Access is what happens to a request that no rule matches.
type Access uint8

// The two default accesses.
const (
	Deny  Access = iota // answer 401 without reading credentials
	Allow               // pass the request on unauthenticated
)

// ParseAccess reads "deny" or "allow".
func ParseAccess(s string) (Access, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "deny":
		return Deny, nil
	case "allow":
		return Allow, nil
	}
	return Deny, fmt.Errorf("default_access must be deny or allow, not %q", s)
}

func (a Access) String() string {
	if a == Allow {
		return "allow"
	}
	return "deny"
}

// A Rule is one resource access-control entry.
type Rule struct {
	// Context is the pattern: a WSO2 regular expression, or a Caddy path
	// glob when Glob is set.
	Context string
	Glob    bool
	// Methods lists the HTTP methods the rule covers, in upper case; empty
	// means all. GET also covers HEAD.
	Methods []string
	// Secured rules need an authenticated principal; others pass untouched.
	Secured bool
	// Permissions are permission paths such as /permission/admin/login, or
	// "none".
	Permissions []string
	// Scopes are OAuth2 scopes.
	Scopes []string
	// Handlers are the authentication handlers allowed on this rule, as
	// canonical names (basic, bearer, client_cert); empty means all.
	Handlers []string
	// Authorizers names the extra authorizers that run on this rule after
	// its permissions are checked; empty means every configured one.
	Authorizers []string
	// Source tells where the rule's context was written: "file:line" (a
	// Caddyfile's too). With its place in the policy it names the rule:
	// RuleName.
	Source string
	// CrossTenant lets a user of another tenant than the request's use the
	// rule (WSO2's cross_tenant), when CrossTenantAllowed is empty or holds
	// the user's tenant (cross_access_allowed_tenants, lower case).
	CrossTenant        bool
	CrossTenantAllowed []string
	// Binding, when set, makes a token principal need a token bound to
	// its holder: "mtls", "dpop" or "any" (other principals are not
	// tokens and are not concerned).
	Binding string
	// Ignored lists WSO2 keys that were accepted but are not implemented.
	Ignored []string
}

// Options are the policy-wide settings.
type Options struct {
	Default Access
	// AnyPermission makes a rule with several permissions need any one of
	// them instead of all.
	AnyPermission bool
}

// A Role grants permissions and scopes to the users that have it.
type Role struct {
	Name        string
	Permissions []string
	Scopes      []string
	// Source is "file:line" of the role's entry, when it came from a file.
	Source string
}

// A Policy is an immutable, compiled list of rules and roles. It is safe for
// concurrent use.
type Policy struct {
	Options
	rules []compiled
	names []string       // per rule: RuleName
	roles map[string]int // role name -> bit

	// candidate index: per path segment, one look-up of the whole segment
	// and one of its first prefixKey bytes
	always []uint64              // rules to try for every path
	exact  map[string][]int32    // "/seg" -> rules filed under that whole segment
	segs   map[string][]segGroup // "/se" -> rules filed under a segment prefix starting so
	short  map[string][]segGroup // the same for prefixes shorter than prefixKey
	scan   []scanRule            // literals without '/': checked with strings.Contains
	sigs   []uint64              // per rule: the signature of the segments its literal requires
	// which look-ups can find anything: a 4096-bit filter on the hashes of
	// exact's keys, and one bit per possible segs key ("/" and two bytes)
	exactKeys  [64]uint64
	prefixKeys *[1024]uint64
	pool       sync.Pool // *[]uint64 scratch bitsets

	decided decisionCache // recent answers, by lower-cased path and method
	sent    sentCache     // Decide's recent answers, by path as sent
	naive   naiveRules    // the reference matcher's rules, compiled on first use
}

// sentCache remembers Decide's answers for recent paths as the client sent
// them: the canonical path and, per method, the rule. Bounded as
// decisionCache is; paths that Canonicalize refuses are never kept. It is
// read on every request, so it is a sync.Map: reads take no lock, and
// several cores reading it do not contend (a shared RWMutex's reader
// count made two parallel readers slower than one).
type sentCache struct {
	m sync.Map // string -> *sentPath
	n atomic.Int32
}

type sentPath struct {
	path  string // canonical
	rules decided
}

// decisionCache remembers Match's answers for recent paths: APIs see the
// same paths again and again, and then a decision is one map look-up. It
// is bounded; when full it starts over, so a flood of new paths costs the
// index look-ups it would cost anyway plus one insert.
type decisionCache struct {
	mu sync.RWMutex
	m  map[string]*decided
}

// decided holds, per known method, 0 (not yet asked), 1 (no rule) or the
// matching rule's index + 2.
type decided [len(knownMethods)]atomic.Int32

const decisionCacheSize = 8192

// A segGroup files rules under a prefix of a path segment: the rules whose
// literal ends in the same partial segment share one prefix test.
type segGroup struct {
	seg   string // the prefix
	rules []int32
}

type scanRule struct {
	rule int32
	lit  string
}

type compiled struct {
	Rule
	pat     *Pattern
	methods methodSet
	perms   []RoleSet // per permission: the roles that grant it; nil for "none"
	scopes  []RoleSet // per scope: the roles that hold it
}

// NewPolicy compiles rules and roles. Rules keep their order: the first
// rule whose pattern and method match a request wins.
func NewPolicy(rules []Rule, roles []Role, opts Options) (*Policy, error) {
	p := &Policy{
		Options: opts,
		roles:   make(map[string]int, len(roles)),
		exact:   map[string][]int32{},
		segs:    map[string][]segGroup{},
		short:   map[string][]segGroup{},
	}
	for i, r := range roles {
		if r.Name == "" {
			return nil, fmt.Errorf("role %d has no name", i+1)
		}
		if _, dup := p.roles[r.Name]; dup {
			return nil, fmt.Errorf("role %q defined twice", r.Name)
		}
		p.roles[r.Name] = i
		for _, perm := range r.Permissions {
			if err := checkPermission(perm); err != nil {
				return nil, fmt.Errorf("role %q: %w", r.Name, err)
			}
		}
	}
	words := (len(rules) + 63) / 64
	p.always = make([]uint64, words)
	p.pool.New = func() any { b := make([]uint64, words); return &b }
	for i, r := range rules {
		c := compiled{Rule: r}
		var err error
		if r.Glob {
			c.pat, err = CompileGlob(r.Context)
		} else {
			c.pat, err = CompileRegexp(r.Context)
		}
		if err != nil {
			return nil, fmt.Errorf("%s: context %q: %w", RuleName(r.Source, i+1), r.Context, err)
		}
		if c.methods, err = newMethodSet(r.Methods); err != nil {
			return nil, fmt.Errorf("%s: %w", RuleName(r.Source, i+1), err)
		}
		for _, perm := range r.Permissions {
			if strings.EqualFold(perm, "none") {
				c.perms = append(c.perms, nil)
				continue
			}
			if err := checkPermission(perm); err != nil {
				return nil, fmt.Errorf("%s: %w", RuleName(r.Source, i+1), err)
			}
			c.perms = append(c.perms, p.grantingRoles(roles, perm))
		}
		for _, sc := range r.Scopes {
			c.scopes = append(c.scopes, p.scopeRoles(roles, sc))
		}
		p.rules = append(p.rules, c)
		p.names = append(p.names, RuleName(r.Source, i+1))
	}
	p.index()
	return p, nil
}

// index files each rule under its most selective key: a whole path segment
// its required literal contains (the path must have that segment), or the
// literal's last, partial segment (the path must have a segment starting
// with it). Rules without a usable literal are tried for every path.
// prefixKey bounds the keys of the prefix index ("/" and two bytes).
const prefixKey = 3

func (p *Policy) index() {
	type keys struct {
		whole   []string
		partial string
		scan    string
	}
	all := make([]keys, len(p.rules))
	freq := map[string]int{}
	for i := range p.rules {
		lit := p.rules[i].pat.Literal()
		j := strings.IndexByte(lit, '/')
		if j < 0 {
			all[i].scan = lit
			continue
		}
		lit = lit[j:]
		for {
			k := strings.IndexByte(lit[1:], '/')
			if k < 0 {
				all[i].partial = lit
				freq["p"+lit]++
				break
			}
			seg := lit[:k+1]
			all[i].whole = append(all[i].whole, seg)
			freq["w"+seg]++
			lit = lit[k+1:]
		}
	}
	p.sigs = make([]uint64, len(p.rules))
	group := map[string]int{} // partial segment -> its group's place in its bucket
	for i, k := range all {
		for _, seg := range k.whole {
			p.sigs[i] |= wholeBit(seg)
		}
		if len(k.partial) >= prefixKey {
			p.sigs[i] |= prefixBit(k.partial)
		}
		best, bestN, whole := "", 1<<30, false
		for _, seg := range k.whole {
			if n := freq["w"+seg]; n < bestN {
				best, bestN, whole = seg, n, true
			}
		}
		// a partial segment of one character ("/") selects nothing
		if k.partial != "" && len(k.partial) > 1 && freq["p"+k.partial] < bestN || best == "" && k.partial != "" {
			best, whole = k.partial, false
		}
		switch {
		case best == "/" && !whole:
			// a partial segment of just "/" starts every segment
			p.always[i/64] |= 1 << (i % 64)
		case best != "" && whole:
			p.exact[best] = append(p.exact[best], int32(i))
		case best != "":
			m, key := p.short, best
			if len(best) >= prefixKey {
				m, key = p.segs, best[:prefixKey]
			}
			groups := m[key]
			g, ok := group[best]
			if !ok {
				g = len(groups)
				group[best] = g
				groups = append(groups, segGroup{seg: best})
			}
			groups[g].rules = append(groups[g].rules, int32(i))
			m[key] = groups
		case k.scan != "":
			p.scan = append(p.scan, scanRule{int32(i), k.scan})
		default:
			p.always[i/64] |= 1 << (i % 64)
		}
	}
	for key := range p.exact {
		b := exactKeyBit(wholeHash(key))
		p.exactKeys[b/64] |= 1 << (b % 64)
	}
	p.prefixKeys = new([1024]uint64)
	for key := range p.segs {
		b := prefixKeyBit(key)
		p.prefixKeys[b/64] |= 1 << (b % 64)
	}
}

// exactKeyBit places a whole segment's hash in the exactKeys filter (bits
// other than the ones wholeBit uses).
func exactKeyBit(h uint32) uint32 { return h >> 6 & 4095 }

// prefixKeyBit places a segs key, or a segment's first prefixKey bytes, in
// the prefixKeys filter: the two bytes after the '/'.
func prefixKeyBit(seg string) uint32 { return uint32(seg[1])<<8 | uint32(seg[2]) }

// mayHavePrefix reports whether segs may hold rules for the segment's first
// prefixKey bytes.
func (p *Policy) mayHavePrefix(seg string) bool {
	if len(seg) < prefixKey {
		return false
	}
	b := prefixKeyBit(seg)
	return p.prefixKeys[b/64]&(1<<(b%64)) != 0
}

// Signatures: a rule's signature has one bit for each whole segment its
// literal requires and one for the first prefixKey bytes of its partial
// segment; a path's has the same bits for each of its segments. A rule
// whose signature has a bit the path's lacks requires a segment the path
// does not have, so it is skipped without running its pattern (index
// buckets shared by many rules, such as every copy of an API under its own
// first segment, are mostly skipped so).
func wholeBit(seg string) uint64 { return hashBit(wholeHash(seg)) }

func hashBit(h uint32) uint64 { return 1 << (h & 63) }

func wholeHash(seg string) uint32 { return fnv(seg, 0x811c9dc5) }

func prefixBit(seg string) uint64 { return 1 << (fnv(seg[:prefixKey], 0x01000193) & 63) }

// fnv is 32-bit FNV-1a from the given basis.
func fnv(s string, h uint32) uint32 {
	for i := 0; i < len(s); i++ {
		h = (h ^ uint32(s[i])) * 0x01000193
	}
	return h
}

// Len returns the number of rules.
func (p *Policy) Len() int { return len(p.rules) }

// RuleName is how a rule is named in errors, lint, logs and the admin
// API: where its context was written and its place in the policy,
// counted from 1 ("deployment.toml:16: rule 4").
func RuleName(source string, n int) string {
	if source == "" {
		source = "config"
	}
	return source + ": rule " + strconv.Itoa(n)
}

// Name returns rule i's name (RuleName); i is 0-based, as Rule's.
func (p *Policy) Name(i int) string { return p.names[i] }

// Rule returns rule i (0-based).
func (p *Policy) Rule(i int) *Rule { return &p.rules[i].Rule }

// Match returns the index of the first rule whose pattern matches the
// canonical path and whose methods include method, or -1.
func (p *Policy) Match(method, path string) int {
	lower := LowerASCII(path)
	mi := methodIndex(method)
	if mi < 0 || len(lower) > 512 {
		return p.match(method, lower)
	}
	p.decided.mu.RLock()
	d := p.decided.m[lower]
	p.decided.mu.RUnlock()
	if d != nil {
		if v := d[mi].Load(); v != 0 {
			return int(v) - 2
		}
	}
	found := p.match(method, lower)
	if d == nil {
		p.decided.mu.Lock()
		if d = p.decided.m[lower]; d == nil {
			if p.decided.m == nil || len(p.decided.m) >= decisionCacheSize {
				p.decided.m = make(map[string]*decided, 64)
			}
			d = new(decided)
			p.decided.m[strings.Clone(lower)] = d
		}
		p.decided.mu.Unlock()
	}
	d[mi].Store(int32(found + 2))
	return found
}

// Decide canonicalizes a request's escaped path (Canonicalize) and
// matches it (Match): it returns the canonical path, to be forwarded, and
// the index of the rule that decides, or -1. A path sent recently is one
// map look-up. It returns Canonicalize's error for a path it refuses.
func (p *Policy) Decide(method, escaped string) (string, int, error) {
	mi := methodIndex(method)
	if mi < 0 || len(escaped) > 512 {
		path, err := Canonicalize(escaped)
		if err != nil {
			return "", -1, err
		}
		return path, p.match(method, LowerASCII(path)), nil
	}
	var e *sentPath
	if v, ok := p.sent.m.Load(escaped); ok {
		e = v.(*sentPath)
		if v := e.rules[mi].Load(); v != 0 {
			return e.path, int(v) - 2, nil
		}
	} else {
		path, err := Canonicalize(escaped)
		if err != nil {
			return "", -1, err
		}
		key := strings.Clone(escaped)
		if path == escaped {
			path = key // not the request's memory
		}
		if p.sent.n.Add(1) > decisionCacheSize {
			// full: start over (racing inserts may overshoot a little)
			p.sent.m.Clear()
			p.sent.n.Store(1)
		}
		v, _ := p.sent.m.LoadOrStore(key, &sentPath{path: path})
		e = v.(*sentPath)
	}
	found := p.match(method, LowerASCII(e.path))
	e.rules[mi].Store(int32(found + 2))
	return e.path, found, nil
}

// match is Match without the cache, on a lower-cased path.
func (p *Policy) match(method, lower string) int {
	bp := p.pool.Get().(*[]uint64)
	set := *bp
	copy(set, p.always)
	for _, s := range p.scan {
		if strings.Contains(lower, s.lit) {
			set[s.rule/64] |= 1 << (s.rule % 64)
		}
	}
	// the path's segments, their hashes, and the path's signature
	var buf [16]string
	var hbuf [16]uint32
	segs, hashes := buf[:0], hbuf[:0]
	var sig uint64
	for i := 0; i < len(lower); {
		end := strings.IndexByte(lower[i+1:], '/')
		if end < 0 {
			end = len(lower)
		} else {
			end += i + 1
		}
		seg := lower[i:end]
		h := wholeHash(seg)
		segs, hashes = append(segs, seg), append(hashes, h)
		sig |= hashBit(h)
		if len(seg) >= prefixKey {
			sig |= prefixBit(seg)
		}
		i = end
	}
	for k, seg := range segs {
		if b := exactKeyBit(hashes[k]); p.exactKeys[b/64]&(1<<(b%64)) != 0 {
			for _, r := range p.exact[seg] {
				if p.sigs[r]&^sig == 0 {
					set[r/64] |= 1 << (r % 64)
				}
			}
		}
		if p.mayHavePrefix(seg) {
			for _, g := range p.segs[seg[:prefixKey]] {
				if strings.HasPrefix(seg, g.seg) {
					p.add(set, g.rules, sig)
				}
			}
		}
		if len(p.short) > 0 {
			for n := 1; n < prefixKey && n <= len(seg); n++ {
				for _, g := range p.short[seg[:n]] {
					if strings.HasPrefix(seg, g.seg) {
						p.add(set, g.rules, sig)
					}
				}
			}
		}
	}
	found := -1
	m := methodBit(method)
	for w, word := range set {
		for word != 0 {
			i := w*64 + bits.TrailingZeros64(word)
			word &= word - 1
			c := &p.rules[i]
			if c.methods.has(m, method) && c.pat.Match(lower) {
				found = i
				break
			}
		}
		if found >= 0 {
			break
		}
	}
	p.pool.Put(bp)
	return found
}

// add puts the rules whose required segments the path may have into set.
func (p *Policy) add(set []uint64, rules []int32, sig uint64) {
	for _, r := range rules {
		if p.sigs[r]&^sig == 0 {
			set[r/64] |= 1 << (r % 64)
		}
	}
}

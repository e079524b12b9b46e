// Package basic is rest_auth's Basic authenticator (RFC 7617, WSO2's
// BasicAuthentication), module http.rest_auth.authenticators.basic, and
// its provider for Caddy's own authentication handler (rest_basic). It
// decodes the credential, applies the brute-force limits, and asks the
// snapshot's user store to verify the password.
package basic

import (
	"bytes"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"unicode/utf8"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"

	"github.com/restauth/caddy-restauth/caddyauth"
	"github.com/restauth/caddy-restauth/caddyauth/passwords"
	"github.com/restauth/caddy-restauth/caddyauth/throttle"
)

func init() {
	caddy.RegisterModule(Basic{})
}

// maxBasicHeader bounds the Authorization value looked at.
const maxBasicHeader = 4096

// Basic authenticates HTTP Basic credentials (RFC 7617) with the rest_auth
// handler's user store. Its WSO2 name is BasicAuthentication.
//
// The store checks the password (the users files' store with Caddy's own
// bcrypt and argon2id comparers; an unknown user costs what a wrong
// password costs; verified credentials cached without their plaintext).
// Failed checks are throttled per user name and client address, per
// address and per user.
type Basic struct {
	// Realm goes in the WWW-Authenticate challenge. Default: "restricted".
	Realm string `json:"realm,omitempty"`
	// The brute-force limits: throttle_failures, throttle_window,
	// throttle_address_failures, throttle_user_failures,
	// throttle_ipv6_prefix and throttle_store (shared with the token
	// service's, and counting on the same counters for a user).
	throttle.Settings

	limits *throttle.Limits
}

// CaddyModule returns the Caddy module information.
func (Basic) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "http.rest_auth.authenticators.basic",
		New: func() caddy.Module { return new(Basic) },
	}
}

// Provision sets defaults.
func (b *Basic) Provision(ctx caddy.Context) error {
	if b.Realm == "" {
		b.Realm = "restricted"
	}
	limits, store, err := b.Settings.Limits(ctx, "basic")
	if err != nil {
		return err
	}
	if store != nil && limits == nil {
		return errors.New("basic: throttle_store with throttle off: there is nothing to share")
	}
	b.limits = limits
	return caddyauth.RegisterCollectors(ctx.GetMetricsRegistry(), throttle.Collectors()...)
}

// Validate checks the settings.
func (b *Basic) Validate() error {
	if strings.ContainsAny(b.Realm, "\"\\\r\n") {
		return fmt.Errorf("basic: realm must not contain quotes, backslashes or line breaks")
	}
	return b.Settings.Validate("basic")
}

// Name returns "basic".
func (*Basic) Name() string { return "basic" }

// WSO2Name returns "BasicAuthentication".
func (*Basic) WSO2Name() string { return "BasicAuthentication" }

// Present reports whether the Authorization header uses the Basic scheme.
func (*Basic) Present(r *http.Request) bool {
	return caddyauth.HasScheme(caddyauth.Authorization(r), "basic")
}

// Challenge returns the Basic challenge.
func (b *Basic) Challenge(error) string {
	return `Basic realm="` + b.Realm + `", charset="UTF-8"`
}

// decodeBufs hold decoded credentials while they are checked: a pooled
// buffer (the store is an interface, so a stack buffer would escape and
// be allocated on every request). It is cleared before it goes back.
var decodeBufs = sync.Pool{New: func() any { return new([512]byte) }}

// Authenticate checks the Basic credentials.
func (b *Basic) Authenticate(r *http.Request, s *caddyauth.Snapshot) (*caddyauth.Principal, error) {
	v := caddyauth.Authorization(r)
	buf := decodeBufs.Get().(*[512]byte)
	defer func() {
		clear(buf[:min(len(buf), len(v)*3/4)]) // what decoding can have written
		decodeBufs.Put(buf)
	}()
	u, pw, ok := decodeBasic(v, buf[:])
	if !ok {
		return nil, caddyauth.Deny("cred.malformed")
	}
	if f, ok := s.Accounts.(caddyauth.NameFolder); ok {
		u = []byte(f.FoldName(string(u))) // ALICE and alice are one user to a directory, and to its throttles
	}
	if b.limits.Active() {
		if wait := b.limits.Wait(string(u), caddyauth.ClientIP(r)); wait > 0 {
			return nil, &caddyauth.Denial{Status: http.StatusTooManyRequests, Reason: "basic.throttled", RetryAfter: wait}
		}
	}
	if b.limits.Shared() {
		// a fleet: a good, cached credential never waits on the shared
		// store; anything else asks it before a check that costs something
		if cv, ok := s.Accounts.(caddyauth.CachedVerifier); ok {
			if acct := cv.VerifyCached(u, pw); acct != nil {
				return s.Principal(acct, "basic"), nil
			}
		}
		if wait := b.limits.WaitShared(r.Context(), string(u), caddyauth.ClientIP(r)); wait > 0 {
			return nil, &caddyauth.Denial{Status: http.StatusTooManyRequests, Reason: "basic.throttled", RetryAfter: wait}
		}
	}
	acct, err := s.Accounts.Verify(r.Context(), u, pw)
	if err == nil {
		return s.Principal(acct, "basic"), nil
	}
	var un *caddyauth.Unavailable
	switch {
	case errors.Is(err, caddyauth.ErrBadCredential):
		b.limits.Fail(string(u), caddyauth.ClientIP(r))
		return nil, caddyauth.Deny("basic.invalid")
	case errors.As(err, &un) && un.Busy:
		return nil, &caddyauth.Denial{Status: http.StatusServiceUnavailable, Reason: "basic.busy", RetryAfter: un.RetryAfter}
	case errors.As(err, &un):
		return nil, &caddyauth.Denial{Status: http.StatusServiceUnavailable, Reason: "store.unavailable", RetryAfter: un.RetryAfter}
	}
	return nil, err
}

// parseBasic reads "Basic <base64(user:password)>": one space, padded
// standard base64, valid UTF-8, split at the first colon, neither part empty.
func parseBasic(v string) (user, pass string, ok bool) {
	var buf [512]byte
	u, p, ok := decodeBasic(v, buf[:])
	return string(u), string(p), ok
}

// decodeBasic is parseBasic into a caller's buffer (a larger one is made
// when it is too small), so the common case allocates nothing.
func decodeBasic(v string, buf []byte) (user, pass []byte, ok bool) {
	if len(v) > maxBasicHeader || len(v) < 7 || v[5] != ' ' {
		return nil, nil, false
	}
	if need := len(v[6:]) / 4 * 3; need > len(buf) {
		buf = make([]byte, need)
	}
	n, ok := decodeBase64(buf, v[6:])
	if !ok {
		return nil, nil, false
	}
	raw := buf[:n]
	i := bytes.IndexByte(raw, ':')
	if i <= 0 || i > throttle.MaxName || i == len(raw)-1 || len(raw)-i-1 > passwords.MaxPassword || !utf8.Valid(raw) {
		return nil, nil, false
	}
	for _, c := range raw {
		if c < 0x20 || c == 0x7f {
			return nil, nil, false
		}
	}
	return raw[:i], raw[i+1:], true
}

// b64 maps standard base64 characters to their values; others to 0xff.
var b64 = func() (t [256]byte) {
	for i := range t {
		t[i] = 0xff
	}
	for i, c := range "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/" {
		t[c] = byte(i)
	}
	return t
}()

// decodeBase64 decodes padded standard base64 strictly (RFC 4648: no line
// breaks or other characters, padding only at the end, unused bits zero),
// as base64.StdEncoding.Strict() does except that it also refuses the line
// breaks that one skips.
func decodeBase64(dst []byte, src string) (int, bool) {
	if len(src) == 0 || len(src)%4 != 0 || len(src)/4*3 > len(dst) {
		return 0, false
	}
	n := 0
	for i := 0; i < len(src); i += 4 {
		var v [4]byte
		pad := 0
		for j := 0; j < 4; j++ {
			c := src[i+j]
			if c == '=' {
				if i+4 != len(src) || j < 2 {
					return 0, false
				}
				pad++
				continue
			}
			if pad > 0 {
				return 0, false
			}
			if v[j] = b64[c]; v[j] == 0xff {
				return 0, false
			}
		}
		x := uint32(v[0])<<18 | uint32(v[1])<<12 | uint32(v[2])<<6 | uint32(v[3])
		switch pad {
		case 0:
			dst[n], dst[n+1], dst[n+2] = byte(x>>16), byte(x>>8), byte(x)
			n += 3
		case 1:
			if x&0xff != 0 {
				return 0, false
			}
			dst[n], dst[n+1] = byte(x>>16), byte(x>>8)
			n += 2
		default:
			if x&0xffff != 0 {
				return 0, false
			}
			dst[n] = byte(x >> 16)
			n++
		}
	}
	return n, true
}

// UnmarshalCaddyfile sets up the handler from Caddyfile tokens:
//
//	basic [{
//		realm <realm>
//		throttle <failures> [<window>] # per user and address (default 10 1m); or: throttle off
//		throttle_address <failures>|off # per address, all users (default 10x)
//		throttle_user <failures>|off    # per user, all addresses (default 10x)
//		throttle_ipv6_prefix <bits>     # IPv6 clients counted per prefix (default 64)
//		throttle_store <module> { ... } # counts shared by a fleet, e.g. redis
//	}]
func (b *Basic) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	d.Next() // handler name
	if d.NextArg() {
		return d.ArgErr()
	}
	for d.NextBlock(0) {
		switch d.Val() {
		case "realm":
			if !d.NextArg() {
				return d.ArgErr()
			}
			b.Realm = d.Val()
		default:
			ok, err := b.Settings.UnmarshalOption(d)
			if !ok {
				return caddyauth.UnknownOption(d, "basic", append([]string{"realm"}, throttle.Options...))
			}
			if err != nil {
				return err
			}
		}
	}
	return nil
}

// Interface guards
var (
	_ caddyauth.Authenticator = (*Basic)(nil)
	_ caddy.Provisioner       = (*Basic)(nil)
	_ caddy.Validator         = (*Basic)(nil)
	_ caddyfile.Unmarshaler   = (*Basic)(nil)
)

// Package apikey is an example third-party authenticator for rest_auth: a
// client sends an API key in a header (X-API-Key by default); the key's
// SHA-256 is looked up in a keys file, which names the key's user. The
// user's roles come from rest_auth's users files.
//
//	rest_auth {
//		users users.toml
//		api_key {
//			keys_file api-keys.toml
//		}
//		basic
//	}
//
// api-keys.toml holds hashes, never keys:
//
//	[[keys]]
//	user = "alice"
//	sha256 = "<hex SHA-256 of the key>"   # printf %s "$KEY" | sha256sum
package apikey

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"net/textproto"
	"os"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/pelletier/go-toml/v2"

	"github.com/restauth/caddy-restauth/caddyauth"
)

func init() {
	caddy.RegisterModule(APIKey{})
}

// APIKey authenticates an API key sent in a request header.
type APIKey struct {
	// Header carries the key. Default: X-API-Key. rest_auth deletes it
	// before the upstream sees the request.
	Header string `json:"header,omitempty"`
	// KeysFile is a TOML file of [[keys]] with user and sha256 (hex).
	KeysFile string `json:"keys_file,omitempty"`

	keys map[[32]byte]string // SHA-256 of a key -> user
}

// CaddyModule returns the Caddy module information.
func (APIKey) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "http.rest_auth.authenticators.api_key",
		New: func() caddy.Module { return new(APIKey) },
	}
}

// Provision reads the keys file.
func (a *APIKey) Provision(caddy.Context) error {
	if a.Header == "" {
		a.Header = "X-API-Key"
	}
	a.Header = textproto.CanonicalMIMEHeaderKey(a.Header)
	data, err := os.ReadFile(a.KeysFile)
	if err != nil {
		return fmt.Errorf("api_key: %w", err)
	}
	var doc struct {
		Keys []struct {
			User   string `toml:"user"`
			SHA256 string `toml:"sha256"`
		} `toml:"keys"`
	}
	dec := toml.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&doc); err != nil {
		return fmt.Errorf("api_key: %s: %w", a.KeysFile, err)
	}
	a.keys = make(map[[32]byte]string, len(doc.Keys))
	for i, k := range doc.Keys {
		raw, err := hex.DecodeString(k.SHA256)
		if err != nil || len(raw) != sha256.Size || k.User == "" {
			return fmt.Errorf("api_key: %s: keys[%d]: needs a user and a 64-digit hex sha256", a.KeysFile, i+1)
		}
		var sum [32]byte
		copy(sum[:], raw)
		a.keys[sum] = k.User
	}
	return nil
}

// Name returns "api_key", the name rules use in allowed_auth_handlers.
func (*APIKey) Name() string { return "api_key" }

// WSO2Name returns "": WSO2 has no such handler.
func (*APIKey) WSO2Name() string { return "" }

// Present reports whether the request carries the header.
func (a *APIKey) Present(r *http.Request) bool { return r.Header.Get(a.Header) != "" }

// Challenge names the header to send.
func (a *APIKey) Challenge(error) string { return `APIKey header="` + a.Header + `"` }

// StripHeaders keeps the key from the upstream.
func (a *APIKey) StripHeaders() []string { return []string{a.Header} }

// Authenticate looks the key's hash up. Looking up a hash leaks nothing
// about the stored keys through timing: an attacker cannot steer the hash.
// The principal is new per request; an authenticator that keeps state per
// credential would build it once per snapshot (s.NewPrincipal, and a
// caddyauth.PrincipalCache), as the built-in ones do.
func (a *APIKey) Authenticate(r *http.Request, s *caddyauth.Snapshot) (*caddyauth.Principal, error) {
	vals := r.Header.Values(a.Header)
	if len(vals) != 1 || len(vals[0]) > 512 {
		return nil, &caddyauth.Denial{Status: http.StatusUnauthorized, Reason: "api_key.malformed"}
	}
	user, ok := a.keys[sha256.Sum256([]byte(vals[0]))]
	if !ok {
		return nil, &caddyauth.Denial{Status: http.StatusUnauthorized, Reason: "api_key.invalid"}
	}
	// the user's roles from rest_auth's user store; an error means the
	// store could not tell (a directory down): 503, never a guess
	acct, err := s.Lookup(r.Context(), user)
	if err != nil {
		return nil, err
	}
	p := caddyauth.Principal{User: user}
	if acct != nil {
		p.Roles = acct.Roles
	}
	return &p, nil
}

// UnmarshalCaddyfile reads:
//
//	api_key {
//		keys_file <file>
//		header <field>
//	}
func (a *APIKey) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	d.Next() // the module name
	for d.NextBlock(0) {
		var dst *string
		switch d.Val() {
		case "keys_file":
			dst = &a.KeysFile
		case "header":
			dst = &a.Header
		default:
			return d.Errf("api_key: unknown option %q", d.Val())
		}
		if !d.NextArg() {
			return d.ArgErr()
		}
		*dst = d.Val()
		if d.NextArg() {
			return d.ArgErr()
		}
	}
	return nil
}

// Interface guards
var (
	_ caddyauth.Authenticator  = (*APIKey)(nil)
	_ caddyauth.HeaderStripper = (*APIKey)(nil)
	_ caddy.Provisioner        = (*APIKey)(nil)
	_ caddyfile.Unmarshaler    = (*APIKey)(nil)
)

package permissions

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/pelletier/go-toml/v2"
	"github.com/pelletier/go-toml/v2/unstable"
)

// A FileError names the file, line and field of a configuration error.
type FileError struct {
	File   string
	Line   int    // 0 when unknown
	Column int    // 0 when unknown
	Field  string // such as users[2].password; "" when none
	Err    error
}

func (e *FileError) Error() string {
	var b strings.Builder
	b.WriteString(e.File)
	if e.Line > 0 {
		b.WriteString(":" + strconv.Itoa(e.Line))
		if e.Column > 0 {
			b.WriteString(":" + strconv.Itoa(e.Column))
		}
	}
	b.WriteString(": ")
	if e.Field != "" {
		b.WriteString(e.Field + ": ")
	}
	b.WriteString(e.Err.Error())
	return b.String()
}

func (e *FileError) Unwrap() error { return e.Err }

// A User is an account in a users file.
type User struct {
	Name  string
	Hash  string // bcrypt or argon2id, as caddy hash-password prints it
	Roles []string
	// Source is "file:line" of the user's entry.
	Source string
}

// A Client is an OAuth2 client of the built-in token service.
type Client struct {
	ID string
	// Hash is the client secret's bcrypt or argon2id hash.
	Hash string
	// GrantTypes the client may use: client_credentials, password,
	// refresh_token.
	GrantTypes []string
	// Scopes the client may be given.
	Scopes []string
	// Roles the client's own tokens (client credentials) hold, for rules
	// that check permissions; a user's roles never apply to them.
	Roles []string
	// AuthMethod is how the client proves itself at the token service:
	// "" (a secret, client_secret_basic or client_secret_post),
	// "tls_client_auth" (a client certificate the TLS layer verified, with
	// TLSSubjectDN or TLSSANDNS) or "self_signed_tls_client_auth" (the
	// certificate whose SHA-256 is TLSCertSHA256), RFC 8705 section 2.
	AuthMethod    string
	TLSSubjectDN  string
	TLSSANDNS     string
	TLSCertSHA256 string
	// Source is "file:line" of the client's entry.
	Source string
}

// GrantTypes the built-in token service knows.
var GrantTypes = []string{"client_credentials", "password", "refresh_token"}

// Users is the content of one or more users files.
type Users struct {
	Roles   []Role
	Users   []User
	Clients []Client
}

type usersDoc struct {
	Roles []struct {
		Name        string   `toml:"name"`
		Permissions []string `toml:"permissions"`
		Scopes      []string `toml:"scopes"`
	} `toml:"roles"`
	Users []struct {
		Username string   `toml:"username"`
		Password string   `toml:"password"`
		Roles    []string `toml:"roles"`
	} `toml:"users"`
	Clients []struct {
		ClientID   string   `toml:"client_id"`
		Secret     string   `toml:"secret"`
		GrantTypes []string `toml:"grant_types"`
		Scopes     []string `toml:"scopes"`
		Roles      []string `toml:"roles"`
		AuthMethod string   `toml:"token_endpoint_auth_method"`
		SubjectDN  string   `toml:"tls_client_auth_subject_dn"`
		SANDNS     string   `toml:"tls_client_auth_san_dns"`
		CertSHA256 string   `toml:"tls_client_certificate_sha256"`
	} `toml:"clients"`
}

// LoadUsers reads users files and merges them. A role may be defined in one
// file and used in another; a user or role defined twice is an error, and so
// is a user with a role that no file defines.
func LoadUsers(paths ...string) (*Users, error) {
	all := &Users{}
	for _, path := range paths {
		data, err := os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("reading users file: %w", err)
		}
		u, err := ParseUsers(path, data)
		if err != nil {
			return nil, err
		}
		all.Roles = append(all.Roles, u.Roles...)
		all.Users = append(all.Users, u.Users...)
		all.Clients = append(all.Clients, u.Clients...)
	}
	return all, all.Check()
}

// Check verifies that names are unique and every role a user has is defined.
func (u *Users) Check() error {
	roles := map[string]bool{}
	roleAt := map[string]string{}
	for _, r := range u.Roles {
		if roles[r.Name] {
			return fmt.Errorf("%s: role %q is already defined at %s", r.Source, r.Name, roleAt[r.Name])
		}
		roles[r.Name] = true
		roleAt[r.Name] = r.Source
	}
	users := map[string]string{}
	for _, usr := range u.Users {
		if prev, dup := users[usr.Name]; dup {
			return fmt.Errorf("%s: user %q is already defined at %s", usr.Source, usr.Name, prev)
		}
		users[usr.Name] = usr.Source
		for _, r := range usr.Roles {
			if !roles[r] {
				return fmt.Errorf("%s: user %q has role %q, which no users file defines%s", usr.Source, usr.Name, r, DidYouMean(r, keys(roles)))
			}
		}
	}
	clients := map[string]string{}
	for _, c := range u.Clients {
		if prev, dup := clients[c.ID]; dup {
			return fmt.Errorf("%s: client %q is already defined at %s", c.Source, c.ID, prev)
		}
		clients[c.ID] = c.Source
		if user, clash := users[c.ID]; clash {
			return fmt.Errorf("%s: client id %q is also the name of the user at %s: a client's own token names the client as its subject, so the two must differ", c.Source, c.ID, user)
		}
		for _, r := range c.Roles {
			if !roles[r] {
				return fmt.Errorf("%s: client %q has role %q, which no users file defines", c.Source, c.ID, r)
			}
		}
	}
	return nil
}

// ParseUsers parses a users.toml file. name is used in error messages.
// Unknown keys are errors.
func ParseUsers(name string, data []byte) (*Users, error) {
	lines, err := newFileLines(data, false)
	if err != nil {
		return nil, syntaxError(name, data, err)
	}
	var doc usersDoc
	dec := toml.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&doc); err != nil {
		return nil, usersError(name, lines, err)
	}
	out := &Users{}
	fail := func(table string, i int, key string, format string, args ...any) error {
		return &FileError{File: name, Line: lines.line(table, i, key), Field: fmt.Sprintf("%s[%d].%s", table, i+1, key), Err: fmt.Errorf(format, args...)}
	}
	for i, r := range doc.Roles {
		if r.Name == "" {
			return nil, fail("roles", i, "name", "missing or empty")
		}
		for j, p := range r.Permissions {
			if err := checkPermission(p); err != nil {
				return nil, fail("roles", i, "permissions", "entry %d: %v", j+1, err)
			}
			if strings.Contains(p, "//") {
				return nil, fail("roles", i, "permissions", "entry %d: permission %q has an empty segment", j+1, p)
			}
		}
		out.Roles = append(out.Roles, Role{Name: r.Name, Permissions: r.Permissions, Scopes: r.Scopes,
			Source: fmt.Sprintf("%s:%d", name, lines.line("roles", i, ""))})
	}
	for i, u := range doc.Users {
		if err := checkUsername(u.Username); err != nil {
			return nil, fail("users", i, "username", "%v", err)
		}
		if _, err := ParseHash(u.Password); err != nil {
			return nil, fail("users", i, "password", "%v", err)
		}
		out.Users = append(out.Users, User{
			Name:   u.Username,
			Hash:   u.Password,
			Roles:  u.Roles,
			Source: fmt.Sprintf("%s:%d", name, lines.line("users", i, "")),
		})
	}
	for i, c := range doc.Clients {
		if err := checkUsername(c.ClientID); err != nil {
			return nil, fail("clients", i, "client_id", "%v", err)
		}
		switch c.AuthMethod {
		case "", "client_secret_basic", "client_secret_post":
			c.AuthMethod = ""
			if _, err := ParseHash(c.Secret); err != nil {
				return nil, fail("clients", i, "secret", "%v (store a hash, as caddy hash-password prints it)", err)
			}
		case "tls_client_auth":
			if (c.SubjectDN == "") == (c.SANDNS == "") {
				return nil, fail("clients", i, "token_endpoint_auth_method", "tls_client_auth needs one of tls_client_auth_subject_dn and tls_client_auth_san_dns")
			}
		case "self_signed_tls_client_auth":
			if b, err := base64.RawURLEncoding.DecodeString(c.CertSHA256); err != nil || len(b) != 32 {
				return nil, fail("clients", i, "tls_client_certificate_sha256", "want the certificate's SHA-256, base64url without padding (its x5t#S256)")
			}
		default:
			return nil, fail("clients", i, "token_endpoint_auth_method", "unknown method %q (client_secret_basic, client_secret_post, tls_client_auth, self_signed_tls_client_auth)", c.AuthMethod)
		}
		if c.AuthMethod != "" && c.Secret != "" {
			return nil, fail("clients", i, "secret", "a client that authenticates with a certificate has no secret")
		}
		if len(c.GrantTypes) == 0 {
			return nil, fail("clients", i, "grant_types", "missing (client_credentials, password, refresh_token)")
		}
		for _, g := range c.GrantTypes {
			if !slices.Contains(GrantTypes, g) {
				return nil, fail("clients", i, "grant_types", "unknown grant type %q", g)
			}
		}
		out.Clients = append(out.Clients, Client{ID: c.ClientID, Hash: c.Secret, GrantTypes: c.GrantTypes, Scopes: c.Scopes, Roles: c.Roles,
			AuthMethod: c.AuthMethod, TLSSubjectDN: c.SubjectDN, TLSSANDNS: c.SANDNS, TLSCertSHA256: c.CertSHA256,
			Source: fmt.Sprintf("%s:%d", name, lines.line("clients", i, ""))})
	}
	return out, nil
}

func checkUsername(s string) error {
	switch {
	case s == "":
		return errors.New("missing or empty")
	case !utf8.ValidString(s):
		return errors.New("not valid UTF-8")
	case strings.ContainsRune(s, ':'):
		return errors.New("contains ':', which Basic authentication cannot carry")
	case len(s) > 256:
		return errors.New("longer than 256 bytes")
	}
	for _, r := range s {
		if r < 0x20 || r == 0x7f {
			return errors.New("contains a control character")
		}
	}
	return nil
}

// Resources is the content of a deployment.toml resources file.
type Resources struct {
	// Default is the file's default_access, nil when it does not set one.
	Default *Access
	Rules   []Rule
	// Warnings are what the file says that is probably not meant, such as
	// no rule at all.
	Warnings []Finding
}

// Keys of a [[resource.access_control]] entry that WSO2 knows and this
// module accepts without implementing them (none now).
var ignoredKeys = map[string]bool{}

// entryKeys are the keys a [[resource.access_control]] entry may have.
var entryKeys = []string{"context", "secure", "secured", "http_method", "permissions", "scopes", "allowed_auth_handlers",
	"cross_tenant", "cross_access_allowed_tenants"}

// racKeys are the keys of [resource_access_control].
var racKeys = []string{"default_access", "default_access_allow"}

// The tables of a deployment.toml that hold rules and their defaults.
const (
	rulesTable   = "resource.access_control"
	defaultTable = "resource_access_control"
)

// LoadResources reads a deployment.toml file.
func LoadResources(path string) (*Resources, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading resources file: %w", err)
	}
	return ParseResources(path, data)
}

// ParseResources parses WSO2's deployment.toml form: the
// [resource_access_control] table and the [[resource.access_control]]
// entries. Other tables are ignored, but one whose name is close to
// either of these is an error: it is a typo that would drop rules.
func ParseResources(name string, data []byte) (*Resources, error) {
	lines, err := newFileLines(data, true)
	if err != nil {
		return nil, syntaxError(name, data, err)
	}
	for table, entries := range lines.idx {
		if table == rulesTable || table == defaultTable || len(entries) == 0 {
			continue
		}
		if want := Suggest(table, []string{rulesTable, defaultTable}); want != "" {
			return nil, &FileError{File: name, Line: entries[0].header, Field: table,
				Err: fmt.Errorf("no such table: did you mean %s? (this table is ignored, and its rules with it)", want)}
		}
	}
	var doc struct {
		RAC      map[string]any `toml:"resource_access_control"`
		Resource struct {
			AccessControl []map[string]any `toml:"access_control"`
		} `toml:"resource"`
	}
	if err := toml.Unmarshal(data, &doc); err != nil {
		return nil, tomlError(name, err)
	}
	out := &Resources{}
	for k, v := range doc.RAC {
		fe := &FileError{File: name, Line: lines.line(defaultTable, 0, k), Field: defaultTable + "." + k}
		switch k {
		case "default_access":
			s, ok := v.(string)
			if !ok {
				fe.Err = fmt.Errorf("want a string (deny or allow), got %s", tomlKind(v))
				return nil, fe
			}
			a, err := ParseAccess(s)
			if err != nil {
				fe.Err = err
				return nil, fe
			}
			out.Default = &a
		case "default_access_allow":
			b, ok := v.(bool)
			if !ok {
				fe.Err = fmt.Errorf("want true or false, got %s", tomlKind(v))
				return nil, fe
			}
			a := Deny
			if b {
				a = Allow
			}
			out.Default = &a
		default:
			fe.Err = errors.New("unknown key" + DidYouMean(k, racKeys))
			return nil, fe
		}
	}
	for i, e := range doc.Resource.AccessControl {
		r, err := ruleFromTOML(e)
		if err != nil {
			field := fmt.Sprintf("%s[%d]", rulesTable, i+1)
			var fe *fieldError
			if errors.As(err, &fe) {
				return nil, &FileError{File: name, Line: lines.line(rulesTable, i, fe.key), Field: field + "." + fe.key, Err: fe.err}
			}
			return nil, &FileError{File: name, Line: lines.line(rulesTable, i, ""), Field: field, Err: err}
		}
		r.Source = fmt.Sprintf("%s:%d", name, lines.line(rulesTable, i, "context"))
		out.Rules = append(out.Rules, r)
	}
	if len(out.Rules) == 0 {
		out.Warnings = append(out.Warnings, Finding{Source: name, Level: "warning", Code: "resources.empty",
			Message: "no [[resource.access_control]] entry: this file adds no rule"})
	}
	return out, nil
}

type fieldError struct {
	key string
	err error
}

func (e *fieldError) Error() string { return e.key + ": " + e.err.Error() }

// tomlKind names the kind of a decoded TOML value in words.
func tomlKind(v any) string {
	switch v.(type) {
	case string:
		return "a string"
	case bool:
		return "a boolean"
	case int64:
		return "an integer"
	case float64:
		return "a float"
	case []any:
		return "a list"
	case map[string]any:
		return "a table"
	}
	return "a date or time"
}

func ruleFromTOML(e map[string]any) (Rule, error) {
	var r Rule
	bad := func(key, format string, args ...any) error {
		return &fieldError{key, fmt.Errorf(format, args...)}
	}
	for k := range e {
		if !slices.Contains(entryKeys, k) {
			return r, bad(k, "unknown key%s", DidYouMean(k, entryKeys))
		}
	}
	ctx, ok := e["context"].(string)
	switch {
	case e["context"] == nil:
		return r, bad("context", "missing")
	case !ok:
		return r, bad("context", "want a string, got %s", tomlKind(e["context"]))
	case ctx == "":
		return r, bad("context", "empty")
	}
	r.Context = ctx
	r.Secured = true // safer than WSO2, where a missing key means unsecured
	secKey := ""
	for _, k := range []string{"secure", "secured"} {
		if v, ok := e[k]; ok {
			if secKey != "" {
				return r, bad(k, "both secure and secured are set")
			}
			secKey = k
			b, ok := v.(bool)
			if !ok {
				return r, bad(k, "want true or false, got %s", tomlKind(v))
			}
			r.Secured = b
		}
	}
	m, ok := e["http_method"].(string)
	if !ok {
		if e["http_method"] == nil {
			return r, bad("http_method", "missing (use \"all\" for every method)")
		}
		return r, bad("http_method", "want a string such as \"GET, POST\" or \"all\", got %s", tomlKind(e["http_method"]))
	}
	r.Methods = SplitMethods(m)
	if len(r.Methods) == 0 {
		return r, bad("http_method", "empty (WSO2 would never match this entry; use \"all\")")
	}
	if _, err := newMethodSet(r.Methods); err != nil {
		return r, bad("http_method", "%v", err)
	}
	var err error
	if r.Permissions, err = stringList(e, "permissions"); err != nil {
		return r, err
	}
	for _, p := range r.Permissions {
		if err := checkPermission(p); err != nil {
			return r, bad("permissions", "%v", err)
		}
	}
	if r.Scopes, err = stringList(e, "scopes"); err != nil {
		return r, err
	}
	handlers, err := stringList(e, "allowed_auth_handlers")
	if err != nil {
		return r, err
	}
	r.Handlers = HandlerNames(handlers)
	switch v := e["cross_tenant"].(type) {
	case nil:
	case bool:
		r.CrossTenant = v
	case string: // WSO2's template writes the attribute's text
		switch strings.ToLower(strings.TrimSpace(v)) {
		case "true":
			r.CrossTenant = true
		case "false":
		default:
			return r, bad("cross_tenant", "want true or false, got %q", v)
		}
	default:
		return r, bad("cross_tenant", "want true or false, got %s", tomlKind(v))
	}
	allowed, err := stringList(e, "cross_access_allowed_tenants")
	if err != nil {
		return r, err
	}
	for _, t := range allowed {
		r.CrossTenantAllowed = append(r.CrossTenantAllowed, strings.ToLower(t))
	}
	for k := range e {
		if ignoredKeys[k] {
			r.Ignored = append(r.Ignored, k)
		}
	}
	sort.Strings(r.Ignored)
	return r, nil
}

// stringList reads a list of strings, or one comma-separated string.
func stringList(e map[string]any, key string) ([]string, error) {
	v, ok := e[key]
	if !ok {
		return nil, nil
	}
	var out []string
	switch v := v.(type) {
	case string:
		for _, s := range strings.Split(v, ",") {
			if s = strings.TrimSpace(s); s != "" {
				out = append(out, s)
			}
		}
	case []any:
		for _, x := range v {
			s, ok := x.(string)
			if !ok {
				return nil, &fieldError{key, fmt.Errorf("want a list of strings, got a list holding %s", tomlKind(x))}
			}
			if s = strings.TrimSpace(s); s != "" {
				out = append(out, s)
			}
		}
	default:
		return nil, &fieldError{key, fmt.Errorf("want a list of strings (or one comma-separated string), got %s", tomlKind(v))}
	}
	return out, nil
}

// HandlerNames cleans a rule's list of allowed handlers; a list containing
// "all" means every handler (nil). Names are kept as written (WSO2's, such
// as BasicAuthentication, or a handler's own); the Caddy glue resolves them
// against the handlers that are registered.
func HandlerNames(list []string) []string {
	var out []string
	for _, h := range list {
		h = strings.TrimSpace(h)
		if strings.EqualFold(h, "all") {
			return nil
		}
		if h != "" {
			out = append(out, h)
		}
	}
	return out
}

// syntaxError is tomlError for a document the line indexer could not
// read: decoding it again gives the error with its line and column.
func syntaxError(name string, data []byte, err error) error {
	var v any
	if derr := toml.Unmarshal(data, &v); derr != nil {
		return tomlError(name, derr)
	}
	return tomlError(name, err)
}

// tomlError turns a go-toml syntax error into a FileError with its line
// and column.
func tomlError(name string, err error) error {
	var de *toml.DecodeError
	var pe *unstable.ParserError
	switch {
	case errors.As(err, &de):
		row, col := de.Position()
		return &FileError{File: name, Line: row, Column: col, Err: errors.New(strings.TrimPrefix(de.Error(), "toml: "))}
	case errors.As(err, &pe):
		return &FileError{File: name, Err: errors.New(pe.Message)}
	}
	return &FileError{File: name, Err: err}
}

// usersSchema is what each key of a users file holds, in words.
var usersSchema = map[string]map[string]string{
	"roles": {"name": "a string", "permissions": "a list of strings", "scopes": "a list of strings"},
	"users": {"username": "a string", "password": "a string", "roles": "a list of strings"},
	"clients": {"client_id": "a string", "secret": "a string", "grant_types": "a list of strings", "scopes": "a list of strings", "roles": "a list of strings",
		"token_endpoint_auth_method": "a string", "tls_client_auth_subject_dn": "a string", "tls_client_auth_san_dns": "a string", "tls_client_certificate_sha256": "a string"},
}

// decodeKind reads the TOML kind out of go-toml's type error ("cannot
// decode TOML string into ..."), and whether it was a list's element.
var decodeKind = regexp.MustCompile(`cannot decode TOML (\w+) into .* of type (\S+)$`)

// usersError says what is wrong in a users file in the file's terms:
// unknown keys with a suggestion, a value of the wrong type as "want a
// list of strings, got a string", never a Go type.
func usersError(name string, lines *fileLines, err error) error {
	var se *toml.StrictMissingError
	var de *toml.DecodeError
	switch {
	case errors.As(err, &se) && len(se.Errors) > 0:
		e := se.Errors[0]
		row, col := e.Position()
		key := e.Key()
		msg := "unknown key"
		if len(key) == 2 {
			if fields, ok := usersSchema[key[0]]; ok {
				msg += DidYouMean(key[1], keys(fields))
			}
		} else if len(key) == 1 {
			return &FileError{File: name, Line: row, Column: col, Field: key[0], Err: errors.New("unknown table" + DidYouMean(key[0], keys(usersSchema)))}
		}
		return &FileError{File: name, Line: row, Column: col, Field: lines.field(key, row), Err: errors.New(msg)}
	case errors.As(err, &de) && len(de.Key()) == 2:
		row, col := de.Position()
		key := de.Key()
		want := usersSchema[key[0]][key[1]]
		m := decodeKind.FindStringSubmatch(de.Error())
		if want == "" || m == nil {
			break
		}
		got := "a " + m[1]
		if m[1] == "integer" {
			got = "an integer"
		}
		if want == "a list of strings" && m[2] != "[]string" {
			got = "a list holding " + got
		}
		return &FileError{File: name, Line: row, Column: col, Field: lines.field(key, row), Err: fmt.Errorf("want %s, got %s", want, got)}
	}
	return tomlError(name, err)
}

// field names the entry of an array of tables that holds a line, as
// users[2].roles.
func (f *fileLines) field(key []string, row int) string {
	if len(key) == 0 {
		return ""
	}
	entries := f.idx[key[0]]
	n := 0
	for i, e := range entries {
		if e.header <= row {
			n = i + 1
		}
	}
	out := key[0]
	if n > 0 {
		out += "[" + strconv.Itoa(n) + "]"
	}
	if len(key) > 1 {
		out += "." + strings.Join(key[1:], ".")
	}
	return out
}

func keys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// lineIndex maps (table path, entry index, key) to a line.
type lineIndex map[string][]entryLines

// entryLines are the lines of one table entry: its header, and its keys
// when they were asked for.
type entryLines struct {
	header int
	keys   map[string]int
}

func (l lineIndex) line(table string, i int, key string) int {
	entries := l[table]
	if i >= len(entries) {
		return 0
	}
	if n, ok := entries[i].keys[key]; ok {
		return n
	}
	return entries[i].header
}

// fileLines finds the lines of a document's tables and keys. Keys are
// indexed at once only if asked; otherwise on the first question about
// one (an error), so that a file of 100,000 users does not carry a map
// per user through a load that finds nothing wrong.
type fileLines struct {
	data  []byte
	idx   lineIndex
	keyed bool
}

func newFileLines(data []byte, keys bool) (*fileLines, error) {
	idx, err := keyLines(data, keys)
	return &fileLines{data: data, idx: idx, keyed: keys}, err
}

func (f *fileLines) line(table string, i int, key string) int {
	if key != "" && !f.keyed {
		// the document parsed once already, so this cannot fail
		f.idx, _ = keyLines(f.data, true)
		f.keyed = true
	}
	return f.idx.line(table, i, key)
}

// keyLines walks a TOML document and records the line of each table header
// and, with keys, of each key, per entry of each array of tables.
func keyLines(data []byte, keys bool) (lineIndex, error) {
	idx := lineIndex{}
	var p unstable.Parser
	p.Reset(data)
	// line numbers from byte offsets, by binary search over the line
	// starts (go-toml's Shape scans from the top each time: quadratic)
	starts := []int{0}
	for i, c := range data {
		if c == '\n' {
			starts = append(starts, i+1)
		}
	}
	lineOf := func(r unstable.Range) int {
		return sort.Search(len(starts), func(i int) bool { return starts[i] > int(r.Offset) })
	}
	var cur *entryLines
	for p.NextExpression() {
		e := p.Expression()
		switch e.Kind {
		case unstable.Table, unstable.ArrayTable:
			path, line := keyPath(e, lineOf)
			entry := entryLines{header: line}
			if keys {
				entry.keys = map[string]int{}
			}
			if e.Kind == unstable.Table {
				idx[path] = []entryLines{entry}
			} else {
				idx[path] = append(idx[path], entry)
			}
			cur = &idx[path][len(idx[path])-1]
		case unstable.KeyValue:
			if cur == nil || !keys {
				continue
			}
			path, _ := keyPath(e, lineOf)
			cur.keys[path] = lineOf(e.Raw)
		}
	}
	return idx, p.Error()
}

func keyPath(e *unstable.Node, lineOf func(unstable.Range) int) (string, int) {
	var parts []string
	line := 0
	it := e.Key()
	for it.Next() {
		n := it.Node()
		parts = append(parts, string(n.Data))
		if line == 0 && n.Raw.Length > 0 {
			line = lineOf(n.Raw)
		}
	}
	return strings.Join(parts, "."), line
}

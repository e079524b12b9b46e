package permissions

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestConfigMistakes: what an operator may write by mistake is a load
// error naming the file, the line (and column for syntax) and what to
// write instead; never a Go type or struct.
func TestConfigMistakes(t *testing.T) {
	const hash = "$2a$04$abcdefghijklmnopqrstuuabcdefghijklmnopqrstuvwxyz01234"
	cases := []struct {
		name, file, data, want string
	}{
		{"a misspelled rules table", "deployment.toml",
			"[[resource.access_control]]\ncontext = \"/a\"\nhttp_method = \"all\"\n\n[[resource.acess_control]]\ncontext = \"/b\"\nhttp_method = \"all\"\n",
			"deployment.toml:5: resource.acess_control: no such table: did you mean resource.access_control?"},
		{"a misspelled rules table, and no good one", "deployment.toml",
			"[[resource.accesscontrol]]\ncontext = \"/b\"\nhttp_method = \"all\"\n",
			"deployment.toml:1: resource.accesscontrol: no such table: did you mean resource.access_control?"},
		{"a misspelled defaults table", "deployment.toml",
			"[resource_acces_control]\ndefault_access = \"allow\"\n",
			"deployment.toml:1: resource_acces_control: no such table: did you mean resource_access_control?"},
		{"a misspelled default key", "deployment.toml",
			"[resource_access_control]\ndefault_acess = \"allow\"\n",
			"deployment.toml:2: resource_access_control.default_acess: unknown key (did you mean default_access?)"},
		{"a misspelled entry key", "deployment.toml",
			"[[resource.access_control]]\ncontext = \"/a\"\nhttp_method = \"all\"\npermisions = [\"/p\"]\n",
			"deployment.toml:4: resource.access_control[1].permisions: unknown key (did you mean permissions?)"},
		{"a method that is not a token", "deployment.toml",
			"[[resource.access_control]]\ncontext = \"/a\"\nhttp_method = \"GET POST\"\n",
			"deployment.toml:3: resource.access_control[1].http_method: bad HTTP method \"GET POST\""},
		{"context of the wrong type", "deployment.toml",
			"[[resource.access_control]]\ncontext = [\"/a\"]\nhttp_method = \"all\"\n",
			"deployment.toml:2: resource.access_control[1].context: want a string, got a list"},
		{"permissions holding a number", "deployment.toml",
			"[[resource.access_control]]\ncontext = \"/a\"\nhttp_method = \"all\"\npermissions = [\"/p\", 5]\n",
			"deployment.toml:4: resource.access_control[1].permissions: want a list of strings, got a list holding an integer"},
		{"a syntax error", "deployment.toml",
			"[[resource.access_control]]\ncontext = \"/a\nhttp_method = \"all\"\n",
			"deployment.toml:2:"},
		{"roles as a string", "users.toml",
			"[[roles]]\nname = \"r\"\n\n[[users]]\nusername = \"a\"\npassword = \"" + hash + "\"\n\n[[users]]\nusername = \"b\"\npassword = \"" + hash + "\"\nroles = \"r\"\n",
			"users.toml:11:9: users[2].roles: want a list of strings, got a string"},
		{"a user name as a number", "users.toml",
			"[[users]]\nusername = 7\n",
			"users.toml:2:12: users[1].username: want a string, got an integer"},
		{"roles holding a number", "users.toml",
			"[[users]]\nusername = \"a\"\nroles = [1]\n",
			"users.toml:3:10: users[1].roles: want a list of strings, got a list holding an integer"},
		{"a misspelled users table", "users.toml",
			"[[user]]\nusername = \"a\"\n",
			"users.toml:1:3: user: unknown table (did you mean users?)"},
		{"an unclosed table header", "users.toml",
			"[[users]\n",
			"users.toml:1:8: expected ']]' to close array table name"},
	}
	for _, c := range cases {
		var err error
		if c.file == "users.toml" {
			_, err = ParseUsers(c.file, []byte(c.data))
		} else {
			_, err = ParseResources(c.file, []byte(c.data))
		}
		if err == nil || !strings.HasPrefix(err.Error(), c.want) {
			t.Errorf("%s: error %v\nwant one starting %q", c.name, err, c.want)
		}
		if err != nil && (strings.Contains(err.Error(), "struct") || strings.Contains(err.Error(), "[]string")) {
			t.Errorf("%s: a Go type in %q", c.name, err)
		}
	}

	// a file with no rule loads, with a warning
	r, err := ParseResources("empty.toml", []byte("[server]\nhostname = \"x\"\n"))
	if err != nil || len(r.Warnings) != 1 || r.Warnings[0].Code != "resources.empty" {
		t.Errorf("a file with no rule: %v %+v", err, r)
	}

	// users and roles defined twice across files name both places
	dir := t.TempDir()
	a := filepath.Join(dir, "a.toml")
	b := filepath.Join(dir, "b.toml")
	os.WriteFile(a, []byte("[[roles]]\nname = \"r\"\n\n[[users]]\nusername = \"u\"\npassword = \""+hash+"\"\n"), 0o600)
	os.WriteFile(b, []byte("\n[[users]]\nusername = \"u\"\npassword = \""+hash+"\"\n"), 0o600)
	if _, err := LoadUsers(a, b); err == nil || err.Error() != b+":2: user \"u\" is already defined at "+a+":4" {
		t.Errorf("a user defined twice: %v", err)
	}
	os.WriteFile(b, []byte("\n\n[[roles]]\nname = \"r\"\n"), 0o600)
	if _, err := LoadUsers(a, b); err == nil || err.Error() != b+":3: role \"r\" is already defined at "+a+":1" {
		t.Errorf("a role defined twice: %v", err)
	}
}

// TestLintMistakes: rules that load but can never be meant are lint
// findings, each naming the rule by its line and place.
func TestLintMistakes(t *testing.T) {
	res, err := ParseResources("deployment.toml", []byte(`
[[resource.access_control]]
context = "/api/(.*)"
http_method = "GTE"

[[resource.access_control]]
context = "/public(.*)"
secure = false
http_method = "all"
cross_tenant = true
`))
	if err != nil {
		t.Fatal(err)
	}
	rules := append([]Rule{{Context: "/api/(.*)", Glob: true, Methods: []string{"GET"}, Secured: true, Source: "Caddyfile:7"}}, res.Rules...)
	p, err := NewPolicy(rules, nil, Options{})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, f := range p.Lint([]string{"basic"}, nil) {
		got = append(got, f.String())
	}
	want := []string{
		`Caddyfile:7: rule 1: warning: resource path "/api/(.*)" is a path pattern, not a regular expression: * is any run of characters and ( ) . \ are themselves; for everything below /api write /api/* [pattern.regex_like]`,
		`deployment.toml:3: rule 2: warning: method GTE is not a registered HTTP method: no ordinary client sends it (did you mean GET?) [method.unknown]`,
		`deployment.toml:7: rule 3: warning: cross_tenant has no effect on an unsecured rule: no user is checked [tenant.unsecured]`,
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("findings:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	// a bad pattern is a load error naming the rule the same way
	_, err = NewPolicy([]Rule{{Context: "/a", Secured: true, Source: "d.toml:2"}, {Context: "(a", Secured: true, Source: "d.toml:9"}}, nil, Options{})
	if err == nil || !strings.HasPrefix(err.Error(), `d.toml:9: rule 2: context "(a": `) {
		t.Errorf("bad pattern: %v", err)
	}
}

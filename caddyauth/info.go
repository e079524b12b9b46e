package caddyauth

import (
	"encoding/json"
	"slices"
	"strings"

	"github.com/restauth/caddy-restauth/permissions"
)

// HandlerInfo is a live handler as GET /rest-auth/ shows it.
type HandlerInfo struct {
	Name     string          `json:"name"`
	Settings json.RawMessage `json:"settings"`
	Rules    []*RuleInfo     `json:"rules"`
	Roles    []RoleInfo      `json:"roles"`
	Users    []UserInfo      `json:"users"`
	// Findings are lint's findings and the load warnings (each names its
	// rule by its place, from 1, when it is about one).
	Findings []permissions.Finding `json:"findings"`
	// Tenants are the configured tenants' domains (none without tenants).
	Tenants []string `json:"tenants,omitempty"`
}

// RoleInfo is a role and what it holds.
type RoleInfo struct {
	Name        string   `json:"name"`
	Permissions []string `json:"permissions"`
	Scopes      []string `json:"scopes"`
}

// UserInfo is a user without its password hash.
type UserInfo struct {
	Username string   `json:"username"`
	Roles    []string `json:"roles"`
	Source   string   `json:"source"`
}

// ReloadResult counts what a reload of one handler loaded, or says why
// it was refused (the running policy stays).
type ReloadResult struct {
	Name  string `json:"name"`
	Rules int    `json:"rules"`
	Roles int    `json:"roles"`
	Users int    `json:"users"`
	Error string `json:"error,omitempty"`
}

// TokenServiceReload is what a reload of an oauth2_server's users files
// loaded, or why it was refused (the running clients and users stay).
type TokenServiceReload struct {
	Issuer  string `json:"issuer"`
	Clients int    `json:"clients"`
	Users   int    `json:"users"`
	Error   string `json:"error,omitempty"`
}

// ReloadReport is POST /rest-auth/reload's answer: one result per handler
// (and per token service, when no handler was named).
type ReloadReport struct {
	Handlers      []ReloadResult       `json:"handlers"`
	TokenServices []TokenServiceReload `json:"token_services,omitempty"`
}

func (h *Handler) info() HandlerInfo {
	s := h.store.Load()
	hi := HandlerInfo{Name: h.Name, Settings: h.settings(), Rules: []*RuleInfo{}, Roles: []RoleInfo{}, Users: []UserInfo{}}
	for i := 0; i < s.Policy.Len(); i++ {
		hi.Rules = append(hi.Rules, ruleInfo(i, s.Policy.Rule(i)))
	}
	for _, r := range s.Users.Roles {
		hi.Roles = append(hi.Roles, RoleInfo{Name: r.Name, Permissions: nonNil(r.Permissions), Scopes: nonNil(r.Scopes)})
	}
	for _, u := range s.Users.Users {
		hi.Users = append(hi.Users, UserInfo{Username: u.Name, Roles: nonNil(u.Roles), Source: u.Source})
	}
	hi.Findings = append(slices.Clone(s.Warnings), s.Policy.Lint(h.authNames, s.Users)...)
	if hi.Findings == nil {
		hi.Findings = []permissions.Finding{}
	}
	for _, t := range h.Tenants {
		hi.Tenants = append(hi.Tenants, strings.ToLower(t.Domain))
	}
	return hi
}

// settings is the handler's JSON config without rules (listed apart) and
// with secrets replaced.
func (h *Handler) settings() json.RawMessage {
	cp := *h
	cp.Rules = nil
	cp.AuthenticatorsRaw = h.authJSON
	cp.AuthorizersRaw = h.authorizerJSON
	raw, err := json.Marshal(&cp)
	if err != nil {
		return json.RawMessage(`{}`)
	}
	var m any
	if json.Unmarshal(raw, &m) != nil {
		return json.RawMessage(`{}`)
	}
	redact(m)
	out, _ := json.Marshal(m)
	return out
}

// redact replaces the values of keys that hold secrets, at any depth.
func redact(v any) {
	switch x := v.(type) {
	case map[string]any:
		for k, val := range x {
			if isSecretKey(k) {
				x[k] = "[redacted]"
				continue
			}
			redact(val)
		}
	case []any:
		for _, e := range x {
			redact(e)
		}
	}
}

func isSecretKey(k string) bool {
	k = strings.ToLower(k)
	return strings.Contains(k, "secret") || strings.Contains(k, "password") || k == "token"
}

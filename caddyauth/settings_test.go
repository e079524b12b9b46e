package caddyauth

import (
	"encoding/json"
	"strings"
	"testing"
)

// TestSettingsListing: the admin listing shows authenticators and
// authorizers apart, with secrets redacted.
func TestSettingsListing(t *testing.T) {
	h := &Handler{Name: "x",
		authJSON:       []json.RawMessage{json.RawMessage(`{"handler":"bearer","introspect":{"client_secret":"s3cret"}}`)},
		authorizerJSON: []json.RawMessage{json.RawMessage(`{"authorizer":"client_networks","ranges":["10.0.0.0/8"]}`)},
		Rules:          []RuleConfig{{Path: "/x"}},
	}
	var s struct {
		Authenticators []map[string]any `json:"authenticators"`
		Authorizers    []map[string]any `json:"authorizers"`
		Rules          any              `json:"rules"`
	}
	raw := h.settings()
	if err := json.Unmarshal(raw, &s); err != nil {
		t.Fatal(err)
	}
	if len(s.Authenticators) != 1 || len(s.Authorizers) != 1 || s.Authorizers[0]["authorizer"] != "client_networks" || s.Rules != nil {
		t.Errorf("settings %s", raw)
	}
	if strings.Contains(string(raw), "s3cret") {
		t.Errorf("a secret in the listing: %s", raw)
	}
}

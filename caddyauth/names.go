package caddyauth

import (
	"sync"

	"github.com/caddyserver/caddy/v2"
)

// authenticatorAliases maps every registered authenticator module's WSO2
// name to its own name (OAuthAuthentication -> bearer), so that rules may
// use either. It is read from the modules themselves, built-in or not.
var authenticatorAliases = sync.OnceValue(func() map[string]string {
	aliases := map[string]string{}
	for _, info := range caddy.GetModules("http.rest_auth.authenticators") {
		if a, ok := info.New().(Authenticator); ok && a.WSO2Name() != "" {
			aliases[a.WSO2Name()] = a.Name()
		}
	}
	return aliases
})

// canonicalHandler returns a handler name as its module names itself.
func canonicalHandler(name string) string {
	if n, ok := authenticatorAliases()[name]; ok {
		return n
	}
	return name
}

// canonicalHandlers maps a rule's allowed handlers (nil stays nil).
func canonicalHandlers(names []string) []string {
	if names == nil {
		return nil
	}
	out := make([]string, len(names))
	for i, n := range names {
		out[i] = canonicalHandler(n)
	}
	return out
}

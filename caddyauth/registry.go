package caddyauth

import (
	"fmt"
	"maps"
	"slices"
	"sort"
	"strings"
	"sync"

	"github.com/restauth/caddy-restauth/permissions"
)

// registry holds the live rest_auth handlers. The admin API reaches them
// through it: admin modules are made anew on every config load, but a
// handler is registered from Provision until Cleanup, so during a reload
// the old and the new handlers are both here for a moment, newest last.
var registry struct {
	sync.Mutex
	handlers []*Handler
}

func register(h *Handler) {
	registry.Lock()
	registry.handlers = append(registry.handlers, h)
	registry.Unlock()
}

func unregister(h *Handler) {
	registry.Lock()
	defer registry.Unlock()
	for i, x := range registry.handlers {
		if x == h {
			registry.handlers = append(registry.handlers[:i:i], registry.handlers[i+1:]...)
			return
		}
	}
}

// liveHandlers returns the registered handlers, newest last.
func liveHandlers() []*Handler {
	registry.Lock()
	defer registry.Unlock()
	return append([]*Handler(nil), registry.handlers...)
}

// findHandlers returns the live handlers with a name, newest last. An
// empty name is allowed when all live handlers share one name.
func findHandlers(name string) ([]*Handler, error) {
	all := liveHandlers()
	if len(all) == 0 {
		return nil, fmt.Errorf("no rest_auth handler is live")
	}
	if name == "" {
		names := map[string]bool{}
		for _, h := range all {
			names[h.Name] = true
		}
		if len(names) > 1 {
			var list []string
			for n := range names {
				list = append(list, fmt.Sprintf("%q", n))
			}
			sort.Strings(list)
			return nil, fmt.Errorf("several rest_auth handlers are live (%s): say which with \"handler\"", strings.Join(list, ", "))
		}
		return all, nil
	}
	var out []*Handler
	for _, h := range all {
		if h.Name == name {
			out = append(out, h)
		}
	}
	if len(out) == 0 {
		names := map[string]bool{}
		for _, h := range all {
			names[h.Name] = true
		}
		return nil, fmt.Errorf("no live rest_auth handler is named %q%s", name, permissions.DidYouMean(name, slices.Sorted(maps.Keys(names))))
	}
	return out, nil
}

// A TokenServiceReloader is a live token service (oauth2_server) whose
// users files the admin API's reload reads again when no handler is named.
type TokenServiceReloader interface {
	Reload() (TokenServiceReload, error)
}

// tokenServices are the live token services.
var tokenServices struct {
	sync.Mutex
	list []TokenServiceReloader
}

// RegisterTokenService makes a token service's reload part of the admin
// API's reload until the returned function is called (from its Cleanup).
func RegisterTokenService(t TokenServiceReloader) (unregister func()) {
	tokenServices.Lock()
	tokenServices.list = append(tokenServices.list, t)
	tokenServices.Unlock()
	return func() {
		tokenServices.Lock()
		defer tokenServices.Unlock()
		tokenServices.list = slices.DeleteFunc(tokenServices.list, func(x TokenServiceReloader) bool { return x == t })
	}
}

func liveTokenServices() []TokenServiceReloader {
	tokenServices.Lock()
	defer tokenServices.Unlock()
	return slices.Clone(tokenServices.list)
}

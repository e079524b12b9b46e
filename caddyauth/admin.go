package caddyauth

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/caddyserver/caddy/v2"
)

func init() {
	caddy.RegisterModule(AdminAPI{})
}

// AdminAPI serves rest_auth's routes on Caddy's admin endpoint:
//
//	GET  /rest-auth/         the live policies: rules and their source,
//	                         roles, users (without hashes), settings
//	                         (without secrets)
//	POST /rest-auth/check    what a request would get, and why
//	POST /rest-auth/reload   re-read the users and resources files
//	POST /rest-auth/rotate-keys  a new signing key for every oauth2_server
//	                         (the old one verifies until its tokens expire)
//	GET  /rest-auth/ui/      the policy explorer, a read-only page
//
// check names a handler with "handler" (its name option); it may be left
// out when only one is live. reload without "handler" reloads every live
// rest_auth handler and every oauth2_server's users files. A handler that
// is not live, or a missing one where several are, is a 400.
type AdminAPI struct{}

// CaddyModule returns the Caddy module information.
func (AdminAPI) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "admin.api.rest_auth",
		New: func() caddy.Module { return new(AdminAPI) },
	}
}

// Routes returns the admin routes.
func (a *AdminAPI) Routes() []caddy.AdminRoute {
	return []caddy.AdminRoute{{Pattern: "/rest-auth/", Handler: caddy.AdminHandlerFunc(a.serve)}}
}

func (a *AdminAPI) serve(w http.ResponseWriter, r *http.Request) error {
	if r.URL.Path == "/rest-auth/ui" || strings.HasPrefix(r.URL.Path, "/rest-auth/ui/") {
		return serveUI(w, r)
	}
	switch r.URL.Path {
	case "/rest-auth/", "/rest-auth":
		if r.Method != http.MethodGet {
			return apiError(http.StatusMethodNotAllowed, errors.New("use GET"))
		}
		var out struct {
			Handlers []HandlerInfo `json:"handlers"`
		}
		out.Handlers = []HandlerInfo{}
		for _, h := range liveHandlers() {
			out.Handlers = append(out.Handlers, h.info())
		}
		return writeJSON(w, http.StatusOK, out)
	case "/rest-auth/check":
		if r.Method != http.MethodPost {
			return apiError(http.StatusMethodNotAllowed, errors.New("use POST"))
		}
		var q CheckRequest
		if err := readJSON(r, &q); err != nil {
			return apiError(http.StatusBadRequest, err)
		}
		hs, err := findHandlers(q.Handler)
		if err != nil {
			return apiError(http.StatusBadRequest, err)
		}
		h := hs[len(hs)-1]
		return writeJSON(w, http.StatusOK, explain(h.store.Load(), h.authNames, h.authorizers, q))
	case "/rest-auth/reload":
		if r.Method != http.MethodPost {
			return apiError(http.StatusMethodNotAllowed, errors.New("use POST"))
		}
		var q struct {
			Handler string `json:"handler"`
		}
		if err := readJSON(r, &q); err != nil && !errors.Is(err, io.EOF) {
			return apiError(http.StatusBadRequest, err)
		}
		var hs []*Handler
		var ts []TokenServiceReloader
		if q.Handler == "" {
			hs, ts = liveHandlers(), liveTokenServices()
		} else {
			var err error
			if hs, err = findHandlers(q.Handler); err != nil {
				return apiError(http.StatusBadRequest, err)
			}
		}
		out := ReloadReport{Handlers: []ReloadResult{}}
		status := http.StatusOK
		for _, h := range hs {
			res, err := h.Reload()
			res.Name = h.Name
			if err != nil {
				res.Error, status = err.Error(), http.StatusBadRequest
			}
			out.Handlers = append(out.Handlers, res)
		}
		for _, t := range ts {
			res, err := t.Reload()
			if err != nil {
				res.Error, status = err.Error(), http.StatusBadRequest
			}
			out.TokenServices = append(out.TokenServices, res)
		}
		return writeJSON(w, status, out)
	case "/rest-auth/rotate-keys":
		if r.Method != http.MethodPost {
			return apiError(http.StatusMethodNotAllowed, errors.New("use POST"))
		}
		type rotated struct {
			Issuer string `json:"issuer"`
			Kid    string `json:"kid,omitempty"`
			Error  string `json:"error,omitempty"`
		}
		out := struct {
			TokenServices []rotated `json:"token_services"`
		}{TokenServices: []rotated{}}
		status := http.StatusOK
		for _, t := range liveTokenServices() {
			kr, ok := t.(KeyRotator)
			if !ok {
				continue
			}
			iss, kid, err := kr.RotateKeys()
			res := rotated{Issuer: iss, Kid: kid}
			if err != nil {
				res.Error, status = err.Error(), http.StatusServiceUnavailable
			}
			out.TokenServices = append(out.TokenServices, res)
		}
		return writeJSON(w, status, out)
	}
	return apiError(http.StatusNotFound, fmt.Errorf("no such route: %s", r.URL.Path))
}

func apiError(status int, err error) error {
	return caddy.APIError{HTTPStatus: status, Err: err}
}

// readJSON decodes a small JSON body strictly.
func readJSON(r *http.Request, v any) error {
	dec := json.NewDecoder(io.LimitReader(r.Body, 1<<20))
	dec.DisallowUnknownFields()
	return dec.Decode(v)
}

func writeJSON(w http.ResponseWriter, status int, v any) error {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// Interface guard
var _ caddy.AdminRouter = (*AdminAPI)(nil)

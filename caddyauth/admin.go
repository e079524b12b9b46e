package caddyauth

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"

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
//
// Calls name a handler with "handler" (its name option); it may be left
// out when only one is live.
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
			return apiError(http.StatusNotFound, err)
		}
		h := hs[len(hs)-1]
		return writeJSON(w, http.StatusOK, explain(h.store.Load(), h.authNames, q))
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
		hs, err := findHandlers(q.Handler)
		if err != nil {
			return apiError(http.StatusNotFound, err)
		}
		var counts ReloadResult
		for _, h := range hs {
			if counts, err = h.Reload(); err != nil {
				return apiError(http.StatusBadRequest, err)
			}
		}
		return writeJSON(w, http.StatusOK, counts)
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

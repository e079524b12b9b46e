package caddyauth

import (
	"embed"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"time"
)

// The policy explorer: a read-only page on the admin endpoint under
// /rest-auth/ui/, embedded in the binary (no build step, nothing fetched
// from elsewhere). It reads GET /rest-auth/, POST /rest-auth/check and
// /metrics, which the admin endpoint already serves.

//go:embed ui/index.html ui/app.js ui/style.css
var uiFiles embed.FS

var uiTypes = map[string]string{
	"index.html": "text/html; charset=utf-8",
	"app.js":     "text/javascript; charset=utf-8",
	"style.css":  "text/css; charset=utf-8",
}

// serveUI answers /rest-auth/ui/ and its two files.
func serveUI(w http.ResponseWriter, r *http.Request) error {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		return apiError(http.StatusMethodNotAllowed, errors.New("use GET"))
	}
	name := strings.TrimPrefix(r.URL.Path, "/rest-auth/ui/")
	if r.URL.Path == "/rest-auth/ui" {
		http.Redirect(w, r, "/rest-auth/ui/", http.StatusMovedPermanently)
		return nil
	}
	if name == "" {
		name = "index.html"
	}
	ctype, ok := uiTypes[name]
	if !ok {
		return apiError(http.StatusNotFound, errors.New("no such file"))
	}
	data, err := uiFiles.ReadFile("ui/" + name)
	if err != nil {
		return apiError(http.StatusNotFound, err)
	}
	h := w.Header()
	h.Set("Content-Type", ctype)
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Referrer-Policy", "no-referrer")
	// only this page's own files and the admin endpoint's own answers
	h.Set("Content-Security-Policy", "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'")
	_, err = w.Write(data)
	return err
}

// Caddy's admin endpoint refuses a browser's navigation to it: a request
// with Sec-Fetch-Mode must carry an allowed Origin or Referer, and a
// typed address sends neither (Caddy's cross-site protection, which this
// module does not weaken). So a person opens the explorer through
// `caddy rest-auth ui`: a viewer on a loopback address that serves the
// same page and passes its three read-only calls to the admin endpoint
// with the admin's own origin.

// UIViewer serves the explorer on its own address (listen, a loopback
// host:port) and passes GET /rest-auth/, POST /rest-auth/check and GET
// /metrics to the admin endpoint at admin (host:port). Nothing else is
// passed on: no write reaches the admin endpoint through it.
func UIViewer(admin, listen string) http.Handler {
	origin := "http://" + admin
	client := &http.Client{Timeout: 15 * time.Second}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// the viewer answers only its own address (no DNS rebinding) and
		// no other site's pages
		if !strings.EqualFold(r.Host, listen) || r.Header.Get("Sec-Fetch-Site") == "cross-site" {
			http.Error(w, "not allowed", http.StatusForbidden)
			return
		}
		switch {
		case r.URL.Path == "/" || r.URL.Path == "/rest-auth/ui":
			http.Redirect(w, r, "/rest-auth/ui/", http.StatusFound)
			return
		case strings.HasPrefix(r.URL.Path, "/rest-auth/ui/"):
			if err := serveUI(w, r); err != nil {
				http.Error(w, err.Error(), http.StatusNotFound)
			}
			return
		case r.URL.Path == "/rest-auth/" && r.Method == http.MethodGet,
			r.URL.Path == "/rest-auth/check" && r.Method == http.MethodPost,
			r.URL.Path == "/metrics" && r.Method == http.MethodGet:
		default:
			http.Error(w, "not passed on by the viewer", http.StatusNotFound)
			return
		}
		req, err := http.NewRequestWithContext(r.Context(), r.Method, origin+r.URL.Path, io.LimitReader(r.Body, 64<<10))
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		req.Header.Set("Origin", origin)
		req.Header.Set("Content-Type", r.Header.Get("Content-Type"))
		resp, err := client.Do(req)
		if err != nil {
			http.Error(w, "the admin endpoint did not answer: "+err.Error(), http.StatusBadGateway)
			return
		}
		defer resp.Body.Close()
		w.Header().Set("Content-Type", resp.Header.Get("Content-Type"))
		w.Header().Set("Cache-Control", "no-store")
		w.WriteHeader(resp.StatusCode)
		_, _ = io.Copy(w, io.LimitReader(resp.Body, 64<<20))
	})
}

// runUI serves the viewer until the process is stopped.
func runUI(admin, listen string) (int, error) {
	host, _, err := net.SplitHostPort(listen)
	if err != nil {
		return 2, fmt.Errorf("--listen %q: %w", listen, err)
	}
	if ip := net.ParseIP(host); host != "localhost" && (ip == nil || !ip.IsLoopback()) {
		return 2, fmt.Errorf("--listen %q: the viewer listens on a loopback address only", listen)
	}
	ln, err := net.Listen("tcp", listen)
	if err != nil {
		return 1, err
	}
	fmt.Printf("rest_auth policy explorer: http://%s/rest-auth/ui/ (admin endpoint %s; Ctrl-C stops it)\n", listen, admin)
	srv := &http.Server{Handler: UIViewer(admin, listen), ReadHeaderTimeout: 10 * time.Second}
	return 1, srv.Serve(ln)
}

package caddyauth

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"

	"github.com/caddyserver/caddy/v2"
	caddycmd "github.com/caddyserver/caddy/v2/cmd"
	"github.com/spf13/cobra"
)

func init() {
	caddycmd.RegisterCommand(caddycmd.Command{
		Name:  "rest-auth",
		Usage: "check|lint --config <file> [--handler <name>] ...",
		Short: "Checks rest_auth decisions and lints rest_auth policies offline",
		Long: `
rest-auth check answers what a request would get from rest_auth, and why, the same
answer as the admin API's POST /rest-auth/check, without a running server:

	caddy rest-auth check --config Caddyfile --method GET --path /scim2/Users --user alice

It prints the decision as JSON and exits 0 when the request would pass, 1 when not.
With several rest_auth handlers in the config, name one with --handler (its name option).

rest-auth lint reports what loads but can never be meant: rules that can never match,
regular expressions written like globs and path patterns written like regular
expressions, methods no client sends, unknown handler names, permissions no role
holds, roles no user has, files without rules and WSO2 keys that are accepted but not
enforced, each with its file, line and rule number; a file that does not load is an
error. It prints "no findings" when there are none, and exits 1 when it finds an
error. --handler restricts it to one handler.`,
		CobraFunc: func(cmd *cobra.Command) {
			check := &cobra.Command{
				Use:   "check --config <file> --method <m> --path <p> [--user <u>] [--roles a,b] [--scopes s1,s2] [--claims <json>] [--tenant <t>] [--auth-method basic|bearer|client_cert] [--handler <name>]",
				Short: "What a request would get, and why",
				RunE: caddycmd.WrapCommandFuncForCobra(func(fl caddycmd.Flags) (int, error) {
					q := CheckRequest{
						Handler: fl.String("handler"), Method: fl.String("method"), Path: fl.String("path"),
						User: fl.String("user"), AuthMethod: fl.String("auth-method"), Tenant: fl.String("tenant"),
						Roles: splitList(fl.String("roles")), Scopes: splitList(fl.String("scopes")),
					}
					if c := fl.String("claims"); c != "" {
						if err := json.Unmarshal([]byte(c), &q.Claims); err != nil {
							return 2, fmt.Errorf("--claims: want a JSON object such as {\"department\":\"sales\"}: %v", err)
						}
						if q.AuthMethod == "" {
							q.AuthMethod = "bearer"
						}
					}
					return runCheck(fl.String("config"), fl.String("adapter"), q, os.Stdout)
				}),
			}
			lint := &cobra.Command{
				Use:   "lint --config <file> [--handler <name>]",
				Short: "Report mistakes in rest_auth policies",
				RunE: caddycmd.WrapCommandFuncForCobra(func(fl caddycmd.Flags) (int, error) {
					return runLint(fl.String("config"), fl.String("adapter"), fl.String("handler"), os.Stdout)
				}),
			}
			for _, c := range []*cobra.Command{check, lint} {
				c.Flags().StringP("config", "c", "", "Configuration file (default: ./Caddyfile)")
				c.Flags().StringP("adapter", "a", "", "Name of config adapter")
			}
			check.Flags().String("handler", "", "rest_auth handler name (needed when there are several)")
			lint.Flags().String("handler", "", "lint only this rest_auth handler (default: all)")
			check.Flags().String("method", "GET", "HTTP method")
			check.Flags().String("path", "/", "request path")
			check.Flags().String("user", "", "user name (roles from the users files)")
			check.Flags().String("roles", "", "comma-separated roles")
			check.Flags().String("scopes", "", "comma-separated token scopes")
			check.Flags().String("tenant", "", "the principal's tenant (default: the user's @tenant, else the request's)")
			check.Flags().String("claims", "", `token claims as a JSON object, e.g. {"department":"sales"} (implies --auth-method bearer)`)
			check.Flags().String("auth-method", "", "basic, bearer or client_cert (default basic, bearer with scopes)")
			ui := &cobra.Command{
				Use:   "ui [--admin localhost:2019] [--listen 127.0.0.1:2020]",
				Short: "Open the policy explorer (a read-only page) on a loopback address",
				RunE: caddycmd.WrapCommandFuncForCobra(func(fl caddycmd.Flags) (int, error) {
					return runUI(fl.String("admin"), fl.String("listen"))
				}),
			}
			ui.Flags().String("admin", "localhost:2019", "Caddy's admin endpoint")
			ui.Flags().String("listen", "127.0.0.1:2020", "where the page is served (loopback only)")
			cmd.AddCommand(check, lint, ui)
		},
	})
}

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// offlineHandler is a rest_auth handler read from a config file, with its
// policy compiled but nothing started, or the error that stopped it.
type offlineHandler struct {
	h     *Handler
	store *Snapshot
	auth  []string
	// authorizers are the handler's authorizers, provisioned in a context
	// of their own (for PrincipalAuthorizers, which the check runs)
	authorizers []Authorizer
	err         error
}

// loadOffline adapts a config file and compiles every rest_auth handler in
// it; a handler whose files do not load carries its error.
func loadOffline(configFile, adapter string) ([]offlineHandler, error) {
	if configFile == "" {
		configFile = "Caddyfile"
	}
	cfg, _, _, err := caddycmd.LoadConfig(configFile, adapter)
	if err != nil {
		return nil, err
	}
	var doc any
	if err := json.Unmarshal(cfg, &doc); err != nil {
		return nil, err
	}
	var raws []json.RawMessage
	findRestAuth(doc, &raws)
	if len(raws) == 0 {
		return nil, fmt.Errorf("%s: no rest_auth handler", configFile)
	}
	var out []offlineHandler
	for _, raw := range raws {
		h := new(Handler)
		if err := json.Unmarshal(raw, h); err != nil {
			return nil, err
		}
		oh := offlineHandler{h: h, auth: authenticatorNames(h.AuthenticatorsRaw)}
		if oh.err = h.settle(); oh.err == nil {
			if h.userStore, oh.err = offlineUserStore(h.UserStoreRaw); oh.err == nil {
				if oh.err = h.checkTenants(); oh.err == nil {
					oh.err = h.loadTenantStores(offlineUserStore)
				}
			}
			if oh.err == nil {
				oh.store, oh.err = h.load()
			}
			if oh.err == nil {
				oh.authorizers, oh.err = offlineAuthorizers(h)
			}
		}
		out = append(out, oh)
	}
	return out, nil
}

// offlineUserStore loads a user store module for the offline tools, in a
// context of its own (no server is started).
func offlineUserStore(raw json.RawMessage) (UserStore, error) {
	ctx, cancel := caddy.NewContext(caddy.Context{Context: context.Background()})
	defer cancel()
	return LoadUserStore(ctx, raw)
}

// offlineAuthorizers loads a handler's authorizer modules for the offline
// tools, in a context of their own.
func offlineAuthorizers(h *Handler) ([]Authorizer, error) {
	if len(h.AuthorizersRaw) == 0 {
		return nil, nil
	}
	ctx, cancel := caddy.NewContext(caddy.Context{Context: context.Background()})
	defer cancel()
	mods, err := ctx.LoadModule(h, "AuthorizersRaw")
	if err != nil {
		return nil, err
	}
	var out []Authorizer
	for _, m := range mods.([]any) {
		az, ok := m.(Authorizer)
		if !ok {
			return nil, fmt.Errorf("module %T is not an authorizer", m)
		}
		out = append(out, az)
	}
	return out, nil
}

// findRestAuth collects every {"handler":"rest_auth",...} object.
func findRestAuth(v any, out *[]json.RawMessage) {
	switch x := v.(type) {
	case map[string]any:
		if x["handler"] == "rest_auth" {
			raw, _ := json.Marshal(x)
			*out = append(*out, raw)
			return
		}
		for _, e := range x {
			findRestAuth(e, out)
		}
	case []any:
		for _, e := range x {
			findRestAuth(e, out)
		}
	}
}

// authenticatorNames reads the handler names from authenticator configs,
// without loading them (basic when there are none).
func authenticatorNames(raws []json.RawMessage) []string {
	if len(raws) == 0 {
		return []string{"basic"}
	}
	return moduleNames(raws, "handler")
}

// moduleNames reads the inline module names of guest module configs.
func moduleNames(raws []json.RawMessage, key string) []string {
	var names []string
	for _, r := range raws {
		var head map[string]any
		_ = json.Unmarshal(r, &head)
		name, _ := head[key].(string)
		names = append(names, name)
	}
	return names
}

func runCheck(configFile, adapter string, q CheckRequest, w io.Writer) (int, error) {
	hs, err := loadOffline(configFile, adapter)
	if err != nil {
		return 2, err
	}
	var pick *offlineHandler
	for i := range hs {
		if q.Handler == "" || hs[i].h.Name == q.Handler {
			if pick != nil && q.Handler == "" {
				return 2, errors.New("several rest_auth handlers: say which with --handler")
			}
			pick = &hs[i]
		}
	}
	if pick == nil {
		return 2, fmt.Errorf("no rest_auth handler named %q", q.Handler)
	}
	if pick.err != nil {
		return 2, pick.err
	}
	d := explain(pick.store, pick.auth, pick.authorizers, q)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	if err := enc.Encode(d); err != nil {
		return 2, err
	}
	if !d.Allowed {
		return 1, fmt.Errorf("refused: %d %s", d.Status, d.Reason)
	}
	return 0, nil
}

func runLint(configFile, adapter, handler string, w io.Writer) (int, error) {
	hs, err := loadOffline(configFile, adapter)
	if err != nil {
		fmt.Fprintf(w, "error: %v\n", err)
		return 1, err
	}
	errs, n, seen := 0, 0, false
	for _, oh := range hs {
		if handler != "" && oh.h.Name != handler {
			continue
		}
		seen = true
		name := oh.h.where()
		if oh.err != nil {
			fmt.Fprintf(w, "%v: error: it does not load (%s)\n", oh.err, name)
			errs, n = errs+1, n+1
			continue
		}
		findings := append(slices.Clone(oh.store.Warnings), oh.store.Policy.Lint(oh.auth, oh.store.Users)...)
		for _, f := range findings {
			fmt.Fprintf(w, "%s (%s)\n", f, name)
			if f.Level == "error" {
				errs++
			}
			n++
		}
	}
	if !seen {
		return 2, fmt.Errorf("no rest_auth handler named %q", handler)
	}
	if n == 0 {
		fmt.Fprintln(w, "no findings")
	}
	if errs > 0 {
		return 1, fmt.Errorf("%d errors", errs)
	}
	return 0, nil
}

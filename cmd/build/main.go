// Command build builds a Caddy with the modules listed in xcaddy.json, using
// xcaddy (run with go run, so only Go needs to be installed), and with -run
// starts it on Caddyfile.example.
//
//	go run ./cmd/build          # writes ./caddy
//	go run ./cmd/build -run     # and runs Caddyfile.example
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// Build is the content of xcaddy.json.
type Build struct {
	// CaddyVersion is the Caddy release to build, such as v2.11.9.
	CaddyVersion string `json:"caddy_version"`
	// XcaddyVersion is the xcaddy release that builds it.
	XcaddyVersion string `json:"xcaddy_version"`
	// Output is the binary's path, relative to xcaddy.json.
	Output string `json:"output"`
	// Modules are the plugins to build in.
	Modules []Module `json:"modules"`
}

// Module is one plugin: a module path, and optionally a version or a local
// directory that replaces it.
type Module struct {
	Module  string `json:"module"`
	Version string `json:"version,omitempty"`
	Replace string `json:"replace,omitempty"`
}

// localVersion stands for "the code in the checkout": a module that exists
// only locally cannot be looked up in a module proxy, but a pseudo-version
// with a replacement never is.
const localVersion = "v0.0.0-00010101000000-000000000000"

func main() {
	config := flag.String("config", "xcaddy.json", "build description")
	run := flag.Bool("run", false, "run Caddyfile.example after building")
	caddyfile := flag.String("caddyfile", "Caddyfile.example", "Caddyfile for -run")
	flag.Parse()
	if err := build(*config, *run, *caddyfile); err != nil {
		fmt.Fprintln(os.Stderr, "build:", err)
		os.Exit(1)
	}
}

func build(config string, run bool, caddyfile string) error {
	data, err := os.ReadFile(config)
	if err != nil {
		return err
	}
	var b Build
	if err := json.Unmarshal(data, &b); err != nil {
		return fmt.Errorf("%s: %w", config, err)
	}
	if b.CaddyVersion == "" || b.XcaddyVersion == "" {
		return fmt.Errorf("%s: caddy_version and xcaddy_version are required", config)
	}
	if b.Output == "" {
		b.Output = "caddy"
	}
	base := filepath.Dir(config)
	out, err := filepath.Abs(filepath.Join(base, b.Output))
	if err != nil {
		return err
	}
	args := []string{"run", "github.com/caddyserver/xcaddy/cmd/xcaddy@" + b.XcaddyVersion, "build", b.CaddyVersion, "--output", out}
	for _, m := range b.Modules {
		with := m.Module
		switch {
		case m.Replace != "":
			dir, err := filepath.Abs(filepath.Join(base, m.Replace))
			if err != nil {
				return err
			}
			v := m.Version
			if v == "" {
				v = localVersion
			}
			with += "@" + v + "=" + dir
		case m.Version != "":
			with += "@" + m.Version
		}
		args = append(args, "--with", with)
	}
	fmt.Fprintln(os.Stderr, "go", args)
	cmd := exec.Command("go", args...)
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("xcaddy: %w", err)
	}
	if !run {
		return nil
	}
	cmd = exec.Command(out, "run", "--config", caddyfile, "--adapter", "caddyfile")
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	if err := cmd.Start(); err != nil {
		return err
	}
	go announceReady(caddyfile)
	return cmd.Wait()
}

// announceReady prints one line once Caddy's admin API lists a live
// rest_auth handler: the config is loaded and the sites are serving.
func announceReady(caddyfile string) {
	client := &http.Client{Timeout: time.Second}
	for deadline := time.Now().Add(2 * time.Minute); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
		resp, err := client.Get("http://localhost:2019/rest-auth/")
		if err != nil {
			continue
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode == http.StatusOK && strings.Contains(string(body), `"name"`) {
			if filepath.Base(caddyfile) == "Caddyfile.example" {
				fmt.Fprintln(os.Stderr, "==> caddy-restauth demo is ready: https://localhost:8443 (mutual TLS on :8444, admin API on localhost:2019); Ctrl-C stops it")
			} else {
				fmt.Fprintln(os.Stderr, "==> caddy-restauth is ready (admin API on localhost:2019); Ctrl-C stops it")
			}
			return
		}
	}
}

// Command caddy is Caddy with the standard modules and every module of
// caddy-restauth, for tests that run several real Caddy processes (the
// fleet test builds it with go build). Users build theirs with xcaddy
// (see README.md).
package main

import (
	caddycmd "github.com/caddyserver/caddy/v2/cmd"

	_ "github.com/caddyserver/caddy/v2/modules/standard"

	_ "github.com/restauth/caddy-restauth"
)

func main() {
	caddycmd.Main()
}

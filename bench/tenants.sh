#!/usr/bin/env bash
# Tenants (issue 19), the BENCHMARKS.md pair method: plain Caddy (9801,
# and its copy 9800 for the A/A pair) against rest_auth with a cached
# Basic credential without tenants (9802), and with two tenants configured
# (9803): a super-tenant user, and a tenant's user on /t/acme.com/. All
# Caddy processes on core 0, wrk on core 1.
#
#   bash bench/tenants.sh              # DUR=8s CONN=16; needs wrk
#   SKIP_BUILD=1 bash bench/tenants.sh # reuse ./caddy
set -euo pipefail
cd "$(dirname "$0")/.."
DUR=${DUR:-8s}
CONN=${CONN:-16}
out=$(mktemp -d)
[ -n "${SKIP_BUILD:-}" ] || go run ./cmd/build >/dev/null
P=/api/identity/user/v1.0/me

global() { printf '{\n\tadmin off\n\tpersist_config off\n\tauto_https disable_redirects\n\tlog {\n\t\tlevel ERROR\n\t}\n}\n'; }
site() { # port, directives
	printf 'http://:%s {\n%s\n\trespond `{"user":"{http.auth.user.id}"}`\n}\n' "$1" "$2"
}
ra() { # tenant lines
	printf '\trest_auth {\n\t\tusers demo/users.toml\n\t\tresources demo/deployment.toml\n\t\tbasic\n%s\n\t}' "$1"
}
tenants="		tenant acme.com {
			users demo/users.toml
		}
		tenant globex.com {
			users demo/users.toml
		}"
{ global; site 9800 ""; } >"$out/c9800"
{ global; site 9801 ""; } >"$out/c9801"
{ global; site 9802 "$(ra "")"; } >"$out/c9802"
{ global; site 9803 "$(ra "$tenants")"; } >"$out/c9803"

declare -A pid
pids=()
for port in 9800 9801 9802 9803; do
	taskset -c 0 ./caddy run --config "$out/c$port" --adapter caddyfile >"$out/caddy$port.log" 2>&1 &
	pids+=($!)
	pid[$port]=$!
done
trap 'kill ${pids[*]} 2>/dev/null || true' EXIT
for port in 9800 9801 9802 9803; do
	for _ in $(seq 1 50); do curl -s -o /dev/null "localhost:$port$P" && break; sleep 0.2; done
done
SUPER="Authorization: Basic $(printf alice:alice-pass | base64)"
ACME="Authorization: Basic $(printf alice@acme.com:alice-pass | base64)"
for x in "9802 $P $SUPER" "9803 $P $SUPER" "9803 /t/acme.com$P $ACME"; do
	read -r port path hdr <<<"$x"
	got=$(curl -s -o /dev/null -w '%{http_code}' -H "$hdr" "localhost:$port$path")
	[ "$got" = 200 ] || { echo "setup: $port $path answered $got"; cat "$out"/caddy*.log; exit 1; }
done

source bench/lib.sh
pair_header
pair "A/A: plain Caddy against a copy" 9801 9800 "$P" "$SUPER"
pair "Basic cached, no tenants" 9801 9802 "$P" "$SUPER"
pair "Basic cached, tenants, a super-tenant user" 9801 9803 "$P" "$SUPER"
pair "Basic cached, tenants, acme.com's user in it" 9801 9803 "/t/acme.com$P" "$ACME"

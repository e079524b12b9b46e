#!/usr/bin/env bash
# Reloads under load: wrk sends valid Basic requests to rest_auth while 20
# config reloads (POST /load, each config slightly different) and 20 policy
# reloads (POST /rest-auth/reload) happen. Every response must be 200.
#
#   bash bench/reload.sh          # needs ./caddy (go run ./cmd/build) and wrk
#   PLAIN=1 bash bench/reload.sh  # the same without rest_auth, for comparison
#   NOLOAD=1 bash bench/reload.sh # policy reloads only
#
# A config reload swaps Caddy's servers and closes kept-alive connections;
# wrk counts each close as a "read" socket error (16 connections x 20
# reloads = 320), with or without rest_auth. Policy reloads close nothing.
set -euo pipefail
cd "$(dirname "$0")/.."
DUR=${DUR:-20s}
out=$(mktemp -d)
ADMIN=localhost:2999

conf() { # a number that makes each config different
	local ra="	rest_auth {
		name bench
		users demo/users.toml
		resources demo/deployment.toml
		resource /reload-$1 GET
	}"
	[ -n "${PLAIN:-}" ] && ra="	respond /reload-$1 ok"
	cat <<EOC
{
	admin $ADMIN
	persist_config off
	auto_https off
	log {
		level ERROR
	}
}
:9111 {
$ra
	respond /api/identity/user/v1.0/me \`{"user":"{http.auth.user.id}"}\`
	respond 404
}
EOC
}
conf 0 > "$out/Caddyfile"
taskset -c 0 ./caddy run --config "$out/Caddyfile" --adapter caddyfile >"$out/caddy.log" 2>&1 &
pid=$!
trap 'kill $pid 2>/dev/null || true' EXIT
for _ in $(seq 1 50); do curl -sf "$ADMIN/config/" >/dev/null && break; sleep 0.1; done
AUTH="Authorization: Basic $(printf alice:alice-pass | base64)"
curl -sf -H "$AUTH" localhost:9111/api/identity/user/v1.0/me >/dev/null

taskset -c 1 wrk -t1 -c16 -d"$DUR" -H "$AUTH" http://127.0.0.1:9111/api/identity/user/v1.0/me >"$out/wrk" &
wp=$!
sleep 1
ok_load=0 ok_reload=0
for i in $(seq 1 20); do
	conf "$i" > "$out/Caddyfile.$i"
	if [ -n "${NOLOAD:-}" ]; then
		ok_load=$((ok_load + 1))
	else
		code=$(curl -s -o "$out/load.$i" -w '%{http_code}' -X POST "$ADMIN/load" -H 'Content-Type: text/caddyfile' --data-binary @"$out/Caddyfile.$i")
		[ "$code" = 200 ] && ok_load=$((ok_load + 1))
	fi
	if [ -n "${PLAIN:-}" ]; then
		ok_reload=$((ok_reload + 1))
	else
		code=$(curl -s -o "$out/reload.$i" -w '%{http_code}' -X POST "$ADMIN/rest-auth/reload" -d '{}')
		[ "$code" = 200 ] && ok_reload=$((ok_reload + 1))
	fi
	sleep 0.5
done
wait $wp
cat "$out/wrk"
non2xx=$(awk '/Non-2xx/ {print $NF}' "$out/wrk")
errors=$(awk '/Socket errors/ {print}' "$out/wrk")
echo "config reloads (POST /load): $ok_load/20 ok; policy reloads (POST /rest-auth/reload): $ok_reload/20 ok"
echo "non-2xx responses: ${non2xx:-0}; ${errors:-socket errors: none}"
[ "$ok_load" = 20 ] && [ "$ok_reload" = 20 ] && [ -z "$non2xx" ]

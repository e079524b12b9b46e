#!/usr/bin/env bash
# Load test: the demo API with and without rest_auth, measured at the same
# time. Two Caddy processes share core 0; their wrk clients share core 1.
# Each pair (baseline, candidate) runs concurrently, so machine noise hits
# both alike; the ratio is candidate/baseline requests per second.
#
#   bash bench/wrk.sh            # needs ./caddy (go run ./cmd/build) and wrk
set -euo pipefail
cd "$(dirname "$0")/.."
DUR=${DUR:-15s}
CONN=${CONN:-16}
out=$(mktemp -d)

# Caddy's own basic_auth, with the same demo password hash
ALICE_HASH=$(grep -A2 'username = "alice"' example/users.toml | sed -n 's/^password = "\([^"]*\)".*/\1/p')

conf() { # port, body
	cat <<EOC
{
	admin off
	persist_config off
	auto_https off
	log {
		level ERROR
	}
}
:$1 {
$2
	respond /api/identity/user/v1.0/me \`{"user":"{http.auth.user.id}"}\`
	respond 404
}
EOC
}
conf 9101 "" > "$out/plain"
conf 9102 "	rest_auth {
		users example/users.toml
		resources example/deployment.toml
	}" > "$out/restauth"
# an RSA key made for this run, and an RS256 token signed with it
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$out/rsa.key" 2>/dev/null
openssl pkey -in "$out/rsa.key" -pubout -out "$out/rsa.pub"
TOKEN=$(go run ./cmd/demo-token -key "$out/rsa.key" -sub alice -iss bench -aud bench)
conf 9104 "	rest_auth {
		users example/users.toml
		resources example/deployment.toml
		bearer {
			jwt {
				issuer bench
				audience bench
				key $out/rsa.pub
				algorithms RS256
			}
		}
	}" > "$out/bearer"
conf 9103 "	basic_auth {
		alice $ALICE_HASH
	}" > "$out/basicauth"

pids=()
for c in plain restauth basicauth bearer; do
	taskset -c 0 ./caddy run --config "$out/$c" --adapter caddyfile >"$out/$c.log" 2>&1 &
	pids+=($!)
done
trap 'kill ${pids[*]} 2>/dev/null || true' EXIT
sleep 2
AUTH="Authorization: Basic $(printf alice:alice-pass | base64)"
P=/api/identity/user/v1.0/me
curl -sf -H "$AUTH" localhost:9102$P >/dev/null
curl -sf -H "$AUTH" localhost:9103$P >/dev/null
curl -sf -H "Authorization: Bearer $TOKEN" localhost:9104$P >/dev/null

pair() { # name, baseline port, candidate port, candidate header
	local name=$1
	taskset -c 1 wrk -t1 -c"$CONN" -d"$DUR" --latency "http://127.0.0.1:$2$P" >"$out/$name.base" &
	local wp=$!
	taskset -c 1 wrk -t1 -c"$CONN" -d"$DUR" --latency -H "$4" "http://127.0.0.1:$3$P" >"$out/$name.cand"
	wait $wp
	local b c
	b=$(awk '/Requests\/sec/ {print $2}' "$out/$name.base")
	c=$(awk '/Requests\/sec/ {print $2}' "$out/$name.cand")
	printf "%-34s baseline %9.0f req/s   candidate %9.0f req/s   ratio %.2f   (p50 %s / %s, p99 %s / %s)\n" "$name" "$b" "$c" \
		"$(echo "$c / $b" | bc -l)" \
		"$(awk '/ 50%/ {print $2}' "$out/$name.base")" "$(awk '/ 50%/ {print $2}' "$out/$name.cand")" \
		"$(awk '/ 99%/ {print $2}' "$out/$name.base")" "$(awk '/ 99%/ {print $2}' "$out/$name.cand")"
}
pair "rest_auth Basic (cached)" 9101 9102 "$AUTH"
pair "Caddy basic_auth (cached)" 9101 9103 "$AUTH"
pair "rest_auth Bearer RS256 (cached)" 9101 9104 "Authorization: Bearer $TOKEN"
pair "rest_auth 401 (no credentials)" 9101 9102 "X-None: 1"

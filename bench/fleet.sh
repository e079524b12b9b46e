#!/usr/bin/env bash
# A fleet's counts on Redis (issue 18). A real redis-server on core 1 with
# the wrk clients; Caddy processes on core 0.
#
# 1. Pairs, the BENCHMARKS.md method: plain Caddy (9601, and its copy 9600
#    for the A/A pair) against rest_auth with throttle_store redis
#    (9602: cached Basic, and a cached RS256 JWT), and against rest_auth
#    without it (9603), to show that a good, cached credential never
#    touches Redis.
# 2. A stream of new wrong passwords for one user through a balancer
#    (9610) in front of three instances counting on Redis (9611-9613):
#    requests/s, and Redis calls per request (from INFO commandstats).
#
#   bash bench/fleet.sh              # DUR=8s CONN=16; needs wrk, redis-server, redis-cli, openssl
#   SKIP_BUILD=1 bash bench/fleet.sh # reuse ./caddy
set -euo pipefail
cd "$(dirname "$0")/.."
DUR=${DUR:-8s}
CONN=${CONN:-16}
REDIS_PORT=${REDIS_PORT:-6390}
out=$(mktemp -d)
[ -n "${SKIP_BUILD:-}" ] || go run ./cmd/build >/dev/null
go build -o "$out/demo-token" ./cmd/demo-token
P=/api/identity/user/v1.0/me

taskset -c 1 redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save '' --appendonly no --daemonize no \
	--dir "$out" --loglevel warning >"$out/redis.log" 2>&1 &
redis_pid=$!
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$out/rsa.key" 2>/dev/null
openssl pkey -in "$out/rsa.key" -pubout -out "$out/rsa.pub"
TOKEN=$("$out/demo-token" -key "$out/rsa.key" -sub alice -iss bench -aud bench)

global() { printf '{\n\tadmin off\n\tpersist_config off\n\tauto_https disable_redirects\n\tlog {\n\t\tlevel ERROR\n\t}\n}\n'; }
site() { # port, directives
	printf 'http://:%s {\n%s\n\trespond %s `{"user":"{http.auth.user.id}"}`\n\trespond 404\n}\n' "$1" "$2" "$P"
}
store="throttle_store redis {
				address 127.0.0.1:$REDIS_PORT
			}"
ra() { # throttle store lines
	printf '\trest_auth {\n\t\tusers demo/users.toml\n\t\tresources demo/deployment.toml\n\t\tbasic {\n\t\t\t%s\n\t\t}\n\t\tbearer {\n\t\t\tjwt {\n\t\t\t\tissuer bench\n\t\t\t\taudience bench\n\t\t\t\tkey %s\n\t\t\t\talgorithms RS256\n\t\t\t}\n\t\t}\n\t}' "$1" "$out/rsa.pub"
}
{ global; site 9600 ""; } >"$out/c9600"
{ global; site 9601 ""; } >"$out/c9601"
{ global; site 9602 "$(ra "$store")"; } >"$out/c9602"
{ global; site 9603 "$(ra "")"; } >"$out/c9603"
for port in 9611 9612 9613; do
	{ global; site $port "$(ra "$store")"; } >"$out/c$port"
done
{ global; printf 'http://:9610 {\n\treverse_proxy 127.0.0.1:9611 127.0.0.1:9612 127.0.0.1:9613 {\n\t\tlb_policy round_robin\n\t}\n}\n'; } >"$out/c9610"

declare -A pid
pids=("$redis_pid")
for port in 9600 9601 9602 9603 9610 9611 9612 9613; do
	taskset -c 0 ./caddy run --config "$out/c$port" --adapter caddyfile >"$out/caddy$port.log" 2>&1 &
	pids+=($!)
	pid[$port]=$!
done
trap 'kill ${pids[*]} 2>/dev/null || true' EXIT
AUTH="Authorization: Basic $(printf alice:alice-pass | base64)"
for port in 9600 9601 9602 9603 9610; do
	for _ in $(seq 1 50); do curl -s -o /dev/null "localhost:$port$P" && break; sleep 0.2; done
done
for port in 9602 9603; do
	got=$(curl -s -o /dev/null -w '%{http_code}' -H "$AUTH" "localhost:$port$P")
	[ "$got" = 200 ] || { echo "setup: $port answered $got"; cat "$out"/*.log; exit 1; }
done
calls() { redis-cli -p "$REDIS_PORT" info commandstats | awk -F'[:=,]' '/^cmdstat_(evalsha|eval|publish)/ {n += $3} END {print n + 0}'; }

ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
hz=$(getconf CLK_TCK)
printf "%-48s %9s %9s %6s   %-13s %6s %s\n" scenario baseline candidate ratio "CPU us/req" ratio "Redis calls"
pair() { # name, baseline port, candidate port, header
	local name=$1 bport=$2 cport=$3 hdr=$4 bt0 ct0 bt1 ct1 r0 r1
	r0=$(calls)
	bt0=$(ticks "${pid[$bport]}")
	ct0=$(ticks "${pid[$cport]}")
	taskset -c 1 wrk -t1 -c"$CONN" -d"$DUR" -H "$hdr" "http://127.0.0.1:$bport$P" >"$out/base" &
	local wp=$!
	taskset -c 1 wrk -t1 -c"$CONN" -d"$DUR" -H "$hdr" "http://127.0.0.1:$cport$P" >"$out/cand"
	wait $wp
	bt1=$(ticks "${pid[$bport]}")
	ct1=$(ticks "${pid[$cport]}")
	r1=$(calls)
	local b c bn cn bus cus
	b=$(awk '/Requests\/sec/ {print $2}' "$out/base")
	c=$(awk '/Requests\/sec/ {print $2}' "$out/cand")
	bn=$(awk '/requests in/ {print $1}' "$out/base")
	cn=$(awk '/requests in/ {print $1}' "$out/cand")
	bus=$(echo "($bt1 - $bt0) * 1000000 / $hz / $bn" | bc -l)
	cus=$(echo "($ct1 - $ct0) * 1000000 / $hz / $cn" | bc -l)
	printf "%-48s %9.0f %9.0f %6.2f   %5.1f/%-7.1f %6.2f %d\n" "$name" "$b" "$c" "$(echo "$c / $b" | bc -l)" \
		"$bus" "$cus" "$(echo "$bus / $cus" | bc -l)" "$((r1 - r0))"
}
pair "A/A: plain Caddy against a copy" 9601 9600 "$AUTH"
pair "Basic cached, throttle_store redis" 9601 9602 "$AUTH"
pair "Basic cached, no throttle store" 9601 9603 "$AUTH"
pair "JWT RS256 cached, throttle_store redis" 9601 9602 "Authorization: Bearer $TOKEN"
pair "JWT RS256 cached, no throttle store" 9601 9603 "Authorization: Bearer $TOKEN"

# new wrong passwords for alice, spread over three instances by the
# balancer: the first ten are checked, then every instance answers 429
r0=$(calls)
taskset -c 1 wrk -t1 -c"$CONN" -d"$DUR" -s bench/wrong-passwords.lua "http://127.0.0.1:9610$P" >"$out/wrong"
r1=$(calls)
n=$(awk '/requests in/ {print $1}' "$out/wrong")
rps=$(awk '/Requests\/sec/ {print $2}' "$out/wrong")
echo
echo "new wrong passwords through the balancer to three instances: $rps requests/s, $n requests,"
echo "  $((r1 - r0)) Redis calls: $(echo "($r1 - $r0) / $n" | bc -l | cut -c1-6) per request (a held block answers 429 without asking)"
printf "  afterwards, a wrong password on each instance: "
for port in 9611 9612 9613; do
	printf '%s ' "$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Basic $(printf alice:wrong | base64)" "localhost:$port$P")"
done
echo

#!/usr/bin/env bash
# Token locations and claim conditions (issue 22), the BENCHMARKS.md pair
# method: plain Caddy (9701, and its copy 9700 for the A/A pair) against
# rest_auth with a cached RS256 token from the Authorization header
# (9702), from a cookie (9703), and from the header on a rule with three
# claim conditions (9704). All Caddy processes on core 0, wrk on core 1.
#
#   bash bench/claims.sh              # DUR=8s CONN=16; needs wrk, openssl
#   SKIP_BUILD=1 bash bench/claims.sh # reuse ./caddy
set -euo pipefail
cd "$(dirname "$0")/.."
DUR=${DUR:-8s}
CONN=${CONN:-16}
out=$(mktemp -d)
[ -n "${SKIP_BUILD:-}" ] || go run ./cmd/build >/dev/null
go build -o "$out/demo-token" ./cmd/demo-token
P=/api/identity/user/v1.0/me
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$out/rsa.key" 2>/dev/null
openssl pkey -in "$out/rsa.key" -pubout -out "$out/rsa.pub"
TOKEN=$("$out/demo-token" -key "$out/rsa.key" -sub alice -iss bench -aud bench \
	-claims '{"department":"sales","realm_access":{"roles":["reporting"]},"level":3}')

global() { printf '{\n\tadmin off\n\tpersist_config off\n\tauto_https disable_redirects\n\tlog {\n\t\tlevel ERROR\n\t}\n}\n'; }
site() { # port, directives
	printf 'http://:%s {\n%s\n\trespond %s `{"user":"{http.auth.user.id}"}`\n\trespond 404\n}\n' "$1" "$2" "$P"
}
ra() { # bearer options, authorizer lines, rule options
	cat <<EOC
	rest_auth {
		users demo/users.toml
		resources demo/deployment.toml
		bearer {
			$1
			jwt {
				issuer bench
				audience bench
				key $out/rsa.pub
				algorithms RS256
			}
		}
		$2
		resource $P {
			secured true
			$3
		}
	}
EOC
}
claims="authorizer claims {
			name c3
			claim department equals sales marketing
			claim realm_access.roles contains reporting
			claim level ge 3
		}"
{ global; site 9700 ""; } >"$out/c9700"
{ global; site 9701 ""; } >"$out/c9701"
{ global; site 9702 "$(ra "" "" "")"; } >"$out/c9702"
{ global; site 9703 "$(ra "token_from cookie at" "" "")"; } >"$out/c9703"
{ global; site 9704 "$(ra "" "$claims" "authorizers c3")"; } >"$out/c9704"

declare -A pid
pids=()
for port in 9700 9701 9702 9703 9704; do
	taskset -c 0 ./caddy run --config "$out/c$port" --adapter caddyfile >"$out/caddy$port.log" 2>&1 &
	pids+=($!)
	pid[$port]=$!
done
trap 'kill ${pids[*]} 2>/dev/null || true' EXIT
for port in 9700 9701 9702 9703 9704; do
	for _ in $(seq 1 50); do curl -s -o /dev/null "localhost:$port$P" && break; sleep 0.2; done
done
H="Authorization: Bearer $TOKEN"
C="Cookie: at=$TOKEN"
for x in "9702 $H" "9703 $C" "9704 $H"; do
	port=${x%% *} hdr=${x#* }
	got=$(curl -s -o /dev/null -w '%{http_code}' -H "$hdr" "localhost:$port$P")
	[ "$got" = 200 ] || { echo "setup: $port answered $got"; cat "$out"/caddy*.log; exit 1; }
done

ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
hz=$(getconf CLK_TCK)
printf "%-44s %9s %9s %6s   %-13s %6s\n" scenario baseline candidate ratio "CPU us/req" ratio
pair() { # name, baseline port, candidate port, header
	local name=$1 bport=$2 cport=$3 hdr=$4 bt0 ct0 bt1 ct1
	bt0=$(ticks "${pid[$bport]}")
	ct0=$(ticks "${pid[$cport]}")
	taskset -c 1 wrk -t1 -c"$CONN" -d"$DUR" -H "$hdr" "http://127.0.0.1:$bport$P" >"$out/base" &
	local wp=$!
	taskset -c 1 wrk -t1 -c"$CONN" -d"$DUR" -H "$hdr" "http://127.0.0.1:$cport$P" >"$out/cand"
	wait $wp
	bt1=$(ticks "${pid[$bport]}")
	ct1=$(ticks "${pid[$cport]}")
	local b c bn cn bus cus
	b=$(awk '/Requests\/sec/ {print $2}' "$out/base")
	c=$(awk '/Requests\/sec/ {print $2}' "$out/cand")
	bn=$(awk '/requests in/ {print $1}' "$out/base")
	cn=$(awk '/requests in/ {print $1}' "$out/cand")
	if grep -q Non-2xx "$out/cand"; then echo "$name: the candidate answered non-2xx"; exit 1; fi
	bus=$(echo "($bt1 - $bt0) * 1000000 / $hz / $bn" | bc -l)
	cus=$(echo "($ct1 - $ct0) * 1000000 / $hz / $cn" | bc -l)
	printf "%-44s %9.0f %9.0f %6.2f   %5.1f/%-7.1f %6.2f\n" "$name" "$b" "$c" "$(echo "$c / $b" | bc -l)" \
		"$bus" "$cus" "$(echo "$bus / $cus" | bc -l)"
}
pair "A/A: plain Caddy against a copy" 9701 9700 "$H"
pair "JWT RS256 cached, Authorization header" 9701 9702 "$H"
pair "JWT RS256 cached, cookie" 9701 9703 "$C"
pair "JWT RS256 cached, three claim conditions" 9701 9704 "$H"

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

source bench/lib.sh
pair_header
pair "A/A: plain Caddy against a copy" 9701 9700 "$P" "$H"
pair "JWT RS256 cached, Authorization header" 9701 9702 "$P" "$H"
pair "JWT RS256 cached, cookie" 9701 9703 "$P" "$C"
pair "JWT RS256 cached, three claim conditions" 9701 9704 "$P" "$H"

#!/usr/bin/env bash
# Denials at line rate (issue 15): rest_auth on WSO2's 313-rule list,
# logging at INFO to a file as Caddy does by default, against plain Caddy
# answering the same status, JSON body and challenges (a respond site),
# loaded at the same time as bench/wrk.sh loads its pairs (both processes
# on core 0, their wrk clients on core 1). Three floods:
#   no credentials (401), a new RS256 token with a bad signature on every
#   request (401, the signature is checked), a new wrong password for a
#   real user on every request (hashed until the throttle holds, then 429)
# each against rest_auth with log_denials sampled (the default) and all,
# with bearer's bad_token_limit off (every forged token's signature is
# checked); and the forged tokens once more against the default limit
# (100 a minute per address, then 429 without a signature check),
# compared with plain Caddy answering that 429.
#
#   bash bench/denials.sh              # DUR=8s CONN=16; needs wrk, openssl
#   SKIP_BUILD=1 bash bench/denials.sh # reuse ./caddy
set -euo pipefail
cd "$(dirname "$0")/.."
DUR=${DUR:-8s}
CONN=${CONN:-16}
out=$(mktemp -d)
[ -n "${SKIP_BUILD:-}" ] || go run ./cmd/build >/dev/null

P=/api/identity/user/v1.0/me
RULES=permissions/testdata/corpus/wso2-is-access-control.toml
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$out/rsa.key" 2>/dev/null
openssl pkey -in "$out/rsa.key" -pubout -out "$out/rsa.pub"
# the forged signature: 0x01 and 255 random bytes, below the modulus, so
# the server does the whole exponentiation (a value above it is refused
# at once)
BAD_SIG=$({ printf '\001'; openssl rand 255; } | base64 -w0 | tr '+/' '-_' | tr -d '=')
export BAD_SIG

global() { printf '{\n\tadmin off\n\tpersist_config off\n\tauto_https disable_redirects\n}\n'; }
# plain Caddy's answer: status, body, challenges and headers as rest_auth's
plain() { # port, status, body, header lines...
	local port=$1 status=$2 body=$3
	shift 3
	printf 'http://:%s {\n' "$port"
	printf '\theader Content-Type application/json\n\theader Cache-Control no-store\n'
	for h in "$@"; do printf '\theader %s\n' "$h"; done
	printf "\trespond \`%s\` %s\n}\n" "$body" "$status"
}
B='+Www-Authenticate "Bearer realm=\"restricted\""'
BI='+Www-Authenticate "Bearer realm=\"restricted\", error=\"invalid_token\""'
BA='+Www-Authenticate "Basic realm=\"restricted\", charset=\"UTF-8\""'
{ global; plain 9201 401 '{"code":401,"message":"Unauthorized","description":"Authentication is required."}' "$B" "$BA"; } >"$out/c9201"
{ global; plain 9202 401 '{"code":401,"message":"Unauthorized","description":"The access token is not valid."}' "$BI" "$BA"; } >"$out/c9202"
{ global; plain 9203 429 '{"code":429,"message":"Too Many Requests","description":"Too many failed attempts; try again later."}' 'Retry-After 60'; } >"$out/c9203"
{ global; plain 9204 429 '{"code":429,"message":"Too Many Requests","description":"Too many invalid access tokens from this address; try again later."}' 'Retry-After 60'; } >"$out/c9204"
candidate() { # port, log_denials, bad_token_limit
	cat <<EOC
http://:$1 {
	rest_auth {
		users demo/users.toml
		resources $RULES
		log_denials $2
		bearer {
			bad_token_limit $3
			jwt {
				issuer bench
				audience bench
				key $out/rsa.pub
				algorithms RS256
			}
		}
		basic
	}
	respond $P \`{"user":"{http.auth.user.id}"}\`
}
EOC
}
{ global; candidate 9210 sampled off; } >"$out/c9210"
{ global; candidate 9211 all off; } >"$out/c9211"
{ global; candidate 9212 sampled 100; } >"$out/c9212"
cp "$out/c9201" "$out/c9200"
sed -i 's/:9201/:9200/' "$out/c9200"

declare -A pid
pids=()
for port in 9200 9201 9202 9203 9204 9210 9211 9212; do
	# Caddy logs to stderr at INFO by default: to a file, as a service's
	# journal would take it
	taskset -c 0 ./caddy run --config "$out/c$port" --adapter caddyfile >"$out/caddy$port.log" 2>&1 &
	pids+=($!)
	pid[$port]=$!
done
trap 'kill ${pids[*]} 2>/dev/null || true' EXIT
for _ in $(seq 1 50); do curl -s -o /dev/null localhost:9211$P && break; sleep 0.2; done
sleep 1
# the candidates answer what the baselines answer
for port in 9210 9211; do
	[ "$(curl -s localhost:$port$P)" = "$(curl -s localhost:9201$P)" ] || { echo "setup: 401 bodies differ"; exit 1; }
done

ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
hz=$(getconf CLK_TCK)
printf "%-44s %9s %9s %6s   %-13s %6s %9s\n" scenario baseline candidate ratio "CPU us/req" ratio "log lines"
pair() { # name, baseline port, candidate port, wrk args (after the URL's host)...
	local name=$1 bport=$2 cport=$3
	shift 3
	local lines0 bt0 ct0 bt1 ct1
	lines0=$(wc -l <"$out/caddy$cport.log")
	bt0=$(ticks "${pid[$bport]}")
	ct0=$(ticks "${pid[$cport]}")
	taskset -c 1 wrk -t1 -c"$CONN" -d"$DUR" "$@" "http://127.0.0.1:$bport$P" >"$out/base" &
	local wp=$!
	taskset -c 1 wrk -t1 -c"$CONN" -d"$DUR" "$@" "http://127.0.0.1:$cport$P" >"$out/cand"
	wait $wp
	bt1=$(ticks "${pid[$bport]}")
	ct1=$(ticks "${pid[$cport]}")
	local b c bn cn bus cus lines
	b=$(awk '/Requests\/sec/ {print $2}' "$out/base")
	c=$(awk '/Requests\/sec/ {print $2}' "$out/cand")
	bn=$(awk '/requests in/ {print $1}' "$out/base")
	cn=$(awk '/requests in/ {print $1}' "$out/cand")
	bus=$(echo "($bt1 - $bt0) * 1000000 / $hz / $bn" | bc -l)
	cus=$(echo "($ct1 - $ct0) * 1000000 / $hz / $cn" | bc -l)
	lines=$(($(wc -l <"$out/caddy$cport.log") - lines0))
	printf "%-44s %9.0f %9.0f %6.2f   %5.1f/%-7.1f %6.2f %9d\n" "$name" "$b" "$c" "$(echo "$c / $b" | bc -l)" \
		"$bus" "$cus" "$(echo "$bus / $cus" | bc -l)" "$lines"
	grep -q "Non-2xx" "$out/cand" || true
}
pair "A/A: plain 401 against a copy" 9201 9200
pair "no credentials, sampled" 9201 9210
pair "no credentials, log all" 9201 9211
pair "bad-signature RS256 each request, sampled" 9202 9210 -s bench/bad-tokens.lua
pair "bad-signature RS256 each request, log all" 9202 9211 -s bench/bad-tokens.lua
pair "bad-signature RS256, bad_token_limit 100 1m" 9204 9212 -s bench/bad-tokens.lua
pair "new wrong password each request, sampled" 9203 9210 -s bench/wrong-passwords.lua
pair "new wrong password each request, log all" 9203 9211 -s bench/wrong-passwords.lua

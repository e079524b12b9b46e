#!/usr/bin/env bash
# The benchmark kit: builds Caddy with this module (go run ./cmd/build, i.e.
# xcaddy), starts the variants below pinned to core 0, and loads each pair
# (baseline, candidate) at the same time from core 1, so machine noise hits
# both alike. Prints requests/s, p50/p99 latency and the ratio
# candidate/baseline per scenario.
#
#   bash bench/wrk.sh              # DUR=10s CONN=16 by default; needs wrk, openssl
#   SKIP_BUILD=1 bash bench/wrk.sh # reuse ./caddy
#   EXTRA=1 bash bench/wrk.sh      # also: a trivial handler, and rest_auth passing a path through
#
# Variants (plain HTTP unless said): 9101 no auth; 9102 rest_auth with the
# example's users and rules (Basic); 9103 Caddy's basic_auth; 9104 rest_auth
# with bearer (RS256 key file); 9105 HTTPS with client certificates
# verified, no auth; 9106 the same with rest_auth client_cert. wrk cannot
# present client certificates, so the mTLS pair uses bench/load (Go).
set -euo pipefail
cd "$(dirname "$0")/.."
DUR=${DUR:-10s}
CONN=${CONN:-16}
out=$(mktemp -d)
[ -n "${SKIP_BUILD:-}" ] || go run ./cmd/build >/dev/null
go build -o "$out/load" ./bench/load
go build -o "$out/demo-token" ./cmd/demo-token

ALICE_HASH=$(grep -A2 'username = "alice"' demo/users.toml | sed -n 's/^password = "\([^"]*\)".*/\1/p')
P=/api/identity/user/v1.0/me

# keys and certificates for this run
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$out/rsa.key" 2>/dev/null
openssl pkey -in "$out/rsa.key" -pubout -out "$out/rsa.pub"
TOKEN=$("$out/demo-token" -key "$out/rsa.key" -sub alice -iss bench -aud bench)
BAD_TOKEN=${TOKEN%?????}AAAAA
bash scripts/mtls-certs.sh "$out/pki" alice >/dev/null 2>&1
openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=localhost" \
	-keyout "$out/server.key" -out "$out/server.csr" 2>/dev/null
openssl x509 -req -in "$out/server.csr" -CA "$out/pki/root.pem" -CAkey "$out/pki/root.key" -CAcreateserial \
	-days 2 -out "$out/server.pem" -extfile <(printf 'subjectAltName=DNS:localhost\nextendedKeyUsage=serverAuth\n') 2>/dev/null

site() { # address, directives
	cat <<EOC
$1 {
$2
	respond $P \`{"user":"{http.auth.user.id}"}\`
	respond 404
}
EOC
}
tls="	tls $out/server.pem $out/server.key {
		client_auth {
			mode require_and_verify
			trust_pool file $out/pki/root.pem
		}
	}"
ra="	rest_auth {
		users demo/users.toml
		resources demo/deployment.toml"
global() { printf '{\n\tadmin off\n\tpersist_config off\n\tauto_https disable_redirects\n\tlog {\n\t\tlevel ERROR\n\t}\n}\n'; }
# one Caddy process per variant: the kernel shares core 0 between the two
# processes of a pair, so each gets the same CPU and the ratio shows cost
# (two sites in one process would be served turn about, at equal rates)
{ global; site http://:9101 ""; } >"$out/c9101"
{ global; site http://:9102 "$ra
		basic
	}"; } >"$out/c9102"
{ global; site http://:9103 "	basic_auth {
		alice $ALICE_HASH
	}"; } >"$out/c9103"
{ global; site http://:9104 "$ra
		bearer {
			jwt {
				issuer bench
				audience bench
				key $out/rsa.pub
				algorithms RS256
			}
		}
	}"; } >"$out/c9104"
{ global; site https://localhost:9105 "$tls"; } >"$out/c9105"
{ global; site https://localhost:9106 "$tls
$ra
		client_cert
	}"; } >"$out/c9106"

# 9100 is a second copy of the baseline: the A/A pair shows what the method
# itself scatters
cp "$out/c9101" "$out/c9100"
sed -i 's/:9101/:9100/' "$out/c9100"
ports=(9100 9101 9102 9103 9104 9105 9106)
if [ -n "${EXTRA:-}" ]; then
	# what any handler costs: a trivial one (9107), and rest_auth with a rule
	# that lets the path through unauthenticated (9108)
	{ global; site http://:9107 "	header X-Foo bar"; } >"$out/c9107"
	printf '[resource_access_control]\ndefault_access = "deny"\n\n[[resource.access_control]]\ncontext = "(.*)%s(.*)"\nsecure = false\nhttp_method = "all"\n' "$P" >"$out/open.toml"
	{ global; site http://:9108 "	rest_auth {
		users demo/users.toml
		resources $out/open.toml
		basic
	}"; } >"$out/c9108"
	ports+=(9107 9108)
fi
pids=()
declare -A pid
for port in "${ports[@]}"; do
	taskset -c 0 ./caddy run --config "$out/c$port" --adapter caddyfile >"$out/caddy$port.log" 2>&1 &
	pids+=($!)
	pid[$port]=$!
done
trap 'kill ${pids[*]} 2>/dev/null || true' EXIT
for _ in $(seq 1 50); do curl -s -o /dev/null localhost:9106$P -k && break; sleep 0.2; done
sleep 1
AUTH="Authorization: Basic $(printf alice:alice-pass | base64)"
CERT=(-cert "$out/pki/alice-chain.pem" -key "$out/pki/alice.key" -ca "$out/pki/root.pem")
check() { # want, curl args
	local got
	got=$(curl -s -o /dev/null -w '%{http_code}' "${@:2}")
	[ "$got" = "$1" ] || { echo "setup check failed: curl ${*:2} -> $got, want $1"; cat "$out"/caddy*.log; exit 1; }
}
check 200 -H "$AUTH" localhost:9102$P
check 200 -H "$AUTH" localhost:9103$P
check 200 -H "Authorization: Bearer $TOKEN" localhost:9104$P
check 401 -H "Authorization: Bearer $BAD_TOKEN" localhost:9104$P
check 200 --cacert "$out/pki/root.pem" --cert "$out/pki/alice-chain.pem" --key "$out/pki/alice.key" https://localhost:9106$P

run() { # name, output, tool args...
	local f=$2
	shift 2
	if [ "$1" = load ]; then
		shift
		taskset -c 1 "$out/load" -c "$CONN" -d "$DUR" "$@" >"$f"
	else
		shift # "x": wrk
		taskset -c 1 wrk -t1 -c"$CONN" -d"$DUR" --latency "$@" >"$f"
	fi
}
ticks() { # CPU time (user+system, in clock ticks) a process has used so far
	awk '{print $14 + $15}' "/proc/$1/stat"
}
hz=$(getconf CLK_TCK)
printf "%-36s %9s %9s %6s   %-17s %-17s %-13s %6s\n" scenario baseline candidate ratio \
	"p50 base/cand" "p99 base/cand" "CPU us/req" "ratio"
pair() { # name, baseline port, baseline args (an array's name), candidate port, candidate args...
	local name=$1 bport=$2
	local -n base=$3
	local cport=$4
	shift 4
	local bt0 ct0 bt1 ct1
	bt0=$(ticks "${pid[$bport]}")
	ct0=$(ticks "${pid[$cport]}")
	run "$name" "$out/base" "${base[@]}" &
	local wp=$!
	run "$name" "$out/cand" "$@"
	wait $wp
	bt1=$(ticks "${pid[$bport]}")
	ct1=$(ticks "${pid[$cport]}")
	local b c bn cn bus cus
	b=$(awk '/Requests\/sec/ {print $2}' "$out/base")
	c=$(awk '/Requests\/sec/ {print $2}' "$out/cand")
	bn=$(awk '/requests in/ {print $1}' "$out/base")
	cn=$(awk '/requests in/ {print $1}' "$out/cand")
	# CPU per request: what each process spent, whatever share of core 0 the
	# kernel gave it; base/cand is the throughput ratio at equal CPU
	bus=$(echo "($bt1 - $bt0) * 1000000 / $hz / $bn" | bc -l)
	cus=$(echo "($ct1 - $ct0) * 1000000 / $hz / $cn" | bc -l)
	printf "%-36s %9.0f %9.0f %6.2f   %-17s %-17s %5.1f/%-7.1f %6.2f\n" "$name" "$b" "$c" "$(echo "$c / $b" | bc -l)" \
		"$(awk '/ 50%/ {print $2}' "$out/base")/$(awk '/ 50%/ {print $2}' "$out/cand")" \
		"$(awk '/ 99%/ {print $2}' "$out/base")/$(awk '/ 99%/ {print $2}' "$out/cand")" \
		"$bus" "$cus" "$(echo "$bus / $cus" | bc -l)"
}
H=http://127.0.0.1
# The baseline gets the same request (headers included), so the ratio is
# what rest_auth adds, not what parsing a longer request costs.
b_basic=(x -H "$AUTH" "$H:9101$P")
b_token=(x -H "Authorization: Bearer $TOKEN" "$H:9101$P")
b_bad=(x -H "Authorization: Bearer $BAD_TOKEN" "$H:9101$P")
b_none=(x "$H:9101$P")
b_wrong=(x -s bench/wrong-passwords.lua "$H:9101$P")
b_tls=(load -url "https://localhost:9105$P" "${CERT[@]}")
pair "A/A: baseline against a copy" 9101 b_basic 9100 x -H "$AUTH" "$H:9100$P"
pair "rest_auth Basic (cached)" 9101 b_basic 9102 x -H "$AUTH" "$H:9102$P"
pair "Caddy basic_auth (cached)" 9101 b_basic 9103 x -H "$AUTH" "$H:9103$P"
pair "rest_auth Bearer RS256 (cached)" 9101 b_token 9104 x -H "Authorization: Bearer $TOKEN" "$H:9104$P"
pair "rest_auth mTLS client_cert" 9105 b_tls 9106 load -url "https://localhost:9106$P" "${CERT[@]}"
pair "rest_auth 401 (no credentials)" 9101 b_none 9102 x "$H:9102$P"
pair "rest_auth invalid bearer token" 9101 b_bad 9104 x -H "Authorization: Bearer $BAD_TOKEN" "$H:9104$P"
pair "rest_auth new wrong password each" 9101 b_wrong 9102 x -s bench/wrong-passwords.lua "$H:9102$P"
if [ -n "${EXTRA:-}" ]; then
	pair "a trivial handler (header)" 9101 b_basic 9107 x -H "$AUTH" "$H:9107$P"
	pair "rest_auth, rule not secured" 9101 b_basic 9108 x -H "$AUTH" "$H:9108$P"
fi

#!/usr/bin/env bash
# The LDAP user store end to end (issue 17): a real slapd on 127.0.0.1
# (pinned to core 1 with the wrk clients), and Caddy processes pinned to
# core 0: plain Caddy (9401, and a copy 9400 for the A/A pair), rest_auth
# with Basic against the directory (9402) and against the users file
# (9403, for reference). Each pair is loaded at the same time, the
# BENCHMARKS.md method; a cached credential should cost what the file
# store's does (no round trip to the directory).
#
#   bash bench/ldap.sh              # DUR=8s CONN=16; needs wrk, slapd, slappasswd
#   SKIP_BUILD=1 bash bench/ldap.sh # reuse ./caddy
set -euo pipefail
cd "$(dirname "$0")/.."
DUR=${DUR:-8s}
CONN=${CONN:-16}
out=$(mktemp -d)
[ -n "${SKIP_BUILD:-}" ] || go run ./cmd/build >/dev/null
P=/api/identity/user/v1.0/me
SUFFIX=dc=example,dc=org
LDAP_PORT=${LDAP_PORT:-3899}

mkdir "$out/db"
cat >"$out/slapd.conf" <<EOC
include /etc/ldap/schema/core.schema
include /etc/ldap/schema/cosine.schema
include /etc/ldap/schema/inetorgperson.schema
modulepath /usr/lib/ldap
moduleload back_mdb
pidfile $out/slapd.pid
database mdb
suffix "$SUFFIX"
rootdn "cn=admin,$SUFFIX"
rootpw $(slappasswd -s admin-secret)
directory $out/db
index uid eq
index member eq
access to attrs=userPassword by self write by anonymous auth by * none
access to * by * read
EOC
cat >"$out/data.ldif" <<EOL
dn: $SUFFIX
objectClass: dcObject
objectClass: organization
o: Example
dc: example

dn: ou=people,$SUFFIX
objectClass: organizationalUnit
ou: people

dn: ou=groups,$SUFFIX
objectClass: organizationalUnit
ou: groups

dn: cn=reader,$SUFFIX
objectClass: organizationalRole
objectClass: simpleSecurityObject
cn: reader
userPassword: $(slappasswd -s reader-secret)

dn: uid=alice,ou=people,$SUFFIX
objectClass: inetOrgPerson
uid: alice
cn: alice
sn: alice
userPassword: $(slappasswd -s alice-pass)

dn: cn=everyone,ou=groups,$SUFFIX
objectClass: groupOfNames
cn: everyone
member: uid=alice,ou=people,$SUFFIX
EOL
slapadd -f "$out/slapd.conf" -l "$out/data.ldif" 2>/dev/null
taskset -c 1 slapd -f "$out/slapd.conf" -h "ldap://127.0.0.1:$LDAP_PORT/" -d 0 >"$out/slapd.log" 2>&1 &
slapd_pid=$!

global() { printf '{\n\tadmin off\n\tpersist_config off\n\tauto_https disable_redirects\n\tlog {\n\t\tlevel ERROR\n\t}\n}\n'; }
site() { # port, directives
	printf 'http://:%s {\n%s\n\trespond %s `{"user":"{http.auth.user.id}"}`\n\trespond 404\n}\n' "$1" "$2" "$P"
}
{ global; site 9401 ""; } >"$out/c9401"
{ global; site 9400 ""; } >"$out/c9400"
{ global; site 9402 "	rest_auth {
		users demo/users.toml
		resources demo/deployment.toml
		user_store ldap {
			url ldap://127.0.0.1:$LDAP_PORT
			bind_dn cn=reader,$SUFFIX
			bind_password reader-secret
			user_base_dn ou=people,$SUFFIX
			group_base_dn ou=groups,$SUFFIX
		}
		basic
	}"; } >"$out/c9402"
{ global; site 9403 "	rest_auth {
		users demo/users.toml
		resources demo/deployment.toml
		basic
	}"; } >"$out/c9403"
declare -A pid
pids=("$slapd_pid")
for port in 9400 9401 9402 9403; do
	taskset -c 0 ./caddy run --config "$out/c$port" --adapter caddyfile >"$out/caddy$port.log" 2>&1 &
	pids+=($!)
	pid[$port]=$!
done
trap 'kill ${pids[*]} 2>/dev/null || true' EXIT
AUTH="Authorization: Basic $(printf alice:alice-pass | base64)"
for port in 9400 9401 9402 9403; do
	for _ in $(seq 1 50); do curl -s -o /dev/null -H "$AUTH" "localhost:$port$P" && break; sleep 0.2; done
done
for port in 9402 9403; do
	got=$(curl -s -o /dev/null -w '%{http_code}' -H "$AUTH" "localhost:$port$P")
	[ "$got" = 200 ] || { echo "setup: $port answered $got"; cat "$out"/*.log; exit 1; }
done

ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
hz=$(getconf CLK_TCK)
printf "%-40s %9s %9s %6s   %-13s %6s\n" scenario baseline candidate ratio "CPU us/req" ratio
pair() { # name, baseline port, candidate port
	local name=$1 bport=$2 cport=$3 bt0 ct0 bt1 ct1
	bt0=$(ticks "${pid[$bport]}")
	ct0=$(ticks "${pid[$cport]}")
	taskset -c 1 wrk -t1 -c"$CONN" -d"$DUR" -H "$AUTH" "http://127.0.0.1:$bport$P" >"$out/base" &
	local wp=$!
	taskset -c 1 wrk -t1 -c"$CONN" -d"$DUR" -H "$AUTH" "http://127.0.0.1:$cport$P" >"$out/cand"
	wait $wp
	bt1=$(ticks "${pid[$bport]}")
	ct1=$(ticks "${pid[$cport]}")
	local b c bn cn bus cus
	b=$(awk '/Requests\/sec/ {print $2}' "$out/base")
	c=$(awk '/Requests\/sec/ {print $2}' "$out/cand")
	bn=$(awk '/requests in/ {print $1}' "$out/base")
	cn=$(awk '/requests in/ {print $1}' "$out/cand")
	bus=$(echo "($bt1 - $bt0) * 1000000 / $hz / $bn" | bc -l)
	cus=$(echo "($ct1 - $ct0) * 1000000 / $hz / $cn" | bc -l)
	printf "%-40s %9.0f %9.0f %6.2f   %5.1f/%-7.1f %6.2f\n" "$name" "$b" "$c" "$(echo "$c / $b" | bc -l)" \
		"$bus" "$cus" "$(echo "$bus / $cus" | bc -l)"
}
pair "A/A: plain Caddy against a copy" 9401 9400
pair "rest_auth Basic, LDAP store (cached)" 9401 9402
pair "rest_auth Basic, file store (cached)" 9401 9403
slapd_cpu=$(ticks "$slapd_pid")
echo "slapd CPU during the runs: $(echo "$slapd_cpu / $hz" | bc -l | cut -c1-5) s (a cached credential asks nothing)"

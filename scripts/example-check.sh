#!/usr/bin/env bash
# Runs the README's command (go run ./cmd/build -run: builds Caddy, starts
# Caddyfile.example in the foreground), waits for the line it prints when
# ready, and checks the README's walk-through and "Operating" commands.
set -euo pipefail
cd "$(dirname "$0")/.."

export XDG_DATA_HOME XDG_CONFIG_HOME
XDG_DATA_HOME="$(mktemp -d)"
XDG_CONFIG_HOME="$(mktemp -d)"
log=/tmp/restauth-example.log
# its own process group, so that go run, Caddy and all stop together
setsid go run ./cmd/build -run >$log 2>&1 &
pid=$!
trap 'kill -TERM -- -$pid 2>/dev/null || true' EXIT
for _ in $(seq 1 1200); do # the first build takes minutes
	grep -q '^==> caddy-restauth demo is ready' $log && break
	kill -0 $pid 2>/dev/null || { echo "FAIL: go run ./cmd/build -run exited"; tail -30 $log; exit 1; }
	sleep 0.5
done
grep -q '^==> caddy-restauth demo is ready' $log || { echo "FAIL: no ready line"; tail -30 $log; exit 1; }
echo "ok:   go run ./cmd/build -run printed: $(grep '^==> ' $log)"

fail=0
check() { # want, curl args...
	local want=$1; shift
	local got
	got=$(curl -sk -o /dev/null -w '%{http_code}' "$@" || true)
	if [ "$got" != "$want" ]; then
		echo "FAIL: curl $* -> $got, want $want"; fail=1
	else
		local args="$*"
		echo "ok:   curl ${args:0:140} -> $got"
	fi
}
U=https://localhost:8443
check 200 $U/health
check 401 $U/api/identity/user/v1.0/me
check 200 -u alice:alice-pass $U/api/identity/user/v1.0/me
check 401 -u alice:wrong $U/api/identity/user/v1.0/me
check 200 -u alice:alice-pass $U/scim2/Users
check 403 -u bob:bob-pass $U/scim2/Users
check 403 -u alice:alice-pass $U/admin/settings
check 200 -u admin:admin-pass $U/admin/settings
check 401 -u admin:admin-pass $U/not/in/any/rule
check 400 --path-as-is -u admin:admin-pass "$U/scim2/../admin/settings"
body=$(curl -sk -u alice:alice-pass $U/api/identity/user/v1.0/me)
[ "$body" = '{"user":"alice","roles":"user-manager,everyone","auth_method":"basic","scopes":""}' ] || { echo "FAIL: body $body"; fail=1; }
# bearer tokens signed with the demo key (README: "Bearer tokens")
go build -o /tmp/restauth-demo-token ./cmd/demo-token
tok=$(/tmp/restauth-demo-token -sub alice -scope internal_user_mgt_list)
check 200 -H "Authorization: Bearer $tok" $U/scim2/Users
check 403 -H "Authorization: Bearer $(/tmp/restauth-demo-token -sub alice)" $U/scim2/Users
check 401 -H "Authorization: Bearer $(/tmp/restauth-demo-token -sub alice -ttl -1m)" $U/scim2/Users
check 401 -H "Authorization: Bearer ${tok}x" $U/scim2/Users
body=$(curl -sk -H "Authorization: Bearer $tok" $U/api/identity/user/v1.0/me)
[ "$body" = '{"user":"alice","roles":"user-manager,everyone","auth_method":"bearer","scopes":"internal_user_mgt_list"}' ] || { echo "FAIL: bearer body $body"; fail=1; }
# the built-in token service (README: "Token service")
tok=$(curl -sk -u demo-app:demo-secret -d grant_type=client_credentials -d scope=internal_user_mgt_list $U/oauth2/token | sed -n 's/.*"access_token":"\([^"]*\)".*/\1/p')
[ -n "$tok" ] || { echo "FAIL: client_credentials token"; fail=1; }
check 200 -H "Authorization: Bearer $tok" $U/scim2/Users
out=$(curl -sk -u demo-app:demo-secret -d grant_type=password -d username=alice -d password=alice-pass $U/oauth2/token)
rt=$(echo "$out" | sed -n 's/.*"refresh_token":"\([^"]*\)".*/\1/p')
at=$(echo "$out" | sed -n 's/.*"access_token":"\([^"]*\)".*/\1/p')
check 200 -H "Authorization: Bearer $at" $U/api/identity/user/v1.0/me
check 200 -u demo-app:demo-secret -d grant_type=refresh_token -d refresh_token="$rt" $U/oauth2/token
check 400 -u demo-app:demo-secret -d grant_type=refresh_token -d refresh_token="$rt" $U/oauth2/token
check 401 -H "Authorization: Bearer $at" $U/api/identity/user/v1.0/me
check 401 -u demo-app:wrong -d grant_type=client_credentials $U/oauth2/token
check 200 $U/oauth2/jwks
# mutual TLS on :8444 (README: "Mutual TLS")
M=https://localhost:8444
check 200 --cert demo/mtls/alice-chain.pem --key demo/mtls/alice.key $M/scim2/Users
check 403 --cert demo/mtls/svc-gateway-chain.pem --key demo/mtls/svc-gateway.key $M/scim2/Users
check 200 --cert demo/mtls/svc-gateway-chain.pem --key demo/mtls/svc-gateway.key $M/api/identity/user/v1.0/me
check 401 $M/scim2/Users
# a PKI made with the README's openssl commands is not trusted by the demo: the handshake fails
mt=$(mktemp -d)
bash scripts/mtls-certs.sh "$mt" mallory >/dev/null 2>&1
check 000 --cert "$mt/mallory-chain.pem" --key "$mt/mallory.key" $M/scim2/Users
body=$(curl -sk --cert demo/mtls/alice-chain.pem --key demo/mtls/alice.key $M/api/identity/user/v1.0/me)
[ "$body" = '{"user":"alice","roles":"user-manager,everyone","auth_method":"client_cert","scopes":""}' ] || { echo "FAIL: mTLS body $body"; fail=1; }
# operating it (README: "Operating"): admin routes, CLI, metrics
A=localhost:2019
out=$(curl -s $A/rest-auth/)
grep -q '"name": "demo"' <<<"$out" && ! grep -q 'argon2id\|\$2a\$' <<<"$out" || { echo "FAIL: GET /rest-auth/"; fail=1; }
out=$(curl -s -X POST $A/rest-auth/check -d '{"handler":"demo","method":"GET","path":"/scim2/Users","user":"alice"}')
grep -q '"allowed": true' <<<"$out" || { echo "FAIL: check alice: $out"; fail=1; }
out=$(curl -s -X POST $A/rest-auth/check -d '{"handler":"demo","method":"GET","path":"/scim2/Users","scopes":["internal_user_mgt_list"],"auth_method":"bearer"}')
grep -q '"allowed": true' <<<"$out" || { echo "FAIL: check scopes: $out"; fail=1; }
out=$(curl -s -X POST $A/rest-auth/reload -d '{"handler":"demo"}')
grep -q '"rules": 5' <<<"$out" || { echo "FAIL: reload: $out"; fail=1; }
# reload without a handler: every handler and the token service, each answered
out=$(curl -s -w ' %{http_code}' -X POST $A/rest-auth/reload)
grep -q '"name": "demo"' <<<"$out" && grep -q '"name": "demo-mtls"' <<<"$out" && grep -q '"issuer": "https://localhost:8443"' <<<"$out" && grep -q ' 200$' <<<"$out" || { echo "FAIL: reload everything: $out"; fail=1; }
out=$(curl -s -w ' %{http_code}' -X POST $A/rest-auth/reload -d '{"handler":"nope"}')
grep -q ' 400$' <<<"$out" || { echo "FAIL: reload of an unknown handler: $out"; fail=1; }
out=$(curl -s -w ' %{http_code}' -X POST $A/rest-auth/rotate-keys)
grep -q '"issuer": "https://localhost:8443"' <<<"$out" && grep -q '"kid": "' <<<"$out" && grep -q ' 200$' <<<"$out" || { echo "FAIL: rotate-keys: $out"; fail=1; }
check 200 $U/oauth2/jwks
# (read it whole first: grep -q stops early, and with pipefail curl's broken pipe would fail the line)
metrics=$(curl -s $A/metrics)
grep -q '^caddy_rest_auth_decisions_total{auth_method="basic",handler="demo",outcome="granted"' <<<"$metrics" || { echo "FAIL: metrics"; fail=1; }
if ./caddy rest-auth check --config Caddyfile.example --handler demo --method GET --path /scim2/Users --user bob >/tmp/restauth-check.json 2>/dev/null; then
	echo "FAIL: rest-auth check for bob passed"; fail=1
fi
grep -q '"status": 403' /tmp/restauth-check.json || { echo "FAIL: rest-auth check output"; cat /tmp/restauth-check.json; fail=1; }
./caddy rest-auth check --config Caddyfile.example --handler demo --method GET --path /scim2/Users --user alice >/dev/null 2>&1 || { echo "FAIL: rest-auth check alice"; fail=1; }
./caddy rest-auth lint --config Caddyfile.example >/tmp/restauth-lint.txt 2>/dev/null || { echo "FAIL: rest-auth lint"; cat /tmp/restauth-lint.txt; fail=1; }
[ "$(cat /tmp/restauth-lint.txt)" = "no findings" ] || { echo "FAIL: lint on the demo:"; cat /tmp/restauth-lint.txt; fail=1; }
# the policy explorer (README: "The policy explorer"): the viewer in front of the admin endpoint
./caddy rest-auth ui --listen 127.0.0.1:2020 >/tmp/restauth-ui.log 2>&1 &
uipid=$!
for _ in $(seq 1 50); do curl -s -o /dev/null http://127.0.0.1:2020/rest-auth/ui/ && break; sleep 0.1; done
check 200 http://127.0.0.1:2020/rest-auth/ui/
check 200 http://127.0.0.1:2020/rest-auth/ui/app.js
out=$(curl -s http://127.0.0.1:2020/rest-auth/)
grep -q '"name": "demo"' <<<"$out" || { echo "FAIL: the viewer's GET /rest-auth/: $out"; fail=1; }
check 404 -X POST http://127.0.0.1:2020/rest-auth/reload
kill $uipid 2>/dev/null || true
echo "ok:   admin routes, metrics, caddy rest-auth check and lint"
if [ $fail -ne 0 ]; then
	cat /tmp/restauth-example.log
	exit 1
fi
echo "example: all checks passed"

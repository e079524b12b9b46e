#!/usr/bin/env bash
# Makes a small PKI for trying mutual TLS, with openssl: a root CA, an
# issuing (intermediate) CA, and client certificates whose subject CN is
# the user name. The README's "Mutual TLS" section shows these commands.
#
#   bash scripts/mtls-certs.sh <dir> [<client CN>...]     # default: alice svc-gateway
set -euo pipefail
dir=${1:?usage: mtls-certs.sh <dir> [<client CN>...]}
shift
clients=("$@")
[ ${#clients[@]} -gt 0 ] || clients=(alice svc-gateway)
mkdir -p "$dir"
cd "$dir"

# 1. the root CA (keep root.key offline in real life)
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 3650 \
	-subj "/CN=restauth demo root CA" -keyout root.key -out root.pem \
	-addext "basicConstraints=critical,CA:true" -addext "keyUsage=critical,keyCertSign,cRLSign"

# 2. the issuing CA, signed by the root; its CN is what trusted_issuer_cn names
openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
	-subj "/CN=restauth demo issuing CA" -keyout issuing.key -out issuing.csr
openssl x509 -req -in issuing.csr -CA root.pem -CAkey root.key -CAcreateserial -days 1825 -out issuing.pem \
	-extfile <(printf 'basicConstraints=critical,CA:true,pathlen:0\nkeyUsage=critical,keyCertSign,cRLSign\n')

# 3. client certificates: CN = user name, for client authentication only;
#    <cn>-chain.pem holds the certificate and the issuing CA for curl --cert
for cn in "${clients[@]}"; do
	openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
		-subj "/CN=$cn" -keyout "$cn.key" -out "$cn.csr"
	openssl x509 -req -in "$cn.csr" -CA issuing.pem -CAkey issuing.key -CAcreateserial -days 825 -out "$cn.pem" \
		-extfile <(printf 'basicConstraints=CA:false\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=clientAuth\n')
	cat "$cn.pem" issuing.pem > "$cn-chain.pem"
	openssl verify -CAfile root.pem -untrusted issuing.pem "$cn.pem"
done
rm -f ./*.csr ./*.srl

#!/usr/bin/env bash
# Certificates that must be refused, for the tests: next to what
# scripts/gen-certs.sh made in DIR (its ca.crt and ca.key), makes
#   expired.crt/.key     node 1's, signed by the CA, expired in 2020
#   nosan.crt/.key       signed by the CA, no raft-kv node URI SAN
#   twonodes.crt/.key    signed by the CA, naming nodes 1 and 2
#   serveronly.crt/.key  node 1's, signed by the CA, TLS server use only
#   other/               another CA (ca.crt) and its node 1 (node-1.*)
#   notpem.crt           not PEM at all
# Usage: tests/support/bad-certs.sh DIR GEN_CERTS_SCRIPT
set -euo pipefail
out=$1
gen=$2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
umask 077

key() {
    openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 \
        -out "$1" 2>/dev/null
}

# sign NAME SAN EKU [STARTDATE ENDDATE]: through a minimal openssl ca, the
# only way OpenSSL 3.0 puts both dates in the past.
sign() {
    local name=$1 san=$2 eku=$3
    mkdir -p "$tmp/ca/newcerts"
    [ -f "$tmp/ca/index.txt" ] || : >"$tmp/ca/index.txt"
    [ -f "$tmp/ca/serial" ] || echo 1000 >"$tmp/ca/serial"
    cat >"$tmp/ca.cnf" <<CNF
[ ca ]
default_ca = test
[ test ]
dir = $tmp/ca
database = \$dir/index.txt
new_certs_dir = \$dir/newcerts
serial = \$dir/serial
default_md = sha256
policy = any
unique_subject = no
copy_extensions = none
[ any ]
commonName = supplied
[ ext ]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature
extendedKeyUsage = $eku
subjectAltName = $san
CNF
    local dates=(-days 30)
    if [ $# -ge 5 ]; then
        dates=(-startdate "$4" -enddate "$5")
    fi
    key "$out/$name.key"
    openssl req -new -key "$out/$name.key" -subj "/CN=$name" \
        -out "$tmp/$name.csr"
    openssl ca -batch -config "$tmp/ca.cnf" -cert "$out/ca.crt" \
        -keyfile "$out/ca.key" -extensions ext "${dates[@]}" \
        -in "$tmp/$name.csr" -out "$out/$name.crt" 2>/dev/null
}

local_names="IP:127.0.0.1,DNS:localhost"
sign expired "URI:raftkv://node/1,$local_names" "serverAuth,clientAuth" \
    200101000000Z 200102000000Z
sign nosan "$local_names" "serverAuth,clientAuth"
sign twonodes "URI:raftkv://node/1,URI:raftkv://node/2,$local_names" \
    "serverAuth,clientAuth"
sign serveronly "URI:raftkv://node/1,$local_names" "serverAuth"
"$gen" "$out/other" 1 >/dev/null
echo "this is not a certificate" >"$out/notpem.crt"

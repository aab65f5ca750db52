#!/usr/bin/env bash
# Makes throwaway certificates for a raft-kv cluster with the openssl
# command line: a CA, one certificate and key per node, and a client
# certificate.
#
#   scripts/gen-certs.sh [--days N] OUTDIR NODE[=NAME,...] ...
#
#   OUTDIR/ca.crt, ca.key          the CA (EC P-256); ca.key signs the rest
#   OUTDIR/node-N.crt, node-N.key  node N: TLS server and client, names
#                                  127.0.0.1 and localhost (plus the NAMEs
#                                  given after '=': host names or IP
#                                  addresses) and carries the URI SAN
#                                  raftkv://node/N that peers check
#   OUTDIR/client.crt, client.key  a client (raftkv-cli, raftkv-bench): the
#                                  KV service only
#
# When OUTDIR already holds ca.crt and ca.key they are reused, so running
# the script again adds nodes or renews their certificates under the same
# CA (docs/security.md: making and rotating certificates). Keys are made
# readable by their owner only. Certificates are valid for --days (365).
set -euo pipefail

usage() {
    echo "usage: scripts/gen-certs.sh [--days N] OUTDIR NODE[=NAME,...] ..." >&2
    echo "  e.g. scripts/gen-certs.sh certs 1 2 3" >&2
    echo "       scripts/gen-certs.sh certs 1=node1 2=node2 3=node3" >&2
    exit 2
}

days=365
while [ $# -gt 0 ]; do
    case "$1" in
        --days)
            [ $# -ge 2 ] || usage
            days=$2
            shift 2
            ;;
        --days=*)
            days=${1#--days=}
            shift
            ;;
        -h | --help) usage ;;
        -*)
            echo "gen-certs: unknown option $1" >&2
            usage
            ;;
        *) break ;;
    esac
done
[ $# -ge 2 ] || usage
case "$days" in
    '' | *[!0-9]* | 0)
        echo "gen-certs: --days needs a positive integer, not '$days'" >&2
        exit 2
        ;;
esac
out=$1
shift
if ! command -v openssl >/dev/null 2>&1; then
    echo "gen-certs: openssl is not installed (scripts/setup.sh installs it)" >&2
    exit 1
fi

# Checks every node argument before anything is written.
for spec in "$@"; do
    id=${spec%%=*}
    case "$id" in
        '' | *[!0-9]* | 0*)
            echo "gen-certs: '$spec': a node is a positive integer id, optionally" \
                "followed by =NAME,... (got id '$id')" >&2
            exit 2
            ;;
    esac
done

mkdir -p "$out"
umask 077
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

newkey() {
    openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 \
        -out "$1" 2>/dev/null
    chmod 600 "$1"
}

if [ -f "$out/ca.crt" ] && [ -f "$out/ca.key" ]; then
    echo "gen-certs: reusing the CA in $out/ca.crt"
else
    newkey "$out/ca.key"
    openssl req -x509 -new -key "$out/ca.key" -sha256 -days "$days" \
        -subj "/CN=raft-kv CA" \
        -addext "basicConstraints=critical,CA:TRUE" \
        -addext "keyUsage=critical,keyCertSign,cRLSign" \
        -out "$out/ca.crt"
    chmod 644 "$out/ca.crt"
    echo "gen-certs: made a CA: $out/ca.crt"
fi

# sign NAME CN SAN EKU: makes $out/NAME.key and $out/NAME.crt.
sign() {
    local name=$1 cn=$2 san=$3 eku=$4
    newkey "$out/$name.key"
    openssl req -new -key "$out/$name.key" -subj "/CN=$cn" \
        -out "$tmp/$name.csr"
    {
        echo "basicConstraints=critical,CA:FALSE"
        echo "keyUsage=critical,digitalSignature"
        echo "extendedKeyUsage=$eku"
        echo "subjectAltName=$san"
    } >"$tmp/$name.ext"
    openssl x509 -req -in "$tmp/$name.csr" -CA "$out/ca.crt" \
        -CAkey "$out/ca.key" -CAcreateserial -CAserial "$tmp/ca.srl" \
        -days "$days" -sha256 -extfile "$tmp/$name.ext" \
        -out "$out/$name.crt" 2>/dev/null
    chmod 644 "$out/$name.crt"
}

for spec in "$@"; do
    id=${spec%%=*}
    san="URI:raftkv://node/$id,IP:127.0.0.1,DNS:localhost"
    if [ "$spec" != "$id" ]; then
        IFS=',' read -r -a names <<<"${spec#*=}"
        for n in "${names[@]}"; do
            [ -n "$n" ] || continue
            if [[ "$n" =~ ^[0-9.]+$ || "$n" == *:* ]]; then
                san="$san,IP:$n"
            else
                san="$san,DNS:$n"
            fi
        done
    fi
    sign "node-$id" "raft-kv node $id" "$san" "serverAuth,clientAuth"
    echo "gen-certs: node $id: $out/node-$id.crt ($san)"
done
sign client "raft-kv client" "URI:raftkv://client" "clientAuth"
echo "gen-certs: client: $out/client.crt"

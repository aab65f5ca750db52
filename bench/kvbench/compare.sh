#!/usr/bin/env bash
# Compares a 3-node raftkv cluster (raftkv-server, fsync on) with a 3-member
# etcd cluster (Debian's etcd-server, fsync on), both on loopback on this
# machine, in one run: put and linearizable get at 1, 16 and 64 requests in
# flight, driven by raftkv-bench against each system's leader.
#
#   bench/kvbench/compare.sh [SECONDS_PER_POINT]
#
# Needs build/bin/raftkv-server and build/bin/raftkv-bench, and etcd
# (apt-get install etcd-server). Data lives in a temporary directory that
# is removed at the end; both clusters are stopped on any exit. Both run
# without TLS (etcd's plaintext URLs, raftkv's --insecure), like for like.
set -euo pipefail
cd "$(dirname "$0")/../.."
secs=${1:-5}
bin=build/bin
for b in raftkv-server raftkv-bench; do
    [ -x "$bin/$b" ] || { echo "compare.sh: $bin/$b missing: build first" >&2; exit 2; }
done
command -v etcd >/dev/null || { echo "compare.sh: etcd missing (apt-get install etcd-server)" >&2; exit 2; }

tmp=$(mktemp -d /tmp/raftkv-compare-XXXXXX)
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$tmp"
}
trap cleanup EXIT

rk_cluster=1=127.0.0.1:27101,2=127.0.0.1:27102,3=127.0.0.1:27103
for i in 1 2 3; do
    "$bin/raftkv-server" --id $i --cluster $rk_cluster --data-dir "$tmp/rk$i" \
        --insecure 2> "$tmp/rk$i.log" &
    pids+=($!)
done
for i in 1 2 3; do
    etcd --name e$i --data-dir "$tmp/e$i" \
        --listen-client-urls http://127.0.0.1:2719$i \
        --advertise-client-urls http://127.0.0.1:2719$i \
        --listen-peer-urls http://127.0.0.1:2729$i \
        --initial-advertise-peer-urls http://127.0.0.1:2729$i \
        --initial-cluster e1=http://127.0.0.1:27291,e2=http://127.0.0.1:27292,e3=http://127.0.0.1:27293 \
        --initial-cluster-state new --initial-cluster-token compare \
        --log-level error > "$tmp/e$i.log" 2>&1 &
    pids+=($!)
done
sleep 3

rk=127.0.0.1:27101,127.0.0.1:27102,127.0.0.1:27103
et=127.0.0.1:27191,127.0.0.1:27192,127.0.0.1:27193
printf '%-4s %9s %14s %14s %9s %11s %11s\n' op inflight "raftkv ops/s" "etcd ops/s" ratio "raftkv p99" "etcd p99"
for op in put get; do
    for n in 1 16 64; do
        r=$("$bin/raftkv-bench" --target raftkv --insecure --endpoints $rk --op $op --inflight $n --seconds "$secs" --keys 1000)
        e=$("$bin/raftkv-bench" --target etcd --insecure --endpoints $et --op $op --inflight $n --seconds "$secs" --keys 1000)
        ro=$(sed -n 's/.*: \([0-9]*\) ops\/s.*/\1/p' <<<"$r" | head -1)
        eo=$(sed -n 's/.*: \([0-9]*\) ops\/s.*/\1/p' <<<"$e" | head -1)
        rp=$(sed -n 's/.*p99 \([0-9.]*\) ms.*/\1/p' <<<"$r" | head -1)
        ep=$(sed -n 's/.*p99 \([0-9.]*\) ms.*/\1/p' <<<"$e" | head -1)
        ratio=$(awk -v a="$ro" -v b="$eo" 'BEGIN { if (b > 0) printf "%.2fx", a / b; else print "n/a" }')
        printf '%-4s %9s %14s %14s %9s %9s ms %9s ms\n' $op $n "$ro" "$eo" "$ratio" "$rp" "$ep"
    done
done

# Peak memory of the servers over the whole run (VmHWM), per process.
echo
for i in 0 1 2; do
    p=${pids[$i]}
    printf 'raftkv-server %d peak RSS: %s\n' $((i + 1)) \
        "$(awk '/VmHWM/ { printf "%.1f MiB", $2 / 1024 }' /proc/$p/status 2>/dev/null || echo '?')"
done
for i in 3 4 5; do
    p=${pids[$i]}
    printf 'etcd member %d peak RSS: %s\n' $((i - 2)) \
        "$(awk '/VmHWM/ { printf "%.1f MiB", $2 / 1024 }' /proc/$p/status 2>/dev/null || echo '?')"
done

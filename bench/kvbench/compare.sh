#!/usr/bin/env bash
# Compares a 3-node raftkv cluster (raftkv-server, fsync on) with a 3-member
# etcd cluster (Debian's etcd-server, fsync on), both on loopback on this
# machine, in one run: put and linearizable get at 1, 16, 64 and 256
# requests in flight, driven by raftkv-bench against each system's leader.
#
#   bench/kvbench/compare.sh [SECONDS_PER_POINT]
#
# Needs build/bin/raftkv-server and build/bin/raftkv-bench, and etcd
# (apt-get install etcd-server); clusters.sh starts and stops both.
set -euo pipefail
cd "$(dirname "$0")/../.."
secs=${1:-5}
. bench/kvbench/clusters.sh
start_clusters

printf '%-4s %9s %14s %14s %9s %11s %11s\n' op inflight "raftkv ops/s" "etcd ops/s" ratio "raftkv p99" "etcd p99"
for op in put get; do
    for n in 1 16 64 256; do
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

# Memory of the servers at the end and at their peak (VmRSS, VmHWM).
echo
report_memory

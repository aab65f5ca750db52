#!/usr/bin/env bash
# Server memory with a large key space: loads KEYS keys (default
# 1,000,000) of VALUE_BYTES-byte values (default 64) into a 3-node raftkv
# cluster and into a 3-member etcd cluster (clusters.sh: both on loopback,
# fsync on), each key written once by raftkv-bench --op load with 256
# requests in flight, then reports every server's resident memory now and
# at its peak beside the live data and the goal: at most twice the live
# data plus 32 MiB per node (issue 16).
#
#   bench/kvbench/memory.sh [KEYS] [VALUE_BYTES]
#
# Live data counts each key's and value's bytes only (keys are
# "bench-NNNNNNNN", 14 bytes). The servers settle SETTLE seconds (default
# 5) after the load, so that snapshots in progress end, before the figures
# are read.
set -euo pipefail
cd "$(dirname "$0")/../.."
keys=${1:-1000000}
vsize=${2:-64}
settle=${SETTLE:-5}
. bench/kvbench/clusters.sh
start_clusters

for target in raftkv etcd; do
    eps=$rk
    [ $target = etcd ] && eps=$et
    "$bin/raftkv-bench" --target $target --insecure --endpoints "$eps" --op load \
        --inflight 256 --keys "$keys" --value-size "$vsize" --deadline-ms 30000
done
sleep "$settle"

live=$(awk -v k="$keys" -v v="$vsize" 'BEGIN { printf "%.1f", k * (14 + v) / 1048576 }')
goal=$(awk -v l="$live" 'BEGIN { printf "%.1f", 2 * l + 32 }')
echo
echo "live data: $keys keys x (14 + $vsize) bytes = $live MiB; goal per node: at most $goal MiB"
report_memory
worst=0
for i in 0 1 2; do
    kb=$(awk '$1 == "VmRSS:" { print $2 }' /proc/"${pids[$i]}"/status)
    [ "$kb" -gt "$worst" ] && worst=$kb
done
awk -v w="$worst" -v g="$goal" 'BEGIN {
    printf "largest raftkv RSS: %.1f MiB = %.2fx the goal (%s)\n", w / 1024, w / 1024 / g,
        (w / 1024 <= g) ? "within it" : "over it" }'

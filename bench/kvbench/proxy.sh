#!/usr/bin/env bash
# What the follower proxy costs (raftkv-server --proxy, docs/api.md): a
# 3-node raftkv cluster (clusters.sh: fsync on, loopback, --insecure) with
# --proxy on every node, and raftkv-bench puts sent to the leader (direct)
# or to a follower (proxied: forwarded over the peer connection to the
# leader and the answer relayed), with 1 and 16 in flight. ROUNDS rounds
# (default 3) alternate direct and proxied runs of SECONDS each (default
# 5, after a 1 s warm-up), the first of each pair switching every round;
# prints every run, the medians (of each column on its own) and the
# servers' peak RSS.
#
#   bench/kvbench/proxy.sh [SECONDS] [ROUNDS]
set -euo pipefail
cd "$(dirname "$0")/../.."
secs=${1:-5}
rounds=${2:-3}
NEED_ETCD=0
RAFTKV_SERVER_FLAGS="--proxy ${RAFTKV_SERVER_FLAGS:-}"
. bench/kvbench/clusters.sh
start_raftkv
sleep 3

run() { # run leader|follower INFLIGHT
    "$bin/raftkv-bench" --target raftkv --insecure --endpoints "$rk" \
        --op put --via "$1" --inflight "$2" --seconds "$secs" --warmup 1 \
        --keys 1000
}

median() { sort -g | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }

for inflight in 1 16; do
    for r in $(seq "$rounds"); do
        order="leader follower"
        [ $((r % 2)) = 0 ] && order="follower leader"
        for via in $order; do
            out=$(run "$via" "$inflight")
            echo "$out"
            name=direct
            [ "$via" = follower ] && name=proxied
            sed -n 's/.*: \([0-9]*\) ops\/s  p50 \([0-9.]*\) ms  p99 \([0-9.]*\) ms.*errors \([0-9]*\).*/\1 \2 \3 \4/p' \
                <<<"$out" >> "$tmp/$name.$inflight"
        done
    done
done

echo
printf '%-8s %-8s %10s %10s %10s %8s\n' inflight put 'ops/s' 'p50 ms' 'p99 ms' errors
for inflight in 1 16; do
    for name in direct proxied; do
        f=$tmp/$name.$inflight
        printf '%-8s %-8s %10s %10s %10s %8s\n' "$inflight" "$name" \
            "$(cut -d' ' -f1 "$f" | median)" "$(cut -d' ' -f2 "$f" | median)" \
            "$(cut -d' ' -f3 "$f" | median)" \
            "$(awk '{ s += $4 } END { print s }' "$f")"
    done
done
for i in 0 1 2; do
    printf 'raftkv-server %d RSS: %s, peak %s\n' $((i + 1)) \
        "$(mem_of "${pids[$i]}" VmRSS)" "$(mem_of "${pids[$i]}" VmHWM)"
done

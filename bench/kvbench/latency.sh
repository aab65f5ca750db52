#!/usr/bin/env bash
# Where one put's time goes: a 3-node raftkv cluster (clusters.sh, fsync
# on, loopback), one put in flight from raftkv-bench for SECONDS (default
# 10, after a 2 s warm-up run), and the servers' own timestamps read from
# their /metrics before and after the measured run (means of the
# histograms' increments, docs/metrics.md):
#
#   client      raftkv-bench: the call's start to its answer
#   server      the leader: the call's arrival to its answer
#   wal fsync   each node's write-ahead log fsync (one per batch)
#   peer rtt    the leader's batch calls to the followers (the follower
#               answers once its node has the messages, before its fsync)
#
# and what follows from them: the time outside the server (client, gRPC,
# loopback: client - server), the commit path with the two fsyncs
# overlapped: max(leader fsync, peer rtt + follower fsync), where the rtt
# stands for the AppendEntries' way out (about half of it) and the
# acknowledgement's way back (its own batch call, about the other half),
# and the rest of the server's time (queues, wake-ups, apply, the
# answer).
#
#   bench/kvbench/latency.sh [SECONDS] [INFLIGHT]
set -euo pipefail
cd "$(dirname "$0")/../.."
secs=${1:-10}
inflight=${2:-1}
NEED_ETCD=0
METRICS=1
. bench/kvbench/clusters.sh
start_raftkv
sleep 3

scrape() { # scrape FILE_PREFIX
    local i
    for i in 1 2 3; do
        curl -fsS "http://127.0.0.1:2711$i/metrics" > "$1.$i"
    done
}

bench() { # bench SECONDS WARMUP
    "$bin/raftkv-bench" --target raftkv --insecure --endpoints "$rk" --op put \
        --inflight "$inflight" --seconds "$1" --warmup "$2" --keys 1000
}

bench 2 0 > /dev/null
scrape "$tmp/before"
out=$(bench "$secs" 0)
scrape "$tmp/after"
echo "$out"

leader=0
for i in 1 2 3; do
    if grep -q '^raftkv_server_is_leader 1' "$tmp/after.$i"; then leader=$i; fi
done
[ $leader -gt 0 ] || { echo "latency.sh: no leader in the metrics" >&2; exit 1; }

# mean_ms NODES SERIES: the mean of a histogram's increments over NODES
# (sum of _sum / sum of _count between the two scrapes), in ms. SERIES is
# the metric name with its label set as printed, e.g. 'x{method="Put"}'.
mean_ms() {
    local nodes=$1 series=$2
    local name=${series%%\{*} labels=""
    [ "$name" != "$series" ] && labels="{${series#*\{}"
    local f
    for n in $nodes; do
        for f in before after; do
            awk -v s="${name}_sum$labels" -v c="${name}_count$labels" -v w=$f '
                $1 == s { print w, "sum", $2 } $1 == c { print w, "count", $2 }' "$tmp/$f.$n"
        done
    done | awk '
        $1 == "after" && $2 == "sum" { s += $3 } $1 == "before" && $2 == "sum" { s -= $3 }
        $1 == "after" && $2 == "count" { c += $3 } $1 == "before" && $2 == "count" { c -= $3 }
        END { if (c > 0) printf "%.3f %d\n", s / c * 1000, c; else print "n/a 0" }'
}

followers=""
for i in 1 2 3; do [ $i -ne $leader ] && followers="$followers $i"; done
client=$(sed -n 's/.*mean \([0-9.]*\) ms.*/\1/p' <<<"$out")
read -r server n_server < <(mean_ms $leader 'raftkv_server_request_duration_seconds{method="Put"}')
read -r lfsync n_lfsync < <(mean_ms $leader raftkv_disk_wal_fsync_duration_seconds)
read -r ffsync n_ffsync < <(mean_ms "$followers" raftkv_disk_wal_fsync_duration_seconds)
rtt_sum=0 rtt_n=0
for f in $followers; do
    read -r m c < <(mean_ms $leader "raftkv_network_peer_round_trip_time_seconds{to=\"$f\"}")
    [ "$m" != n/a ] && rtt_sum=$(awk -v a=$rtt_sum -v m="$m" -v c="$c" 'BEGIN { print a + m * c }') && rtt_n=$((rtt_n + c))
done
rtt=$(awk -v s=$rtt_sum -v n=$rtt_n 'BEGIN { if (n > 0) printf "%.3f", s / n; else print "n/a" }')

echo
echo "leader: node $leader; means over the measured run (count in brackets)"
printf '%-44s %9s ms\n' "client: call to answer (raftkv-bench)" "$client"
printf '%-44s %9s ms  [%s]\n' "server: arrival to answer (leader)" "$server" "$n_server"
printf '%-44s %9s ms  [%s]\n' "leader wal fsync" "$lfsync" "$n_lfsync"
printf '%-44s %9s ms  [%s]\n' "follower wal fsync" "$ffsync" "$n_ffsync"
printf '%-44s %9s ms  [%s]\n' "peer batch call round trip (leader)" "$rtt" "$rtt_n"
awk -v cl="$client" -v sv="$server" -v lf="$lfsync" -v ff="$ffsync" -v rt="$rtt" 'BEGIN {
    floor = rt + ff; if (lf > floor) floor = lf
    printf "%-44s %9.3f ms\n", "outside the server (client - server)", cl - sv
    printf "%-44s %9.3f ms\n", "commit path: max(lfsync, rtt + ffsync)", floor
    printf "%-44s %9.3f ms\n", "rest of the server (server - commit path)", sv - floor
}'

#!/usr/bin/env bash
# bench/kvbench/kill9.sh [SECONDS] [HISTORY]: a history of appends under
# kill -9, and how long the checker takes on it.
#
# Starts three raftkv-server processes on loopback (fsync on, as always;
# --snapshot-entries 300, so snapshots are taken all the time), runs
# `raftkv-bench --op append` against them for SECONDS (default 60), and
# every 1-3 s kills one server with SIGKILL - every other time the leader,
# else one at random - and restarts it on the same data directory. Then it
# runs `lincheck --timeout 60 --memory 1024` under /usr/bin/time -v on the
# history (HISTORY, default build/kill9-append.jsonl) and prints the
# verdict, wall time, peak RSS, events and size. Every server is killed on
# any exit (by PID).
#
# Knobs (environment): INFLIGHT (clients, default 8), KEYS (4), GET_PERCENT
# (30), SEED (1: the load's choices and the kill schedule), BENCH_FLAGS
# (more raftkv-bench flags, e.g. --retry-unknown), PORT (27301:
# the first of three ports), LINCHECK_TIMEOUT (60), LINCHECK_MEMORY (1024),
# KEEP (1: keep the servers' data and logs, printed at the end).
set -euo pipefail
# shellcheck disable=SC2086 # BENCH_FLAGS are words
cd "$(dirname "$0")/../.."
secs=${1:-60}
history=${2:-build/kill9-append.jsonl}
bin=build/bin
for b in raftkv-server raftkv-bench raftkv-cli lincheck; do
    [ -x "$bin/$b" ] || { echo "$0: $bin/$b missing: build first" >&2; exit 2; }
done
inflight=${INFLIGHT:-8}
keys=${KEYS:-4}
seed=${SEED:-1}
port=${PORT:-27301}
RANDOM=$seed

tmp=$(mktemp -d /tmp/raftkv-kill9-XXXXXX)
pids=(0 0 0)
bench=0
cleanup() {
    local p
    for p in "${pids[@]}" "$bench"; do
        [ "$p" -gt 0 ] && kill -9 "$p" 2>/dev/null || true
    done
    wait 2>/dev/null || true
    if [ "${KEEP:-0}" = 1 ]; then
        echo "kept $tmp"
    else
        rm -rf "$tmp"
    fi
}
trap cleanup EXIT

addr() { echo "127.0.0.1:$((port + $1 - 1))"; }
cluster="1=$(addr 1),2=$(addr 2),3=$(addr 3)"
endpoints="$(addr 1),$(addr 2),$(addr 3)"

start() {
    "$bin/raftkv-server" --id "$1" --cluster "$cluster" --data-dir "$tmp/n$1" \
        --insecure --quiet --snapshot-entries 300 2>> "$tmp/n$1.log" &
    pids[$1 - 1]=$!
}

# The id of the node that leads, or nothing.
leader() {
    "$bin/raftkv-cli" --endpoints "$endpoints" --insecure --timeout 1 status \
        2>/dev/null | awk '/^leader: node/ { print $3 }' || true
}

for i in 1 2 3; do start $i; done
mkdir -p "$(dirname "$history")"
"$bin/raftkv-bench" --target raftkv --endpoints "$endpoints" --insecure \
    --op append --history "$history" --seconds "$secs" --inflight "$inflight" \
    --keys "$keys" --get-percent "${GET_PERCENT:-30}" --deadline-ms 1000 \
    --seed "$seed" ${BENCH_FLAGS:-} > "$tmp/bench.out" &
bench=$!

kills=0
leader_kills=0
end=$((SECONDS + secs))
while [ $SECONDS -lt "$end" ] && kill -0 "$bench" 2>/dev/null; do
    ms=$((1000 + RANDOM % 2001))
    sleep "$((ms / 1000)).$(printf '%03d' $((ms % 1000)))"
    [ $SECONDS -lt "$end" ] || break
    victim=""
    if [ $((kills % 2)) = 0 ]; then
        victim=$(leader)
        [ -n "$victim" ] && leader_kills=$((leader_kills + 1))
    fi
    [ -n "$victim" ] || victim=$((1 + RANDOM % 3))
    kill -9 "${pids[$victim - 1]}" 2>/dev/null || true
    wait "${pids[$victim - 1]}" 2>/dev/null || true
    kills=$((kills + 1))
    # Down for 0-0.5 s, then back on the same data directory.
    sleep "0.$(printf '%03d' $((RANDOM % 500)))"
    start "$victim"
done
wait "$bench" || { echo "$0: raftkv-bench failed:" >&2; cat "$tmp/bench.out" >&2; exit 1; }
bench=0
cat "$tmp/bench.out"
echo "kills: $kills ($leader_kills of the leader)"
for i in 1 2 3; do
    kill -9 "${pids[$i - 1]}" 2>/dev/null || true
    wait "${pids[$i - 1]}" 2>/dev/null || true
    pids[$i - 1]=0
done

events=$(wc -l < "$history")
bytes=$(stat -c %s "$history")
set +e
/usr/bin/time -v "$bin/lincheck" --timeout "${LINCHECK_TIMEOUT:-60}" \
    --memory "${LINCHECK_MEMORY:-1024}" "$history" > "$tmp/lincheck.out" 2> "$tmp/time.out"
rc=$?
set -e
head -c 2000 "$tmp/lincheck.out"
wall=$(awk -F': ' '/Elapsed \(wall clock\)/ { print $2 }' "$tmp/time.out")
rss=$(awk -F': ' '/Maximum resident set size/ { printf "%.1f MiB", $2 / 1024 }' "$tmp/time.out")
awk -v h="$history" -v e="$events" -v b="$bytes" 'BEGIN { printf "history %s: %d events, %.1f MB\n", h, e, b / 1e6 }'
printf 'lincheck exit %d, wall %s, peak RSS %s\n' "$rc" "$wall" "$rss"
exit "$rc"

# Sourced by compare.sh and memory.sh: starts a 3-node raftkv cluster
# (raftkv-server, fsync on) and a 3-member etcd cluster (Debian's
# etcd-server, fsync on) on loopback, without TLS on either side (etcd's
# plaintext URLs, raftkv's --insecure), like for like. Data lives in a
# temporary directory that is removed on exit; both clusters are stopped
# on any exit.
#
# After start_clusters: $rk and $et are the client endpoint lists, $bin the
# binaries' directory, pids[0..2] the raftkv servers, pids[3..5] the etcd
# members. Extra raftkv-server flags: RAFTKV_SERVER_FLAGS; another
# raftkv-server binary (an A/B against an older build): RAFTKV_SERVER.
bin=build/bin
server=${RAFTKV_SERVER:-$bin/raftkv-server}
for b in raftkv-server raftkv-bench; do
    [ -x "$bin/$b" ] || { echo "$0: $bin/$b missing: build first" >&2; exit 2; }
done
[ "${NEED_ETCD:-1}" = 0 ] || command -v etcd >/dev/null || { echo "$0: etcd missing (apt-get install etcd-server)" >&2; exit 2; }

tmp=$(mktemp -d /tmp/raftkv-compare-XXXXXX)
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$tmp"
}
trap cleanup EXIT

rk=127.0.0.1:27101,127.0.0.1:27102,127.0.0.1:27103
et=127.0.0.1:27191,127.0.0.1:27192,127.0.0.1:27193

# The raftkv servers; with METRICS=1 node i serves /metrics on
# 127.0.0.1:2711i.
start_raftkv() {
    local rk_cluster=1=127.0.0.1:27101,2=127.0.0.1:27102,3=127.0.0.1:27103
    local i
    for i in 1 2 3; do
        local extra=()
        [ "${METRICS:-0}" = 1 ] && extra=(--metrics-addr 127.0.0.1:2711$i)
        # shellcheck disable=SC2086 # the flags are words
        "$server" --id $i --cluster $rk_cluster --data-dir "$tmp/rk$i" \
            --insecure "${extra[@]}" ${RAFTKV_SERVER_FLAGS:-} 2> "$tmp/rk$i.log" &
        pids+=($!)
    done
}

start_etcd() {
    local i
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
}

start_clusters() {
    start_raftkv
    start_etcd
    sleep 3
}

# One process's memory from /proc: "FIELD" is VmRSS (now) or VmHWM (peak).
mem_of() {
    awk -v f="$2:" '$1 == f { printf "%.1f MiB", $2 / 1024 }' /proc/"$1"/status 2>/dev/null || echo '?'
}

# Every server's memory now and at its peak, one line each.
report_memory() {
    local i
    for i in 0 1 2; do
        printf 'raftkv-server %d RSS: %s, peak %s\n' $((i + 1)) \
            "$(mem_of "${pids[$i]}" VmRSS)" "$(mem_of "${pids[$i]}" VmHWM)"
    done
    for i in 3 4 5; do
        printf 'etcd member %d RSS: %s, peak %s\n' $((i - 2)) \
            "$(mem_of "${pids[$i]}" VmRSS)" "$(mem_of "${pids[$i]}" VmHWM)"
    done
}

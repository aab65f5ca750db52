#!/usr/bin/env bash
# Installs every Debian package raft-kv needs to build, test and benchmark
# (etcd-server: the etcd cluster bench/kvbench/compare.sh measures against;
# clang and libclang-rt-14-dev, which holds libFuzzer and the sanitizer
# runtimes and which clang only recommends: scripts/fuzz.sh; libmicrohttpd
# for the servers' metrics endpoint; prometheus and promtool, which scrape
# and check it in the tests; libjs-chart.js, the chart library embedded in
# the run report, and chromium, which loads the report in the tests; xz,
# which unpacks the kept kill -9 history of bench/checker/kill9-data.sh).
# Run as root, or as a user with sudo. Does nothing when all are present.
set -euo pipefail

packages=(
    build-essential cmake ninja-build pkg-config git
    libprotobuf-c-dev protobuf-c-compiler
    libyaml-dev libjansson-dev libxxhash-dev
    libcmocka-dev
    patch xz-utils
    clang-format
    clang libclang-rt-14-dev
    libgrpc-dev libssl-dev openssl
    python3-grpcio python3-protobuf protobuf-compiler
    docker-compose
    etcd-server
    libmicrohttpd-dev prometheus
    libjs-chart.js chromium fonts-dejavu-core
)

missing=()
for p in "${packages[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed'; then
        missing+=("$p")
    fi
done
if [ ${#missing[@]} -eq 0 ]; then
    exit 0
fi

echo "setup: installing ${missing[*]}" >&2
sudo=()
if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1; then
        sudo=(sudo)
    else
        echo "setup: need root (or sudo) to install: ${missing[*]}" >&2
        exit 1
    fi
fi
export DEBIAN_FRONTEND=noninteractive
"${sudo[@]}" apt-get update -qq
"${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"

#!/usr/bin/env bash
# Configures and builds raft-kv. Usage: scripts/build.sh [BUILD_DIR] [cmake -D...]
# Warnings are errors here, as in CI.
set -euo pipefail
cd "$(dirname "$0")/.."
dir=${1:-build}
shift || true
generator=()
if command -v ninja >/dev/null 2>&1; then
    generator=(-G Ninja)
fi
if [ ! -f "$dir/CMakeCache.txt" ]; then
    cmake -S . -B "$dir" "${generator[@]}" -DRAFTKV_WERROR=ON "$@"
else
    cmake -S . -B "$dir" -DRAFTKV_WERROR=ON "$@" >/dev/null
fi
cmake --build "$dir" -j "$(nproc)"

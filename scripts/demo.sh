#!/usr/bin/env bash
# Installs what is missing, builds, and runs the main job: the partition
# scenario against an in-process 5-node cluster. Extra arguments go to the
# harness (for example --seed 7 --out out/).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
scripts/build.sh build
exec build/bin/harness scenarios/partition.yaml "$@"

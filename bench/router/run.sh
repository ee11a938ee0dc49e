#!/usr/bin/env bash
# bench/router: Berth's router against haproxy and nginx (bench/README.md,
# section "Router"). Needs haproxy, nginx and wrk (bench/router/setup.sh) and
# a Release build of Berth:
#   cmake -S . -B build-release -DCMAKE_BUILD_TYPE=Release && make -C build-release
#   bench/router/run.sh [--duration S] [--rounds N] [--connections N] [--no-unpinned] [--no-stream] [--json FILE] [--perf DIR]
# BERTH_BUILD_DIR picks another build dir. Not run by CI: it is a benchmark.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
src="$(cd "$here/../.." && pwd)"
export BERTH_BUILD_DIR="${BERTH_BUILD_DIR:-$src/build-release}"
if [ ! -x "$BERTH_BUILD_DIR/berthd" ]; then
  echo "bench/router: no berthd in $BERTH_BUILD_DIR; build it first:" >&2
  echo "  cmake -S . -B build-release -DCMAKE_BUILD_TYPE=Release && make -C build-release" >&2
  exit 2
fi
if [ ! -d "$src/tests/node_modules/@aws-sdk/client-sagemaker-runtime" ]; then
  echo "bench/router: tests/node_modules is missing: run SETUP_TESTS=1 scripts/setup.sh (npm ci in tests/)" >&2
  exit 2
fi
exec node "$here/run.mjs" "$@"

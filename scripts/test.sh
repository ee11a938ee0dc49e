#!/usr/bin/env bash
# Runs every test: unit, fuzz-corpus replay, integration (real berthd and
# model processes) and AWS SDK compatibility, first on the normal build with
# the embedded SQLite store, then all again under ASan+UBSan with every
# berthd keeping its state in PostgreSQL (--store postgresql://, a server
# this script starts in a temp dir; not the forecast test, which waits
# through a 10-minute season: its decisions run under ASan in
# unit/test_forecast).
#   scripts/test.sh            everything
#   scripts/test.sh --quick    skip the sanitizer build
set -euo pipefail
cd "$(dirname "$0")/.."
jobs="$(nproc)"

SETUP_TESTS=1 scripts/setup.sh
echo "== tests (build/)"
ctest --test-dir build --output-on-failure -j"$jobs" --timeout 900

if [ "${1:-}" != "--quick" ]; then
  echo "== tests under ASan+UBSan (build-asan/)"
  SETUP_TESTS=1 BUILD_DIR=build-asan BUILD_TYPE=Debug \
    CMAKE_FLAGS="-DBERTH_SANITIZE=ON -DBERTH_WERROR=ON" scripts/setup.sh
  pg="$(mktemp -d /tmp/berth-test-pg.XXXXXX)"
  trap 'node tests/lib/postgres.mjs stop "$pg"' EXIT
  echo "== PostgreSQL for the store: $(node tests/lib/postgres.mjs start "$pg")"
  BERTH_TEST_PG_DIR="$pg" \
  ASAN_OPTIONS=detect_leaks=1:abort_on_error=0 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
    ctest --test-dir build-asan --output-on-failure -j"$jobs" --timeout 900 \
      -E '^integration/forecast$'
fi

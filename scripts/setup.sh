#!/usr/bin/env bash
# Installs what Berth needs on Debian 12 (idempotent) and builds it into
# build/; with SETUP_TESTS=1 also what only the tests need (Node.js, tmux,
# chromium for the console test, debootstrap and dpkg-dev for the .deb test,
# the pinned npm packages).
#   scripts/setup.sh            build (RelWithDebInfo) into build/
#   SETUP_TESTS=1 BUILD_DIR=build-asan CMAKE_FLAGS=-DBERTH_SANITIZE=ON scripts/setup.sh
set -euo pipefail
cd "$(dirname "$0")/.."

pkgs="build-essential cmake pkg-config libuv1-dev libjansson-dev libsqlite3-dev libssl-dev
      libcurl4-openssl-dev libarchive-dev libpq-dev tar gzip curl iproute2 clang openssl
      podman runc tzdata"
tests="${SETUP_TESTS:-}"
if [ -n "$tests" ]; then
  pkgs="$pkgs tmux chromium postgresql postgresql-client debootstrap dpkg-dev"
  command -v node >/dev/null 2>&1 || pkgs="$pkgs nodejs"
  command -v npm >/dev/null 2>&1 || pkgs="$pkgs npm"
fi
missing=""
for p in $pkgs; do
  dpkg -s "$p" >/dev/null 2>&1 || missing="$missing $p"
done
if [ -n "$missing" ]; then
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  echo "setup: installing Debian packages:$missing"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq $missing >/dev/null
fi

build_dir="${BUILD_DIR:-build}"
# shellcheck disable=SC2086
cmake -S . -B "$build_dir" -DCMAKE_BUILD_TYPE="${BUILD_TYPE:-RelWithDebInfo}" ${CMAKE_FLAGS:-} >/dev/null
cmake --build "$build_dir" -j"$(nproc)"

if [ -n "$tests" ] && { [ ! -d tests/node_modules ] ||
                       [ tests/package-lock.json -nt tests/node_modules/.package-lock.json ]; }; then
  echo "setup: installing npm test packages (npm ci)"
  npm ci --prefix tests --no-audit --no-fund --loglevel=error
fi

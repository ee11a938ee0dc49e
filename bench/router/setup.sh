#!/usr/bin/env bash
# Installs what bench/router needs and the test run does not: the two peer
# proxies and the load generator, from Debian. Kept out of scripts/setup.sh
# on purpose (CI never runs this benchmark). Run as root.
set -euo pipefail

apt-get update
DEBIAN_FRONTEND=noninteractive apt-get install -y haproxy nginx-light wrk

# Debian's packages enable system services; the benchmark starts its own
# instances on free loopback ports and needs none running.
for svc in haproxy nginx; do
  if command -v systemctl >/dev/null 2>&1 && systemctl is-active --quiet "$svc" 2>/dev/null; then
    systemctl stop "$svc" || true
  fi
done

haproxy -v | head -1
nginx -v
wrk -v 2>&1 | head -1 || true

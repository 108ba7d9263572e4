#!/usr/bin/env bash
# Finds redis-server, installing Debian's package when it is missing and we are root.
set -euo pipefail
if command -v redis-server >/dev/null; then exit 0; fi
if [[ $(id -u) -eq 0 ]] && command -v apt-get >/dev/null; then
  echo "[redis] installing redis-server from the Debian archive" >&2
  apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server >&2
  exit 0
fi
echo "redis-server is required: install it (Debian/Ubuntu: sudo apt-get install redis-server; macOS: brew install redis) and run make again" >&2
exit 1

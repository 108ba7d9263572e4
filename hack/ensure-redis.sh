#!/usr/bin/env bash
# Finds redis-server and redis-sentinel (the tests run a Sentinel failover), installing
# Debian's packages when one is missing and we are root.
set -euo pipefail
missing=()
command -v redis-server >/dev/null || missing+=(redis-server)
command -v redis-sentinel >/dev/null || missing+=(redis-sentinel)
if [[ ${#missing[@]} -eq 0 ]]; then exit 0; fi
if [[ $(id -u) -eq 0 ]] && command -v apt-get >/dev/null; then
  echo "[redis] installing ${missing[*]} from the Debian archive" >&2
  apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >&2
  exit 0
fi
echo "crawlfleet needs ${missing[*]}: install (Debian/Ubuntu: sudo apt-get install ${missing[*]}; macOS: brew install redis) and run make again" >&2
exit 1

#!/usr/bin/env bash
# Usage: ensure-packages.sh COMMAND:PACKAGE...
# Installs each Debian PACKAGE whose COMMAND is missing (as root, with apt-get);
# elsewhere it names what to install and fails.
set -euo pipefail
missing=()
for pair in "$@"; do
  command -v "${pair%%:*}" >/dev/null || missing+=("${pair#*:}")
done
[[ ${#missing[@]} -eq 0 ]] && exit 0
if [[ $(id -u) -eq 0 ]] && command -v apt-get >/dev/null; then
  echo "[packages] installing ${missing[*]} from the Debian archive" >&2
  apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >&2
  exit 0
fi
echo "missing: ${missing[*]}; install them (Debian/Ubuntu: sudo apt-get install ${missing[*]}) and run make again" >&2
exit 1

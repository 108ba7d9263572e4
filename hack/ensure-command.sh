#!/usr/bin/env bash
# Usage: ensure-command.sh COMMAND PACKAGE
# Finds COMMAND, installing the Debian PACKAGE that holds it when it is missing and we are root.
set -euo pipefail
command=$1 package=$2
if command -v "$command" >/dev/null; then exit 0; fi
if [[ $(id -u) -eq 0 ]] && command -v apt-get >/dev/null; then
  echo "[$command] installing $package from the Debian archive" >&2
  apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$package" >&2
  exit 0
fi
echo "$command is required: install it (Debian/Ubuntu: sudo apt-get install $package; macOS: brew install $package) and run make again" >&2
exit 1

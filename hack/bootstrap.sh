#!/usr/bin/env bash
# Creates .venv and installs the project with its development tools; a stamp of
# pyproject.toml skips the install when nothing changed.
set -euo pipefail
python=${PYTHON:-python3}
"$python" -c 'import sys; sys.exit(sys.version_info < (3, 11))' || { echo "Python 3.11 or newer is required" >&2; exit 1; }
[[ -x .venv/bin/python ]] || "$python" -m venv .venv
stamp=.venv/.crawlfleet-installed
digest=$(sha256sum pyproject.toml | cut -d' ' -f1)
if [[ ! -f $stamp || $(cat "$stamp") != "$digest" ]]; then
  echo "[bootstrap] installing crawlfleet and its tools into .venv" >&2
  .venv/bin/python -m pip install -q --upgrade pip setuptools wheel
  .venv/bin/python -m pip install -q -e '.[dev]'
  echo "$digest" > "$stamp"
fi

#!/usr/bin/env bash
# Create .venv (Python >= 3.11) and install seiflow with its test extras. Safe to rerun: it only
# reinstalls when pyproject.toml or this script changed.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
"$PY" -c 'import sys; sys.exit(sys.version_info < (3, 11))' || {
  echo "seiflow needs Python >= 3.11 (found $("$PY" --version)); set PYTHON=/path/to/python3.11" >&2
  exit 1
}
[ -x .venv/bin/python ] || "$PY" -m venv .venv
stamp=.venv/.seiflow-installed
want=$(cat pyproject.toml scripts/setup.sh | sha256sum | cut -c1-16)
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  echo "seiflow: installing into .venv (first run takes a few minutes)" >&2
  log=.venv/install.log
  if ! { .venv/bin/python -m pip install --upgrade pip &&
         .venv/bin/python -m pip install -e ".[test]"; } >"$log" 2>&1; then
    tail -n 30 "$log" >&2
    echo "seiflow: installation failed; full log in $log" >&2
    exit 1
  fi
  echo "$want" >"$stamp"
fi

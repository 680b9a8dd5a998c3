#!/usr/bin/env bash
# Create .venv (Python >= 3.11) and install seiflow with GPAW, CP2K and the test tools.
# Safe to rerun: it only reinstalls when pyproject.toml or the set-up files changed.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
"$PY" -c 'import sys; sys.exit(sys.version_info < (3, 11))' || {
  echo "seiflow needs Python >= 3.11 (found $("$PY" --version)); set PYTHON=/path/to/python3.11" >&2
  exit 1
}

# System libraries for GPAW (libxc, OpenBLAS), the CP2K binary with its basis sets, and a
# PostgreSQL server (the tests run the label store on one).
SYSTEM_PACKAGES="libxc-dev libopenblas-dev cp2k cp2k-data postgresql"
missing=""
if command -v dpkg >/dev/null 2>&1; then
  for p in $SYSTEM_PACKAGES; do dpkg -s "$p" >/dev/null 2>&1 || missing="$missing $p"; done
fi
if [ -n "$missing" ]; then
  sudo=""; [ "$(id -u)" = 0 ] || sudo="sudo"
  echo "seiflow: installing system packages:$missing" >&2
  $sudo apt-get update -qq >/dev/null
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq $missing >/dev/null
fi

[ -x .venv/bin/python ] || "$PY" -m venv .venv
stamp=.venv/.seiflow-installed
# the compiled MTP kernel is built by the editable install: its sources are part of the stamp,
# and a missing build (fresh clone of an existing .venv) forces the install too
want=$(cat pyproject.toml setup.py scripts/setup.sh scripts/gpaw-siteconfig.py \
  seiflow/potentials/mtp/_mtpkernel.c seiflow/potentials/mtp/_mtp*.h | sha256sum | cut -c1-16)
ls seiflow/potentials/mtp/_mtpkernel.*.so >/dev/null 2>&1 || want="$want-nokernel"
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  echo "seiflow: installing into .venv (first run takes a few minutes)" >&2
  log=.venv/install.log
  export GPAW_CONFIG="$PWD/scripts/gpaw-siteconfig.py" CC=g++
  if ! { .venv/bin/python -m pip install --upgrade pip &&
         .venv/bin/python -m pip install -e ".[test,dft]"; } >"$log" 2>&1; then
    tail -n 30 "$log" >&2
    echo "seiflow: installation failed; full log in $log" >&2
    exit 1
  fi
  # the kernel is optional for pip (seiflow falls back to motep's engine); here it must build
  ls seiflow/potentials/mtp/_mtpkernel.*.so >/dev/null 2>&1 || {
    grep -i -B2 -A20 "_mtpkernel" "$log" | tail -n 30 >&2
    echo "seiflow: the compiled MTP kernel did not build (gcc needed); log in $log" >&2
    exit 1
  }
  echo "${want%-nokernel}" >"$stamp"
fi

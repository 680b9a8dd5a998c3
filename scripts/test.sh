#!/usr/bin/env bash
# Set up .venv, then run the whole test suite (two workers, one thread each).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export OMP_NUM_THREADS=1
.venv/bin/python -m pytest -n 2 "$@"

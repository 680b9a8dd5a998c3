#!/usr/bin/env bash
# The main job: set up .venv, then run the active-learning demo (examples/demo.yaml) into runs/demo.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-2}
.venv/bin/seiflow learn examples/demo.yaml "$@"

#!/usr/bin/env bash
# The main job: set up .venv, then learn an MTP for LiF by active learning against the SevenNet-0
# teacher (examples/demo.yaml) and validate it against the teacher (examples/demo-validate.yaml),
# all into runs/demo (report.md, evaluation/, validate/table.md).
#   bash scripts/demo.sh [--run-dir DIR] [--no-progress]
# DEMO_CONFIG / DEMO_VALIDATE choose other configs (the test suite runs a smaller pair).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-2}
learn=${DEMO_CONFIG:-examples/demo.yaml}
check=${DEMO_VALIDATE:-examples/demo-validate.yaml}
run=runs/demo
progress=--progress
while [ $# -gt 0 ]; do
  case "$1" in
    --run-dir) run=$2; shift 2 ;;
    --no-progress) progress=--no-progress; shift ;;
    *) echo "usage: bash scripts/demo.sh [--run-dir DIR] [--no-progress]" >&2; exit 2 ;;
  esac
done
.venv/bin/seiflow learn "$learn" --run-dir "$run" "$progress"
.venv/bin/seiflow validate "$run" --config "$check" --out "$run/validate" "$progress"
echo "seiflow demo: $run/report.md (learning, held-out errors) and $run/validate/table.md"

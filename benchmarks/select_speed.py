"""The loop's select stage: MaxVol by passes over the neighbourhoods graded above 1
(seiflow.potentials.active.select_add) against plain MaxVol over every candidate neighbourhood
(motep's ``_maxvol`` on all rows), on the candidates of one iteration of a `seiflow learn` run.

Prints and records, in one run on the same rows: wall time of each, frames each selects, the
log-volume of the grown active set and the largest grade of any candidate row against it (both
must be <= 1 + 1e-3, MaxVol's stopping rule). The row computation (the model's basis values of
every candidate atom) is timed separately: both methods need it.

Run:  OMP_NUM_THREADS=1 .venv/bin/python benchmarks/select_speed.py RUN_DIR [--iteration 0]
      [--stride 4]   (every 4th candidate frame: plain MaxVol on all ~10⁶ rows takes minutes)
Writes benchmarks/results/select_speed.json.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
from motep.grade.maxvol import _maxvol

sys.path.insert(0, str(Path(__file__).resolve().parent))
from machine import describe  # noqa: E402

from seiflow.active.explore import read_candidates  # noqa: E402
from seiflow.potentials.active import _MAXVOL_THRESHOLD, grow_active_rows  # noqa: E402
from seiflow.potentials.backends import load_potential  # noqa: E402

OUT = Path(__file__).resolve().parent / "results" / "select_speed.json"


def _summary(basis: np.ndarray, rows: np.ndarray, picked, owner, seconds: float) -> dict:
    return {"wall_s": round(seconds, 2), "frames_selected": len({int(owner[i]) for i in picked
                                                                  if i >= 0}),
            "log_volume": round(float(np.linalg.slogdet(basis)[1]), 3),
            "max_grade_after": round(float(np.max(np.abs(rows @ np.linalg.inv(basis)))), 5)}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("run_dir", type=Path)
    ap.add_argument("--iteration", type=int, default=0)
    ap.add_argument("--stride", type=int, default=1, help="every n-th candidate frame")
    args = ap.parse_args()
    it = args.run_dir / f"iter-{args.iteration:02d}"
    model = load_potential(it / "model")
    active = model.active_set
    frames = [a for d in sorted((it / "explore").iterdir()) for a in read_candidates(d)]
    frames = frames[::args.stride]
    t0 = time.perf_counter()
    blocks = [model.rows(a) for a in frames]
    t_rows = time.perf_counter() - t0
    rows = np.vstack(blocks) / active.scale
    owner = np.concatenate([np.full(len(b), k) for k, b in enumerate(blocks)])
    m = active.rows.shape[0]

    t0 = time.perf_counter()
    grades = np.max(np.abs(rows @ active.inverse), axis=1)
    basis, picked = grow_active_rows(active, rows, grades)
    passes = _summary(basis, rows, picked, owner, time.perf_counter() - t0)

    t0 = time.perf_counter()
    full = _maxvol(np.vstack([active.rows, rows]), np.arange(m), threshold=_MAXVOL_THRESHOLD,
                   maxiter=100 * m)
    plain = _summary(full.submatrix, rows, full.indices - m, owner, time.perf_counter() - t0)

    result = {"machine": describe(), "run": str(args.run_dir), "iteration": args.iteration,
              "level": getattr(model, "level", None), "candidate_frames": len(frames),
              "stride": args.stride, "rows": int(rows.shape[0]), "columns": m,
              "rows_wall_s": round(t_rows, 2), "start_log_volume": round(float(
                  np.linalg.slogdet(active.rows)[1]), 3), "passes": passes, "plain_maxvol": plain,
              "speedup": round(plain["wall_s"] / max(passes["wall_s"], 1e-9), 2)}
    OUT.parent.mkdir(exist_ok=True)
    OUT.write_text(json.dumps(result, indent=1))
    print(json.dumps({k: v for k, v in result.items() if k != "machine"}, indent=1))


if __name__ == "__main__":
    main()

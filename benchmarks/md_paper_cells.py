"""ns/day of `seiflow md` with a level-16 MTP (compiled kernel, one thread) on cells of the
reference paper's sizes (Li et al., Mater. Horiz. 2025): Li2CO3 1,440 atoms (3×5×4 C2/c cells)
and Li2EDC 1,152 atoms (3×3×8 cells of seiflow's ordered Li2EDC model; the paper's is amorphous,
the cost per atom depends on the neighbour count, which is similar at the same density).

NVT (Nosé–Hoover chain) at 300 K, 0.5 fs (the paper's step), frames every 100 steps, plain and
graded every step (the active-learning exploration). The models have random coefficients with
the moment coefficients set to zero: the kernel does all its work (cost does not depend on the
values) while the atoms move ballistically at thermal speed.

Run:  OMP_NUM_THREADS=1 .venv/bin/python benchmarks/md_paper_cells.py [--steps 200]
Writes benchmarks/results/md_paper_cells.json.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from machine import describe  # noqa: E402
from mtp_speed import forceless_model_for  # noqa: E402

from seiflow.md import GammaWatch, MDSettings, run_md  # noqa: E402
from seiflow.structures.library import get_phase  # noqa: E402

OUT = Path(__file__).resolve().parent / "results" / "md_paper_cells.json"
CELLS = {"Li2CO3 1440": ("li2co3-c2c", (3, 5, 4)), "Li2EDC 1152": ("li2edc-cell", (3, 3, 8))}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--steps", type=int, default=200)
    ap.add_argument("--level", type=int, default=16)
    args = ap.parse_args()
    load_before = os.getloadavg()
    rng = np.random.default_rng(0)
    rows = []
    for name, (phase, reps) in CELLS.items():
        atoms = get_phase(phase).repeat(reps)
        model = forceless_model_for(atoms, args.level, rng)
        warm = atoms.copy()
        warm.calc = model.calculator()
        warm.get_forces()  # imports, contraction plan, first neighbour list: not timed
        for graded in (False, True):
            settings = MDSettings(steps=args.steps, temperature_K=300.0, timestep_fs=0.5,
                                  ensemble="nvt", traj_stride=100, checkpoint_every=args.steps)
            with tempfile.TemporaryDirectory() as out:
                c0 = time.process_time()
                res = run_md(atoms, model.calculator(grade=graded), settings, out,
                             observers=[(GammaWatch(), 1)] if graded else None, progress=False)
                cpu = time.process_time() - c0
            row = {"system": name, "atoms": len(atoms), "level": args.level, "graded": graded,
                   "steps": args.steps, "wall_s": round(res.wall_s, 2),
                   "ns_per_day_wall": round(res.ns_per_day, 4),
                   "ns_per_day_cpu": round(args.steps * 0.5e-6 * 86400 / cpu, 4),
                   "cpu_us_per_atom_step": round(1e6 * cpu / (args.steps * len(atoms)), 2)}
            rows.append(row)
            print(json.dumps(row), flush=True)
    machine = describe()
    machine["loadavg_before_after"] = [load_before, os.getloadavg()]
    OUT.write_text(json.dumps({"machine": machine, "rows": rows}, indent=1) + "\n")
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()

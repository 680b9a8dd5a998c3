"""MTP evaluation speed: µs per atom-step (energy + forces + stress, MD-like: small moves, the
neighbour list reused within its skin) for bcc Li and Li2CO3 at ~1,000 and ~10,000 atoms, levels
10/16/22, one core, with and without the per-step extrapolation grade.

Speed does not depend on the coefficient values, so the models have random coefficients.
Run:  OMP_NUM_THREADS=1 .venv/bin/python benchmarks/mtp_speed.py
Writes benchmarks/results/mtp_speed.json.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import numpy as np
from ase.build import bulk

sys.path.insert(0, str(Path(__file__).resolve().parent))
from machine import describe  # noqa: E402

from seiflow.potentials.active import ActiveSet  # noqa: E402
from seiflow.potentials.mtp.levels import mtp_basis  # noqa: E402
from seiflow.potentials.mtp.model import MTPModel, new_mtp_data  # noqa: E402
from seiflow.structures.library import get_phase  # noqa: E402

OUT = Path(__file__).resolve().parent / "results" / "mtp_speed.json"


def systems() -> dict:
    li = bulk("Li", "bcc", 3.44, cubic=True)
    carb = get_phase("li2co3-c2c")
    return {"Li bcc 1024": li.repeat(8), "Li bcc 10404": li.repeat((17, 17, 18)),
            "Li2CO3 1152": carb.repeat((3, 4, 4)), "Li2CO3 9408": carb.repeat((7, 7, 8))}


def model_for(atoms, level: int, rng) -> MTPModel:
    species = tuple(sorted(set(atoms.get_chemical_symbols()),
                           key=lambda s: atoms.numbers[atoms.get_chemical_symbols().index(s)]))
    data = new_mtp_data(mtp_basis(level), species, 5.0, 0.9, 8, rng)
    model = MTPModel(data=data, species=species, level=level)
    m = data.alpha_scalar_moments + len(species)
    model.active_set = ActiveSet.from_matrix(rng.normal(size=(4 * m, m)))
    return model


def time_steps(model: MTPModel, atoms, grade: bool, steps: int) -> float:
    work = atoms.copy()
    work.calc = model.calculator(grade=grade)
    work.get_forces()  # neighbour list, arrays
    rng = np.random.default_rng(0)
    t0 = time.perf_counter()
    for _ in range(steps):
        work.positions += rng.normal(scale=0.002, size=work.positions.shape)
        work.get_forces()
        work.get_stress()
    return (time.perf_counter() - t0) / steps / len(work) * 1e6


def main() -> None:
    rng = np.random.default_rng(0)
    rows = []
    for name, atoms in systems().items():
        for level in (10, 16, 22):
            model = model_for(atoms, level, rng)
            steps = 20 if len(atoms) < 5000 else 4
            plain = time_steps(model, atoms, False, steps)
            graded = time_steps(model, atoms, True, steps)
            rows.append({"system": name, "atoms": len(atoms), "level": level,
                         "us_per_atom_step": round(plain, 2),
                         "us_per_atom_step_graded": round(graded, 2)})
            print(f"{name:14s} level {level:2d}: {plain:7.1f} µs/atom-step, "
                  f"{graded:7.1f} with grade", flush=True)
    OUT.parent.mkdir(exist_ok=True)
    OUT.write_text(json.dumps({"machine": describe(), "threads": 1, "rows": rows}, indent=1))


if __name__ == "__main__":
    main()

"""Time of one train-mode pass of the MTP fit (loss, JᵀJ, Jᵀr over all training structures) with
seiflow's compiled kernel against motep's C engine, in one run on one machine; optionally a
variable-projection fit with each engine for the same wall time.

Data: mlearn Li training.json (and test.json for the fits), as benchmarks/mtp_fit_speed.py.

Run:  OMP_NUM_THREADS=1 .venv/bin/python benchmarks/mtp_train_pass.py [--levels 10 16]
      [--repeats 3] [--fit-level 16 --fit-budget 300 --workers 2]
Adds the key ``train_pass_kernel_vs_motep`` (and ``varpro_engines_level<L>`` with fits) to
benchmarks/results/mtp_fit_speed.json, keeping its other keys.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from machine import describe  # noqa: E402
from mtp_mlearn_li import DATA, load  # noqa: E402

from seiflow.potentials.metrics import error_table, predict  # noqa: E402
from seiflow.potentials.mtp.fit import _start_data, fit_mtp, shortest_distance  # noqa: E402
from seiflow.potentials.mtp.model import MTPModel  # noqa: E402
from seiflow.potentials.mtp.problem import ALL, Problem, make_targets  # noqa: E402

OUT = Path(__file__).resolve().parent / "results" / "mtp_fit_speed.json"
WEIGHTS = (1.0, 0.01, 0.001)  # fit_mtp's defaults
ENGINES = ("kernel", "motep")


def pass_times(train: list, level: int, repeats: int) -> dict:
    """Seconds per train pass (best and median of ``repeats`` after one warm-up pass) with each
    engine at fit_mtp's random start, and how far apart the two engines' blocks are."""
    data, _ = _start_data(None, ("Li",), level, 5.0, None, 8, shortest_distance(train, 5.0), 0)
    data.optimized = list(ALL)
    model, theta = MTPModel(data=data, species=("Li",), level=level), data.parameters.copy()
    targets = make_targets(train, WEIGHTS)
    out, blocks = {"parameters": len(theta)}, {}
    for engine in ENGINES:
        with Problem(model, targets, workers=1, engine=engine) as problem:
            blocks[engine] = problem.blocks(theta)  # warm-up: neighbour lists, engines
            times = []
            for _ in range(repeats):
                t0 = time.perf_counter()
                problem.blocks(theta)
                times.append(time.perf_counter() - t0)
        out[f"{engine}_s"] = {"best": min(times), "median": float(np.median(times))}
        print(f"level {level} {engine}: {min(times):.3f} s per train pass (best of {repeats})",
              flush=True)
    out["speedup_motep_over_kernel"] = out["motep_s"]["best"] / out["kernel_s"]["best"]
    out["max_relative_difference"] = max(
        float(np.abs(a - b).max() / max(np.abs(b).max(), 1e-300))
        for a, b in zip(blocks["kernel"]._parts(), blocks["motep"]._parts()))
    print(f"level {level}: kernel {out['speedup_motep_over_kernel']:.1f}x faster, blocks agree "
          f"to {out['max_relative_difference']:.1e}", flush=True)
    return out


def fits(train: list, test: list, level: int, budget: float, workers: int) -> dict:
    """A varpro fit of ``budget`` s with each engine (same start), with its test errors."""
    runs = {}
    for engine in ENGINES:
        os.environ["SEIFLOW_MTP_ENGINE"] = engine  # the fit's workers inherit it
        model = fit_mtp(train, level=level, optimizer="varpro", max_iter=100_000, tol=0,
                        max_time=budget, workers=workers, seed=0, progress=False)
        t = model.record["training"]
        err = error_table(predict(model, test))["all"]
        runs[engine] = {"passes": sum(t["passes"]), "steps": len(t["loss"]),
                        "final_loss": t["loss"][-1], "stop": t["stop"],
                        "test_energy_rmse_meV_per_atom": err["energy"]["rmse"],
                        "test_forces_rmse_eV_per_A": err["forces"]["rmse"],
                        "test_stress_rmse_GPa": err["stress"]["rmse"]}
        print(f"varpro L{level} {budget:.0f} s, {engine}: {runs[engine]}", flush=True)
    os.environ.pop("SEIFLOW_MTP_ENGINE")
    return {"budget_s": budget, "workers": workers, "runs": runs}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--levels", type=int, nargs="+", default=[10, 16])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--fit-level", type=int, default=16)
    ap.add_argument("--fit-budget", type=float, default=0.0, help="s per fit; 0: no fits")
    ap.add_argument("--workers", type=int, default=2)
    args = ap.parse_args()
    machine = describe()
    print(json.dumps(machine), flush=True)
    train = load(DATA, "training")
    results = json.loads(OUT.read_text()) if OUT.exists() else {}
    entry = {"machine": machine, "data": {"name": "mlearn-li", "train_structures": len(train),
                                          "train_atoms": sum(len(a) for a in train)},
             "levels": {str(L): pass_times(train, L, args.repeats) for L in args.levels}}
    results["train_pass_kernel_vs_motep"] = entry
    OUT.write_text(json.dumps(results, indent=1))
    if args.fit_budget > 0:
        test = load(DATA, "test")
        results[f"varpro_engines_level{args.fit_level}"] = {
            "machine": machine, **fits(train, test, args.fit_level, args.fit_budget,
                                       args.workers)}
        OUT.write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()

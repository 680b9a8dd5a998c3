"""MTP accuracy on public PBE data nobody here wrote: mlearn Li (Zuo et al., J. Phys. Chem. A 124,
731 (2020)), train on training.json, test on test.json, levels 10/16/22.

Run:  .venv/bin/python benchmarks/mtp_mlearn_li.py [--levels 10 16 22] [--max-time 1800]
      [--workers 2] [--checkpoint-dir runs/mlearn-li-ckpt] [--save runs/mlearn-li-models]
Writes benchmarks/results/mtp_mlearn_li.json (errors, fit wall time, the machine of each run).
With --checkpoint-dir, a killed run started again continues each fit where it stopped
(--max-time counts both runs).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import ase.io

sys.path.insert(0, str(Path(__file__).resolve().parent))
from machine import describe  # noqa: E402

from seiflow.data.formats import read_mlearn_json  # noqa: E402
from seiflow.potentials.metrics import error_table, predict  # noqa: E402
from seiflow.potentials.mtp.fit import fit_mtp  # noqa: E402

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "mlearn-Li"
RESULTS = Path(__file__).resolve().parent / "results" / "mtp_mlearn_li.json"


def load(folder: Path, name: str) -> list:
    """The mlearn JSON, or the same set written as labelled extxyz (for machines without
    pymatgen: ``ase.io.write("training.extxyz", read_mlearn_json(...))``)."""
    xyz = folder / f"{name}.extxyz"
    return ase.io.read(xyz, ":") if xyz.exists() else read_mlearn_json(folder / f"{name}.json")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--levels", type=int, nargs="+", default=[10, 16, 22])
    ap.add_argument("--max-iter", type=int, default=200)
    ap.add_argument("--max-time", type=float, default=1800.0, help="fit budget per level, s")
    ap.add_argument("--optimizer", default="lm")
    ap.add_argument("--workers", type=int, default=1, help="fit processes")
    ap.add_argument("--checkpoint-dir", type=Path, default=None)
    ap.add_argument("--data", type=Path, default=DATA, help="folder of training/test.json")
    ap.add_argument("--out", type=Path, default=RESULTS, help="results JSON (updated)")
    ap.add_argument("--tag", default="", help="suffix of the run's name in the results")
    ap.add_argument("--save", type=Path, default=None,
                    help="save each model to SAVE/level<N> (used by validate_mlearn_li.py)")
    args = ap.parse_args()
    train, test = (load(args.data, name) for name in ("training", "test"))
    out = args.out
    results = json.loads(out.read_text()) if out.exists() else {}
    results.setdefault("runs", {})
    for level in args.levels:
        ckpt = (args.checkpoint_dir / f"level{level}.npz") if args.checkpoint_dir else None
        model = fit_mtp(train, level=level, optimizer=args.optimizer, max_iter=args.max_iter,
                        max_time=args.max_time, seed=0, progress=False, workers=args.workers,
                        checkpoint=ckpt)
        fit_s = model.record["training"]["wall_time_s"]  # both runs, if resumed
        if args.save:
            model.save(args.save / f"level{level}")
        run = {"level": level, "optimizer": args.optimizer, "machine": describe(),
               "workers": args.workers, "fit_wall_time_s": round(fit_s, 1),
               "iterations": len(model.record["training"]["loss"]) - 1,
               "stop": model.record["training"]["stop"],
               "parameters": int(model.data.number_of_parameters_optimized),
               "basis_functions": int(model.data.alpha_scalar_moments),
               "train": error_table(predict(model, train))["all"],
               "test": error_table(predict(model, test))["all"]}
        results["runs"][f"level{level}_{args.optimizer}{args.tag}"] = run
        t = run["test"]
        print(f"level {level}: test RMSE {t['energy']['rmse']:.2f} meV/atom, "
              f"{t['forces']['rmse']:.4f} eV/Å, {t['stress']['rmse']:.3f} GPa; "
              f"MAE {t['energy']['mae']:.2f} meV/atom, {t['forces']['mae']:.4f} eV/Å; "
              f"fit {fit_s:.0f} s ({run['iterations']} iterations)", flush=True)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()

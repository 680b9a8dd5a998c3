"""MTP accuracy on public PBE data nobody here wrote: mlearn Li (Zuo et al., J. Phys. Chem. A 124,
731 (2020)), train on training.json, test on test.json, levels 10/16/22.

Run:  .venv/bin/python benchmarks/mtp_mlearn_li.py [--levels 10 16 22] [--max-time 1800]
      [--save runs/mlearn-li-models]
Writes benchmarks/results/mtp_mlearn_li.json (errors, fit wall time, the machine).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from machine import describe  # noqa: E402

from seiflow.data.formats import read_mlearn_json  # noqa: E402
from seiflow.potentials.metrics import error_table, predict  # noqa: E402
from seiflow.potentials.mtp.fit import fit_mtp  # noqa: E402

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "mlearn-Li"
OUT = Path(__file__).resolve().parent / "results" / "mtp_mlearn_li.json"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--levels", type=int, nargs="+", default=[10, 16, 22])
    ap.add_argument("--max-iter", type=int, default=200)
    ap.add_argument("--max-time", type=float, default=1800.0, help="fit budget per level, s")
    ap.add_argument("--optimizer", default="lm")
    ap.add_argument("--save", type=Path, default=None,
                    help="save each model to SAVE/level<N> (used by validate_mlearn_li.py)")
    args = ap.parse_args()
    train = read_mlearn_json(DATA / "training.json")
    test = read_mlearn_json(DATA / "test.json")
    results = json.loads(OUT.read_text()) if OUT.exists() else {}
    results["machine"] = describe()
    results.setdefault("runs", {})
    for level in args.levels:
        t0 = time.perf_counter()
        model = fit_mtp(train, level=level, optimizer=args.optimizer, max_iter=args.max_iter,
                        max_time=args.max_time, seed=0, progress=False)
        fit_s = time.perf_counter() - t0
        if args.save:
            model.save(args.save / f"level{level}")
        run = {"level": level, "optimizer": args.optimizer, "fit_wall_time_s": round(fit_s, 1),
               "iterations": len(model.record["training"]["loss"]) - 1,
               "stop": model.record["training"]["stop"],
               "parameters": int(model.data.number_of_parameters_optimized),
               "basis_functions": int(model.data.alpha_scalar_moments),
               "train": error_table(predict(model, train))["all"],
               "test": error_table(predict(model, test))["all"]}
        results["runs"][f"level{level}_{args.optimizer}"] = run
        t = run["test"]
        print(f"level {level}: test RMSE {t['energy']['rmse']:.2f} meV/atom, "
              f"{t['forces']['rmse']:.4f} eV/Å, {t['stress']['rmse']:.3f} GPa; "
              f"MAE {t['energy']['mae']:.2f} meV/atom, {t['forces']['mae']:.4f} eV/Å; "
              f"fit {fit_s:.0f} s ({run['iterations']} iterations)", flush=True)
        OUT.parent.mkdir(exist_ok=True)
        OUT.write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()

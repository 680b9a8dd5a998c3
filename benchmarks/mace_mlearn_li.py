"""MACE accuracy on public PBE data nobody here wrote, beside the MTP on the same split:
mlearn Li (Zuo et al., J. Phys. Chem. A 124, 731 (2020)), train on training.json, test on
test.json (the split benchmarks/mtp_mlearn_li.py uses).

Run:  .venv/bin/python benchmarks/mace_mlearn_li.py [--preset small|medium|paper]
      [--epochs 100] [--max-time 2400] [--device auto] [--save runs/mlearn-li-mace]
Writes benchmarks/results/mace_mlearn_li.json (errors, training time, model size, machine)
and prints the MTP's errors from mtp_mlearn_li.json beside them.

"paper" is the reference paper's size (128x0e+128x1o, max_ell 3, correlation 3; a GPU job);
"small" is the CPU preset of the tests (16x0e+16x1o, max_ell 1), "medium" 32x0e+32x1o,
max_ell 2.
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
from seiflow.potentials.mace.settings import MACESettings  # noqa: E402
from seiflow.potentials.metrics import error_table, predict  # noqa: E402

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "mlearn-Li"
RESULTS = Path(__file__).resolve().parent / "results"
OUT = RESULTS / "mace_mlearn_li.json"
PRESETS = {
    "small": dict(hidden_irreps="16x0e+16x1o", max_ell=1, correlation=3, num_bessel=6,
                  radial_mlp=[16, 16], mlp_irreps="8x0e"),
    "medium": dict(hidden_irreps="32x0e+32x1o", max_ell=2, correlation=3,
                   radial_mlp=[32, 32, 32]),
    "paper": {},
}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--preset", choices=sorted(PRESETS), default="small")
    ap.add_argument("--epochs", type=int, default=100)
    ap.add_argument("--batch-size", type=int, default=5)
    ap.add_argument("--max-time", type=float, default=2400.0, help="training budget, s")
    ap.add_argument("--device", default="auto")
    ap.add_argument("--dtype", default="float32")
    ap.add_argument("--save", type=Path, default=None)
    args = ap.parse_args()
    train = read_mlearn_json(DATA / "training.json")
    test = read_mlearn_json(DATA / "test.json")
    settings = MACESettings(**PRESETS[args.preset], epochs=args.epochs,
                            batch_size=args.batch_size, scheduler_patience=10,
                            max_time=args.max_time, device=args.device, dtype=args.dtype)
    t0 = time.perf_counter()
    model = settings.fit(train, progress=True)
    fit_s = time.perf_counter() - t0
    if args.save:
        model.save(args.save / args.preset)
    hist = model.record["training"]
    run = {"preset": args.preset, "settings": settings.model_dump(mode="json"),
           "device": str(model.device), "parameters": model.record["parameters"],
           "fit_wall_time_s": round(fit_s, 1), "epochs_run": len(hist["epoch"]),
           "stopped": hist.get("stopped", "all epochs"),
           "train": error_table(predict(model, train))["all"],
           "test": error_table(predict(model, test))["all"]}
    results = json.loads(OUT.read_text()) if OUT.exists() else {}
    results["machine"] = describe()
    results.setdefault("runs", {})[f"{args.preset}_{run['device']}"] = run
    RESULTS.mkdir(exist_ok=True)
    OUT.write_text(json.dumps(results, indent=1))
    mtp = json.loads((RESULTS / "mtp_mlearn_li.json").read_text())["runs"]
    print(f"{'model':28s} {'E meV/atom':>11s} {'F eV/Å':>8s} {'S GPa':>7s} {'fit s':>7s}")
    rows = [(f"MACE {args.preset} ({run['parameters']} par.)", run)] + \
        [(f"MTP level {r['level']}", r) for r in mtp.values()]
    for name, r in rows:
        t = r["test"]
        print(f"{name:28s} {t['energy']['rmse']:11.2f} {t['forces']['rmse']:8.4f} "
              f"{t['stress']['rmse']:7.3f} {r['fit_wall_time_s']:7.0f}")


if __name__ == "__main__":
    main()

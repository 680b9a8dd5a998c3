"""Same labels, another model class: a MACE fitted on the frames a `seiflow learn` run labelled.

The converged MTPs of the Li2CO3 learn run (levels 12-18) miss at least one of the teacher's
three Li2CO3 mechanisms by more than 0.07 eV at γ < 1 (docs/md-transport.md): the model class,
not the data, looked like the limit. This script fits a MACE (mace-torch's modules and loss,
seiflow.potentials.mace) on the run's training frames, and optionally extra labelled frames,
reports its errors on the run's test frames beside the run's MTP, and saves the model for
benchmarks/li2co3_mechanisms.py --model OUT/model.

Run:  OMP_NUM_THREADS=2 .venv/bin/python benchmarks/mace_on_learned_labels.py
      --run benchmarks/results/li2co3_mechanisms --out runs/li2co3-mace
      [--preset small|medium] [--epochs 200] [--seed 0] [--max-time S] [--extra FRAMES.extxyz ...]
      [--continue-from OUT/model --epochs 40]
Writes OUT/model (its record holds the loss history, why the fit stopped and whether it
converged: the last stage's best validation loss fell < 1 % over its last 10 epochs),
OUT/fit.ckpt while it runs (a killed fit resumes from it) and OUT/fit.json (settings, size,
errors of both models on the test frames in meV/atom, eV/Å and GPa, wall time, machine).
A fit that did not converge is continued with --continue-from: its last stage (stage two's
loss weights and learning rate) runs --epochs more epochs from that model, and the plateau is
judged over those.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from mace_mlearn_li import PRESETS  # noqa: E402
from machine import describe  # noqa: E402
from refit_learned_model import run_frames, training_frames  # noqa: E402

from seiflow.potentials.mace.settings import MACESettings  # noqa: E402
from seiflow.potentials.metrics import error_table, predict  # noqa: E402
from seiflow.potentials.registry import load_potential  # noqa: E402
from seiflow.workflows.methods import fit_state  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--run", type=Path, required=True,
                    help="a `seiflow learn` run folder or a results folder that kept its labels")
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--preset", choices=("small", "medium"), default="small")
    ap.add_argument("--epochs", type=int, default=200)
    ap.add_argument("--batch-size", type=int, default=4)
    ap.add_argument("--seed", type=int, default=0,
                    help="initial weights, validation split and batch order")
    ap.add_argument("--max-time", type=float, default=None, help="training budget, s")
    ap.add_argument("--extra", type=Path, nargs="+", default=[],
                    help="labelled frames added to the training frames")
    ap.add_argument("--continue-from", type=Path, default=None,
                    help="a MACE model folder of this script whose last stage is continued")
    args = ap.parse_args()
    frames, mtp_dir = run_frames(args.run)
    train, extra = training_frames(frames, args.extra)
    test = [a for a in frames if a.info.get("split") == "test"]
    settings = MACESettings(**PRESETS[args.preset], epochs=args.epochs,
                            batch_size=args.batch_size, scheduler_patience=10,
                            max_time=args.max_time, seed=args.seed)
    start = None
    if args.continue_from:
        start = load_potential(args.continue_from)
        last = MACESettings(**start.record["settings"])
        settings = last.model_copy(update=dict(
            epochs=args.epochs, weights=last.stage_two_weights, lr=last.stage_two_lr,
            stage_two_start=None, max_time=args.max_time))
    args.out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    model = settings.fit(train, progress=True, start=start, checkpoint=args.out / "fit.ckpt")
    wall = time.perf_counter() - t0
    model.save(args.out / "model")
    hist = model.record["training"]
    doc = {"run": str(args.run), "preset": None if start else args.preset,
           "continued_from": args.continue_from and str(args.continue_from),
           "origin": model.record["origin"],
           "settings": settings.model_dump(mode="json"), "parameters": model.record[
               "parameters"], "train_frames": len(train), "test_frames": len(test),
           "extra_frames": {path: len(f) for path, f in extra.items()},
           "stop": hist["stop"], "converged": hist["converged"], "epochs_run": len(
               hist["epoch"]), "wall_s_this_call": round(wall, 1),
           "fit_wall_s": hist["wall_s"][-1],
           "test_errors": {"mace": error_table(predict(model, test))["all"],
                           "mtp": error_table(predict(load_potential(mtp_dir), test))["all"]},
           "mtp": {"model": str(mtp_dir), "fit": fit_state(mtp_dir)}, "machine": describe()}
    (args.out / "fit.json").write_text(json.dumps(doc, indent=1) + "\n")
    print(json.dumps({k: v for k, v in doc.items() if k not in ("machine", "settings")},
                     indent=1))


if __name__ == "__main__":
    main()

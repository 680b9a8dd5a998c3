"""SevenNet-0 fine-tuned on public PBE data nobody here wrote: mlearn Li (Zuo et al., J. Phys.
Chem. A 124, 731 (2020)), train on training.json, test on test.json (the split of
benchmarks/mtp_mlearn_li.py and mace_mlearn_li.py).

Three rows on the 29 test frames: SevenNet-0 as shipped; SevenNet-0 with only its Li energy
offset refitted to the training energies (the first step of the fine-tune; energies only);
SevenNet-0 fine-tuned (every weight; seiflow's SevenNetSettings through sevenn's Trainer; the
Li offset refitted before and after the epochs).

Run:  OMP_NUM_THREADS=1 .venv/bin/python benchmarks/sevennet_finetune_mlearn_li.py
      [--epochs 1] [--frames 0 (all 241)] [--max-time 900] [--device cpu] [--save DIR]
Writes benchmarks/results/sevennet_finetune_mlearn_li.json (errors: energy meV/atom, forces
eV/Å, stress GPa; wall times; machine). On one CPU core an epoch over the 217 training frames
(24 held out to pick the best epoch) takes about 8-9 minutes, so the default is one epoch.
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
from seiflow.potentials.sevennet.fit import apply_offsets  # noqa: E402
from seiflow.potentials.sevennet.model import SevenNetModel  # noqa: E402
from seiflow.potentials.sevennet.settings import SevenNetSettings  # noqa: E402

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "mlearn-Li"
RESULTS = Path(__file__).resolve().parent / "results"
OUT = RESULTS / "sevennet_finetune_mlearn_li.json"


def _errors(model, frames) -> tuple[dict, float]:
    t0 = time.perf_counter()
    table = error_table(predict(model, frames))["all"]
    return table, round(time.perf_counter() - t0, 1)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--epochs", type=int, default=1)
    ap.add_argument("--frames", type=int, default=0, help="training frames (0: all)")
    ap.add_argument("--max-time", type=float, default=900.0, help="fine-tune budget, s")
    ap.add_argument("--lr", type=float, default=None)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--save", type=Path, default=None)
    args = ap.parse_args()
    train = read_mlearn_json(DATA / "training.json")
    train = train[:: max(1, len(train) // args.frames)][: args.frames] if args.frames else train
    test = read_mlearn_json(DATA / "test.json")
    extra = {"lr": args.lr} if args.lr else {}
    settings = SevenNetSettings(epochs=args.epochs, max_time=args.max_time,
                                device=args.device, **extra)
    shipped = SevenNetModel.foundation("sevennet-0", device=args.device)
    rows = {"SevenNet-0 as shipped": {"test": _errors(shipped, test)[0]}}
    t0 = time.perf_counter()
    tuned = settings.fit(train, progress=False)
    fit_s = round(time.perf_counter() - t0, 1)
    if args.save:
        tuned.save(args.save)
    hist = tuned.record["training"]
    offset_only = SevenNetModel.foundation("sevennet-0", device=args.device)
    apply_offsets(offset_only.net, offset_only.config, hist["energy_shift_eV_per_atom"])
    rows["SevenNet-0, Li energy offset refitted"] = {"test": _errors(offset_only, test)[0]}
    test_err, eval_s = _errors(tuned, test)
    rows["SevenNet-0 fine-tuned"] = {"test": test_err, "fit_wall_time_s": fit_s,
                                     "test_eval_wall_time_s": eval_s}
    run = {"settings": settings.model_dump(mode="json"), "train_frames": len(train),
           "test_frames": len(test), "training": {k: hist[k] for k in (
               "train_structures", "valid_structures", "epoch", "valid_loss", "start_valid_loss",
               "best_epoch", "stop", "energy_shift_eV_per_atom",
               "energy_shift_after_eV_per_atom", "wall_time_s")},
           "rows": rows}
    RESULTS.mkdir(exist_ok=True)
    import sevenn
    import torch

    machine = {**describe(), "torch": torch.__version__, "sevenn": sevenn.__version__}
    OUT.write_text(json.dumps({"machine": machine, "run": run}, indent=1))
    print(f"machine: {machine['cpu']}, {machine['cores']} cores, OMP_NUM_THREADS="
          f"{machine['omp_num_threads']}; fine-tune {fit_s:.0f} s on {len(train)} frames "
          f"({hist['train_structures']} train + {hist['valid_structures']} valid), epochs run "
          f"{len(hist['epoch'])}, best epoch {hist['best_epoch'] + 1} (0: the start)")
    print(f"{'mlearn Li test set (29 frames)':40s} {'E meV/atom':>11s} {'F eV/Å':>8s} "
          f"{'S GPa':>7s}   (RMSE)")
    for name, r in rows.items():
        t = r["test"]
        print(f"{name:40s} {t['energy']['rmse']:11.2f} {t['forces']['rmse']:8.4f} "
              f"{t['stress']['rmse']:7.3f}")


if __name__ == "__main__":
    main()

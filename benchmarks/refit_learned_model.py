"""Does a learn run's last model sit at its fit's plateau? Continue its fit on the same training
frames and settings (the run's learn-config), without the loop's time budget, and save it.

The learning loop stops each MTP fit at `max_time`; a model stopped there is recorded as not
converged (`seiflow.workflows.methods.fit_state`). This script continues the last iteration's
fit from its coefficients (warm start) for up to --max-iter optimizer steps or until the
convergence criterion (relative loss decrease below `tol` for 3 steps), writing a checkpoint
after every step (a killed refit continues from it). Comparing a property of both models
(benchmarks/li2co3_mechanisms.py --model OUT, or `seiflow neb --model OUT`) measures how much
the unfinished fit moved it.

Run:  OMP_NUM_THREADS=1 .venv/bin/python benchmarks/refit_learned_model.py
      --run runs/li2co3-mechanisms --out runs/li2co3-mechanisms-refit [--max-iter 400]
      [--start MODEL] [--workers 2] [--tol 1e-6] [--weights 10 0.01 0.01] [--level 18]
      [--extra FRAMES.extxyz ...]
Writes OUT/model (the model, whose record holds the loss history and the stop reason),
OUT/refit.ckpt while it runs and OUT/refit.json (losses, steps, stop, weights, wall time,
machine; with --weights the loss change compares two different losses). --level fits a model of
another level on the same frames and settings from random coefficients (more or less capacity,
same data); its loss change compares with the run's model. --extra adds labelled frames to the
training set (more data where the model is off, e.g. the teacher's own NEB images); its loss
change then compares losses over different frames.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from pathlib import Path

import ase.io
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
from machine import describe  # noqa: E402

from seiflow.data.store import LabelStore  # noqa: E402
from seiflow.potentials.mtp.fit import continues, training_species  # noqa: E402
from seiflow.potentials.mtp.settings import MTPSettings  # noqa: E402
from seiflow.potentials.registry import load_potential  # noqa: E402
from seiflow.workflows.methods import fit_sentence, fit_state  # noqa: E402
from seiflow.workflows.run import Run  # noqa: E402

KEPT_LABELS = "labels.extxyz.gz"  # a results folder's copy of a learn run's labelled frames


def keep_record(learn: Path, model: Path, out: Path) -> None:
    """Keep in ``out`` what --run needs without the run folder: ``model`` (as out/model) and,
    from a learn run folder ``learn``, its summary, learning curves and labelled frames."""
    out.mkdir(parents=True, exist_ok=True)
    shutil.copytree(model, out / "model", dirs_exist_ok=True)
    for name in ("learn-summary.yml", "learning-curves.png"):
        if (learn / name).exists():
            shutil.copy(learn / name, out / name)
    if (learn / "labels.db").exists():
        ase.io.write(out / KEPT_LABELS, LabelStore(learn / "labels.db").frames())


def run_frames(run: Path) -> tuple[list, Path]:
    """A learn run's labelled frames (or those a results folder kept) and its last model."""
    if (run / KEPT_LABELS).exists():
        return ase.io.read(run / KEPT_LABELS, ":"), run / "model"
    return LabelStore(run / "labels.db").frames(), Run(run).final_model()


def training_frames(frames: list, extra: list[Path]) -> tuple[list, dict[str, list]]:
    """The frames of the run's training split plus every frame of the ``extra`` files, and
    those extra frames by file."""
    added = {str(path): ase.io.read(path, ":") for path in extra}
    train = [a for a in frames if a.info.get("split") == "train"]
    return train + [a for frames_of in added.values() for a in frames_of], added


def require_converged(model: Path, run: Path, flag: str) -> dict:
    """``model``'s fit state; stops with one line unless the fit converged (a property comes
    only from a converged model), saying how to refit it and pass the refit with ``flag``."""
    if (state := fit_state(model))["converged"] is not True:
        raise SystemExit(f"{model}: {fit_sentence(state)} Continue it with "
                         f"benchmarks/refit_learned_model.py --run {run} --out <folder>, "
                         f"then pass {flag} <folder>/model")
    return state


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--run", type=Path, required=True,
                    help="a `seiflow learn` run folder, or a results folder that kept its "
                    "record (learn-summary.yml, model/, labels.extxyz.gz; "
                    "benchmarks/li2co3_mechanisms.py writes one)")
    ap.add_argument("--out", type=Path, required=True, help="folder for the refitted model")
    ap.add_argument("--max-iter", type=int, default=400, help="optimizer steps at most")
    ap.add_argument("--workers", type=int, default=1, help="processes for the fit's passes")
    ap.add_argument("--weights", type=float, nargs=3, default=None, metavar=("E", "F", "S"),
                    help="loss weights (default: the run's); other weights refit the model to "
                    "another loss, e.g. a heavier energy weight for energy differences")
    ap.add_argument("--tol", type=float, default=None,
                    help="convergence tolerance (default: the run's); a smaller one continues a "
                    "converged fit, to see how far its properties still move")
    ap.add_argument("--start", type=Path, default=None,
                    help="model to continue from (default: the run's last model; e.g. an "
                    "earlier refit that stopped at --max-iter)")
    ap.add_argument("--level", type=int, default=None,
                    help="fit a model of this level from random coefficients instead of "
                    "continuing the run's (e.g. 18 where 16 lacks capacity)")
    ap.add_argument("--extra", type=Path, nargs="+", default=[],
                    help="labelled frames (extxyz with energy, forces, stress) added to the "
                    "training frames, e.g. a teacher's NEB images "
                    "(benchmarks/teacher_band_frames.py)")
    args = ap.parse_args()
    kept = (args.run / KEPT_LABELS).exists()
    config = yaml.safe_load((args.run / ("learn-summary.yml" if kept else "learn-config.yaml"))
                            .read_text())
    settings = (config["inputs"]["config"] if kept else config)["potential"]
    if settings.get("backend", "mtp") != "mtp":
        raise SystemExit("this refit is for MTP runs")
    overrides = {"max_time": None, "max_iter": args.max_iter, "workers": args.workers}
    if args.tol:
        overrides["tol"] = args.tol
    if args.level:
        overrides["level"] = args.level
    if args.weights:
        overrides["weights"] = dict(zip(("energy", "forces", "stress"), args.weights))
    fit = MTPSettings(**{**settings, **overrides})
    frames, last_model = run_frames(args.run)
    start_dir = args.start or last_model
    train, extra = training_frames(frames, args.extra)
    start = load_potential(start_dir)
    warm = continues(start, training_species(train), fit.level, fit.cutoff,
                     fit.radial_basis_size)
    if not warm and not args.level:
        raise SystemExit(f"{start_dir} cannot be continued with the run's settings (species, "
                         "level, cutoff or radial basis differ)")
    args.out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    model = fit.fit(train, progress=True, start=start if warm else None,
                    checkpoint=args.out / "refit.ckpt")
    wall = time.perf_counter() - t0
    model.save(args.out / "model")
    first, last = start.record["training"], model.record["training"]
    doc = {"run": str(args.run), "start_model": str(start_dir), "train_frames": len(train),
           "extra_frames": {path: len(f) for path, f in extra.items()},
           "warm_start": warm, "level": fit.level,
           "start": {"stop": first["stop"], "steps": len(first["loss"]),
                     "loss": first["loss"][-1]},
           "refit": {"stop": last["stop"], "converged": last.get("converged"),
                     "steps": len(last["loss"]), "loss": last["loss"][-1],
                     "tol": fit.tol, "max_iter": fit.max_iter,
                     "weights": fit.weights.model_dump()},
           "loss_change_percent": round(100 * (last["loss"][-1] / first["loss"][-1] - 1), 3),
           "wall_s_this_call": round(wall, 1), "machine": describe()}
    (args.out / "refit.json").write_text(json.dumps(doc, indent=1) + "\n")
    print(json.dumps({k: v for k, v in doc.items() if k != "machine"}, indent=1))


if __name__ == "__main__":
    main()

"""Time to accuracy of the MTP fit's optimizers in one run on one machine: variable projection
(``varpro``, the default), joint Levenberg–Marquardt (``lm``, seiflow's earlier fit) and BFGS,
from the same random start on the same data, each with the same wall-time budget.

Data: mlearn Li (public VASP PBE; Zuo et al., J. Phys. Chem. A 124, 731 (2020)), training.json
to fit, test.json to test; or, with ``--db``, a seiflow label store and its train/test split
(e.g. the demo's multi-element Li2CO3 + Li labels: runs/demo/labels.db).

Run:  .venv/bin/python benchmarks/mtp_fit_speed.py [--level 10] [--budget 150] [--workers 1]
      [--db runs/demo/labels.db --name demo]
Writes benchmarks/results/mtp_fit_speed.json (loss per component against wall time, test
errors, machine) and benchmarks/results/mtp_fit_speed_<name>_level<L>.png.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from machine import describe  # noqa: E402
from mtp_mlearn_li import DATA, load  # noqa: E402

from seiflow.potentials.metrics import error_table, predict  # noqa: E402
from seiflow.potentials.mtp.fit import fit_mtp  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"


def loss_time_plot(curves: list[tuple[list, list, str]], title: str, path: Path,
                   reference: tuple[float, str] | None = None) -> None:
    """Training loss (log axis) against wall time, one line per (times s, losses, label);
    ``reference``: a (loss, label) drawn dashed across (also used by mtp_fit_large.py)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4), dpi=110)
    for times, loss, label in curves:
        ax.plot(times, loss, ".-", label=label)
    if reference is not None:
        ax.axhline(reference[0], ls="--", c="grey", lw=0.8, label=reference[1])
    ax.set_yscale("log")
    ax.set_xlabel("wall time (s)")
    ax.set_ylabel("training loss")
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def plot(runs: dict, title: str, path: Path) -> None:
    loss_time_plot([(run["time_s"], run["loss"], f"{name} (test {run['test_energy_rmse']:.2f} "
                     f"meV/atom, {run['test_forces_rmse']:.4f} eV/Å)")
                    for name, run in runs.items()],
                   f"{title}: same start, data and machine", path)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--level", type=int, default=10)
    ap.add_argument("--budget", type=float, default=150.0, help="wall time per optimizer, s")
    ap.add_argument("--workers", type=int, default=1)
    ap.add_argument("--optimizers", nargs="+", default=["varpro", "lm", "bfgs"])
    ap.add_argument("--db", default=None, help="label store to use instead of mlearn Li")
    ap.add_argument("--name", default="mlearn-li", help="data set name in the results")
    args = ap.parse_args()
    if args.db:
        from seiflow.data.store import LabelStore

        frames = LabelStore(args.db).frames()
        train = [a for a in frames if a.info.get("split") == "train"]
        test = [a for a in frames if a.info.get("split") == "test"]
    else:
        train, test = load(DATA, "training"), load(DATA, "test")
    runs = {}
    for opt in args.optimizers:
        model = fit_mtp(train, level=args.level, optimizer=opt, max_iter=100_000, tol=0,
                        max_time=args.budget, workers=args.workers, seed=0, progress=False)
        t = model.record["training"]
        err = error_table(predict(model, test))["all"]
        runs[opt] = {"time_s": t["time_s"], "loss": t["loss"], "passes": t["passes"],
                     "stop": t["stop"], "energy_mean_meV_per_atom": t["energy_mean_meV_per_atom"],
                     "test_energy_rmse": err["energy"]["rmse"],
                     "test_forces_rmse": err["forces"]["rmse"],
                     "test_stress_rmse": err["stress"]["rmse"]}
        print(f"{opt}: {len(t['loss'])} points, {sum(t['passes'])} train passes, loss "
              f"{t['loss'][0]:.3e} -> {t['loss'][-1]:.3e}; test {err['energy']['rmse']:.2f} "
              f"meV/atom, {err['forces']['rmse']:.4f} eV/Å, {err['stress']['rmse']:.3f} GPa",
              flush=True)
    out = RESULTS / "mtp_fit_speed.json"
    results = json.loads(out.read_text()) if out.exists() else {}
    species = sorted({s for a in train for s in a.get_chemical_symbols()})
    results[f"{args.name}_level{args.level}"] = {
        "machine": describe(), "budget_s": args.budget, "workers": args.workers,
        "data": {"name": args.name, "species": species, "train_structures": len(train),
                 "train_atoms": sum(len(a) for a in train), "test_structures": len(test)},
        "runs": runs}
    out.write_text(json.dumps(results, indent=1))
    plot(runs, f"{args.name}, MTP level {args.level}",
         RESULTS / f"mtp_fit_speed_{args.name}_level{args.level}.png")


if __name__ == "__main__":
    main()

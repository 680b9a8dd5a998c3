"""A 30,000-atom, four-element training set: how close does the MTP fit get to its converged loss
in 10 minutes on 2 cores (issue 15)?

Data, labelled here by the SevenNet-0 teacher (PBE-trained; docs/reference.md) and cached in
``runs/bench-large/``: rattled (0.02-0.15 Å) and strained (±3 %) copies of the SEI's inorganic
phases bcc Li, LiF, Li2O and Li2CO3 (C2/c), each cell >= 10 Å wide (2 x the 5 Å cutoff: 54-324
atoms), 200 frames and about 30,000 atoms in all, and a held-out set of 4 more copies per phase
drawn with another seed.

Fit: variable projection (seiflow's default) at level 16 from a random start with ``--budget``
seconds (default 600) and 2 workers; then the same model continued (warm start) for
``--converge`` more seconds: the loss it plateaus at is the "converged loss" the first fit is
compared with.

Run:  .venv/bin/python benchmarks/mtp_fit_large.py [--level 16] [--budget 600] [--converge 1800]
Writes benchmarks/results/mtp_fit_large.json and mtp_fit_large_level<L>.png.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from machine import describe  # noqa: E402
from mtp_fit_speed import loss_time_plot  # noqa: E402

from seiflow.active.sampling import PerturbSettings, perturbed  # noqa: E402
from seiflow.data.store import LabelStore  # noqa: E402
from seiflow.potentials.metrics import error_table, predict  # noqa: E402
from seiflow.potentials.mtp.fit import fit_mtp  # noqa: E402
from seiflow.reference.sevennet import SevenNetLabeler  # noqa: E402
from seiflow.structures.geometry import make_supercell  # noqa: E402
from seiflow.structures.library import get_phase  # noqa: E402
from seiflow.workflows.label import run_label  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"
CACHE = Path(__file__).resolve().parents[1] / "runs" / "bench-large"
# phase: copies in the training set (cells >= 10 Å wide: 54, 216, 324, 288 atoms)
PHASES = {"li-bcc": 110, "lif": 36, "li2o": 24, "li2co3-c2c": 30}
TEST_COPIES = 4


def cells() -> list:
    out = []
    for name in PHASES:
        atoms = make_supercell(get_phase(name), min_width=10.0)
        atoms.info["name"] = name
        out.append(atoms)
    return out


def labelled(split: str, seed: int) -> list:
    store = LabelStore(CACHE / f"{split}.db")
    frames = []
    for atoms in cells():
        n = PHASES[atoms.info["name"]] if split == "train" else TEST_COPIES
        frames += perturbed([atoms], PerturbSettings(per_structure=n, rattle_A=(0.02, 0.15),
                                                     strain=0.03, seed=seed), split)
    t0 = time.perf_counter()
    report = run_label(frames, SevenNetLabeler(), store)
    print(f"{split}: {len(frames)} frames, {sum(len(a) for a in frames)} atoms, "
          f"{report.ok} labelled now in {time.perf_counter() - t0:.0f} s", flush=True)
    return store.frames()


def curve(model) -> dict:
    t = model.record["training"]
    return {"time_s": t["time_s"], "loss": t["loss"], "passes": t["passes"], "stop": t["stop"],
            "energy_mean_meV_per_atom": t["energy_mean_meV_per_atom"]}


def test_errors(model, test) -> dict:
    err = error_table(predict(model, test))["all"]
    return {"energy_meV_per_atom": err["energy"]["rmse"], "forces_eV_per_A": err["forces"]["rmse"],
            "stress_GPa": err["stress"]["rmse"]}


def plot(first: dict, more: dict, converged: float, title: str, path: Path) -> None:
    t0 = first["time_s"][-1]
    loss_time_plot([(first["time_s"], first["loss"], "fit from a random start"),
                    ([t0 + t for t in more["time_s"]], more["loss"], "continued (warm start)")],
                   title, path, reference=(converged * 1.1, "converged loss + 10 %"))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--level", type=int, default=16)
    ap.add_argument("--cutoff", type=float, default=5.0)
    ap.add_argument("--budget", type=float, default=600.0, help="first fit, s")
    ap.add_argument("--converge", type=float, default=1800.0, help="continued fit, s")
    ap.add_argument("--workers", type=int, default=2)
    args = ap.parse_args()
    CACHE.mkdir(parents=True, exist_ok=True)
    train, test = labelled("train", 0), labelled("test", 1001)
    common = dict(level=args.level, cutoff=args.cutoff, max_iter=100_000, tol=0,
                  workers=args.workers, optimizer="varpro", progress=False)
    first = fit_mtp(train, max_time=args.budget, seed=0, **common)
    more = fit_mtp(train, max_time=args.converge, start=first, **common)
    a, b = curve(first), curve(more)
    converged = min(b["loss"])
    within = next((t for t, loss in zip(a["time_s"] + [a["time_s"][-1] + t for t in b["time_s"]],
                                        a["loss"] + b["loss"]) if loss <= 1.1 * converged), None)
    tail = [loss for t, loss in zip(b["time_s"], b["loss"]) if t >= 0.75 * b["time_s"][-1]]
    result = {
        "machine": describe(), "workers": args.workers, "level": args.level,
        "cutoff_A": args.cutoff, "teacher": "SevenNet-0 (7net-0)",
        "data": {"species": sorted({s for x in train for s in x.get_chemical_symbols()}),
                 "train_structures": len(train), "train_atoms": sum(len(x) for x in train),
                 "test_structures": len(test), "test_atoms": sum(len(x) for x in test)},
        "first_fit": {**curve(first), "budget_s": args.budget, "test": test_errors(first, test)},
        "continued_fit": {**b, "budget_s": args.converge, "test": test_errors(more, test)},
        "converged_loss": converged,
        "last_quarter_relative_drop": (tail[0] - tail[-1]) / tail[0] if tail else None,
        "first_fit_loss_over_converged": a["loss"][-1] / converged,
        "seconds_to_within_10_percent": within,
    }
    out = RESULTS / "mtp_fit_large.json"
    out.write_text(json.dumps(result, indent=1))
    plot(a, b, converged, f"{result['data']['train_atoms']} atoms (C, F, Li, O), MTP level "
         f"{args.level}, {args.workers} workers", RESULTS / f"mtp_fit_large_level{args.level}.png")
    print(json.dumps({k: v for k, v in result.items() if k not in ("machine", "first_fit",
                                                                   "continued_fit")}, indent=1))
    print("first fit test:", result["first_fit"]["test"], "continued:",
          result["continued_fit"]["test"])


if __name__ == "__main__":
    main()

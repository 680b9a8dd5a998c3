"""Active learning vs random sampling at the same label budget, same system, same potential.

1. Takes a finished `seiflow learn` run (default: runs/demo, run `bash scripts/demo.sh` first).
2. Pool: every MD frame the loop's exploration wrote before its last iteration.
3. Random: the same initial set plus frames drawn at random from the pool — as many as active
   learning selected (1×) and three times as many (3×) — labelled with the same labeler,
   fitted with the same settings.
4. Scores every model on the run's held-out rattled set and on an MD test set: frames from the
   final iteration's trajectories (the conditions the potential is meant for), labelled here.

Run:  .venv/bin/python benchmarks/al_vs_random.py [RUN_DIR]
Writes benchmarks/results/al_vs_random.json.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import ase.io
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from machine import describe  # noqa: E402

from seiflow.core.config import load_config  # noqa: E402
from seiflow.data.store import LabelStore, Origin  # noqa: E402
from seiflow.potentials.metrics import error_table, predict  # noqa: E402
from seiflow.potentials.registry import load_potential  # noqa: E402
from seiflow.workflows.label import run_label  # noqa: E402
from seiflow.workflows.learn import LearnConfig  # noqa: E402
from seiflow.workflows.run import Run  # noqa: E402

OUT = Path(__file__).resolve().parent / "results" / "al_vs_random.json"


def labelled(frames, cfg, store, group):
    run_label(frames, cfg.labeler, store, origin=Origin(group=group))
    return store.frames(group=group)


def main() -> None:
    run = Path(sys.argv[1] if len(sys.argv) > 1 else "runs/demo")
    cfg = load_config(Run(run).config_file, LearnConfig)
    store = LabelStore(run / "labels.db")
    initial = store.frames(group="initial")
    active = store.frames(group="active")
    test_rattle = store.frames(group="test")
    rng = np.random.default_rng(0)
    last = sorted(run.glob("iter-*"))[-1]
    # the pool: MD frames of every iteration but the last, whose trajectories hold the test set
    pool = [f for p in sorted(run.glob("iter-*/explore/*/trajectory.extxyz"))
            if last not in p.parents for f in ase.io.read(p, index=":")[1:]]
    md_frames = [f for p in sorted(last.glob("explore/*/trajectory.extxyz"))
                 for f in ase.io.read(p, index=":")[1:]]
    bench = LabelStore(run / "benchmark-labels.db")
    md_idx = rng.choice(len(md_frames), min(30, len(md_frames)), replace=False)
    test_md = labelled([md_frames[i] for i in md_idx], cfg, bench, "test-md")
    n_active = len(active)
    results = {"machine": describe(), "run": str(run), "labeler": cfg.labeler.name,
               "potential": cfg.potential.model_dump(mode="json"),
               "initial_labels": len(initial), "active_labels": n_active,
               "pool_frames": len(pool), "test_rattle": len(test_rattle),
               "test_md": len(test_md), "models": {}}

    def score(name, model, n_labels):
        errs = {k: error_table(predict(model, frames))["all"]
                for k, frames in (("test_rattle", test_rattle), ("test_md", test_md))}
        results["models"][name] = {"labels": n_labels, **errs}
        print(f"{name:12s} {n_labels:4d} labels: MD-test RMSE "
              f"{errs['test_md']['energy']['rmse']:.2f} meV/atom, "
              f"{errs['test_md']['forces']['rmse']:.3f} eV/Å; rattle-test "
              f"{errs['test_rattle']['energy']['rmse']:.2f} meV/atom, "
              f"{errs['test_rattle']['forces']['rmse']:.3f} eV/Å", flush=True)

    score("active", load_potential(Run(run).final_model()), len(initial) + n_active)
    order = rng.permutation(len(pool))
    for factor in (1, 3):
        n = min(factor * n_active, len(pool))
        chosen = [pool[i] for i in order[:n]]
        for k, a in enumerate(chosen):
            a.info["source"] = f"random pool frame {order[k]}"
        rand = labelled(chosen, cfg, bench, f"random-{factor}x")
        model = cfg.potential.fit(initial + rand, progress=False)
        score(f"random {factor}x", model, len(initial) + len(rand))
    OUT.parent.mkdir(exist_ok=True)
    OUT.write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()

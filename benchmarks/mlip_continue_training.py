"""MLIP-3 and MLIP-2 continue training a seiflow MTP (issue 20: "MLIP-3 and MLIP-2 read
seiflow's .mtp exactly and can continue training it -- keep that in a benchmark").

A level-8 MTP fitted by seiflow (60 LM steps) on 40 mlearn-Li training frames (PBE, Zuo et al.
2020) is written as MLIP's ``.mtp`` and the frames as ``.cfg`` (`seiflow data export`'s
writer); each ``mlp train`` then starts from that file for 10 BFGS iterations. Recorded: MLIP's
own loss f at its first iteration and its last (a continued fit starts low and goes down; a
fresh one starts from random coefficients after 75 pre-training iterations), and the test RMSE
(mlearn-Li test set) of seiflow's model and of each continued model read back by
``seiflow import-mtp``. MLIP-3 by default resets the potential's min_dist to the training set's
shortest distance, which changes the radial basis, so it is run with and without
``--no_mindist_update=true``.

MLIP's licence forbids redistribution: build both outside the repository (mlip_crosscheck.py).
Run:  OMP_NUM_THREADS=1 .venv/bin/python benchmarks/mlip_continue_training.py
      --mlip3-dir DIR --mlip2-dir DIR
Writes benchmarks/results/mlip_continue_training.json.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from machine import describe  # noqa: E402
from mlip3_train import test_errors  # noqa: E402
from mlip_crosscheck import DATA  # noqa: E402

from seiflow.data.formats import read_mlearn_json, write_cfg  # noqa: E402
from seiflow.potentials.mtp.fit import fit_mtp  # noqa: E402
from seiflow.potentials.mtp.model import MTPModel  # noqa: E402
from seiflow.workflows.mlip_import import import_mtp  # noqa: E402

OUT = Path(__file__).resolve().parent / "results" / "mlip_continue_training.json"
ITERATIONS = 10


def mlp_train(cmd: list[str], work: Path) -> dict:
    t0 = time.perf_counter()
    run = subprocess.run(cmd, cwd=work, capture_output=True, text=True)
    f = [float(v) for v in re.findall(r"BFGS iter \d+: f=(\S+)", run.stdout)]
    return {"command": " ".join(Path(c).name if "/" in c else c for c in cmd),
            "returncode": run.returncode, "first_f": f[0] if f else None,
            "last_f": f[-1] if f else None, "iterations": len(f),
            "random_start": "init_random = true" in run.stdout
            or "Pre-training started" in run.stdout,
            "wall_s": round(time.perf_counter() - t0, 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mlip3-dir", type=Path, required=True)
    parser.add_argument("--mlip2-dir", type=Path, required=True)
    args = parser.parse_args()
    train = read_mlearn_json(DATA / "training.json")[:40]
    test = read_mlearn_json(DATA / "test.json")
    model = fit_mtp(train, level=8, cutoff=5.0, max_iter=60, seed=0, progress=False)
    rows = {"seiflow (the start)": {"test": test_errors(model, test)}}
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        model.save(work / "model")
        start = work / "model" / "potential.mtp"
        write_cfg(train, work / "train.cfg", ["Li"])
        mlp3, mlp2 = str(args.mlip3_dir / "bin" / "mlp"), str(args.mlip2_dir / "bin" / "mlp")
        runs = {  # name: (saved potential, command)
            "MLIP-3": ("mlip3.mtp", [mlp3, "train", str(start), "train.cfg",
                                     "--save_to=mlip3.mtp", f"--iteration_limit={ITERATIONS}",
                                     "--no_mindist_update=true"]),
            "MLIP-3, min_dist updated (its default)": (
                "mlip3-mindist.mtp", [mlp3, "train", str(start), "train.cfg",
                                      "--save_to=mlip3-mindist.mtp",
                                      f"--iteration_limit={ITERATIONS}"]),
            "MLIP-2": ("mlip2.mtp", [mlp2, "train", str(start), "train.cfg",
                                     "--trained-pot-name=mlip2.mtp", f"--max-iter={ITERATIONS}"])}
        for name, (saved, cmd) in runs.items():
            row = mlp_train(cmd, work)
            import_mtp(work / saved, ["Li"], work / f"imported-{saved}")
            row["test"] = test_errors(MTPModel.load(work / f"imported-{saved}"), test)
            rows[name] = row
            print(name, json.dumps(row), flush=True)
    OUT.write_text(json.dumps({"machine": describe(), "level": 8, "training_frames": 40,
                               "test_frames": len(test), "iterations": ITERATIONS,
                               "rows": rows}, indent=1) + "\n")
    print(f"written {OUT}")


if __name__ == "__main__":
    main()

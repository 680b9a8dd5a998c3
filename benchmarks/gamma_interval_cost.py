"""What grading γ between frames costs in `seiflow md`: ns/day of the protocol's Li/Li3InCl6
MTP (benchmarks/results/li_li3incl6_protocol/model, level 12) on its interface repeated 2 × 2
(928 atoms), NVT 300 K, 1 fs, frames every 500 steps, with γ graded at every frame
(``gamma_every: 500``), every 20 steps (the default) and every 5 steps, on the compiled
kernel's MD loop with OMP_NUM_THREADS threads. Rounds alternate the three settings so that
machine load hits them alike; the figure is the median over rounds of ns/day relative to
grading at frames.

Grading hands the state back to Python at each event and multiplies the basis rows by the
active set's inverse (a BLAS product). Before `run_md` held BLAS to one thread in the kernel
loop, OpenBLAS's spinning threads competed with the kernel's OpenMP threads: γ every 20 steps
ran at 14.7 ns/day against 27.7 at frames (2 threads, 2 cores, 2026-12-03).

Run:  OMP_NUM_THREADS=2 .venv/bin/python benchmarks/gamma_interval_cost.py [--rounds 3]
      [--steps 2000]
Writes benchmarks/results/gamma_interval_cost.json.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
from pathlib import Path

import ase.io

sys.path.insert(0, str(Path(__file__).resolve().parent))
from machine import describe  # noqa: E402

from seiflow.md.runner import MDSettings  # noqa: E402
from seiflow.workflows.md import MDConfig, run_md_config  # noqa: E402

HERE = Path(__file__).resolve().parent
PROTOCOL = HERE / "results" / "li_li3incl6_protocol"
OUT = HERE / "results" / "gamma_interval_cost.json"
EVERY = (500, 20, 5)


def one_run(folder: Path, start: Path, every: int, steps: int) -> dict:
    cfg = MDConfig(structure=start, potential=PROTOCOL / "model", out_dir=folder,
                   gamma_every=every,
                   md=MDSettings(ensemble="nvt", temperature_K=300.0, timestep_fs=1.0,
                                 steps=steps, traj_stride=500, checkpoint_every=500, seed=0))
    info = run_md_config(cfg, progress=False)
    return {"ns_per_day": info["ns_per_day"], "graded": info["frames_graded"],
            "max_gamma": info["max_gamma"]}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--steps", type=int, default=2000)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        start = Path(tmp) / "start.extxyz"
        atoms = ase.io.read(PROTOCOL / "interface.extxyz").repeat((2, 2, 1))
        ase.io.write(start, atoms)
        runs = {str(e): [] for e in EVERY}
        for r in range(args.rounds):
            for every in EVERY:
                res = one_run(Path(tmp) / f"r{r}-{every}", start, every, args.steps)
                runs[str(every)].append(res)
                print(f"round {r}: gamma_every={every}: {res['ns_per_day']:.3g} ns/day, "
                      f"{res['graded']} graded, max γ {res['max_gamma']:.3g}", flush=True)
    base = [x["ns_per_day"] for x in runs["500"]]
    rel = {k: round(statistics.median(x["ns_per_day"] / b for x, b in zip(v, base)), 3)
           for k, v in runs.items()}
    doc = {"benchmark": "γ grading interval in seiflow md (kernel MD loop)", "atoms": len(atoms),
           "steps": args.steps, "runs": runs, "ns_per_day_relative_to_frames": rel,
           "machine": describe()}
    OUT.write_text(json.dumps(doc, indent=1))
    print(json.dumps(rel))


if __name__ == "__main__":
    main()

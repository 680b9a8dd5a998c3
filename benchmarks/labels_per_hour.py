"""Labels per hour (energy + forces + stress) for xTB and GPAW on a 24-atom Li2CO3 cell and a
~100-atom amorphous Li2CO3 + Li cell, one process, this machine described.

Run: OMP_NUM_THREADS=1 .venv/bin/python benchmarks/labels_per_hour.py [--gpaw-timeout 1800]
Writes benchmarks/results/labels_per_hour.json (a run past the time limit is recorded as such).
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from machine import describe  # noqa: E402

from seiflow.reference import GPAWSettings, XTBSettings  # noqa: E402
from seiflow.reference.kpoints import kpoint_grid  # noqa: E402
from seiflow.structures import AmorphousSpec, get_phase, pack_amorphous  # noqa: E402

OUT = Path(__file__).parent / "results" / "labels_per_hour.json"


def cells():
    crystal = get_phase("li2co3-c2c")
    crystal.rattle(0.03, seed=1)
    amorphous = pack_amorphous(AmorphousSpec(composition={"Li2CO3": 12, "Li": 28}, seed=2,
                                             expansion=1.15))
    return {"li2co3-c2c (24 atoms)": crystal, f"amorphous ({len(amorphous)} atoms)": amorphous}


def _timed(labeler, atoms, queue):
    t0 = time.perf_counter()
    label = labeler.label(atoms)
    queue.put((time.perf_counter() - t0, label.failure))


def measure(labeler, atoms, timeout: float) -> dict:
    queue: mp.Queue = mp.Queue()
    proc = mp.Process(target=_timed, args=(labeler, atoms, queue))
    proc.start()
    proc.join(timeout)
    if proc.is_alive():
        proc.terminate()
        return {"status": f"not finished within {timeout:.0f} s", "seconds": None,
                "labels_per_hour": f"< {3600 / timeout:.2f}"}
    seconds, failure = queue.get()
    return {"status": "ok" if failure is None else f"failed: {failure}",
            "seconds": round(seconds, 2), "labels_per_hour": round(3600 / seconds, 1)}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--gpaw-timeout", type=float, default=1800)
    args = ap.parse_args()
    rows = []
    for name, atoms in cells().items():
        for labeler, timeout in ((XTBSettings(allow_thin=True), 600),
                                 (GPAWSettings(), args.gpaw_timeout)):
            res = measure(labeler, atoms, timeout)
            extra = {"k_grid": list(kpoint_grid(atoms, labeler.kspacing))} \
                if labeler.name == "gpaw" else {}
            rows.append({"cell": name, "natoms": len(atoms), "labeler": labeler.name,
                         "settings": labeler.model_dump(), **extra, **res})
            print(rows[-1]["cell"], labeler.name, res, flush=True)
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps({"benchmark": "labels per hour (E+F+stress), one process",
                               "rows": rows, "machine": describe()}, indent=2))
    print(f"-> {OUT}")


if __name__ == "__main__":
    main()

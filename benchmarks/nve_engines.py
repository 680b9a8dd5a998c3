"""NVE energy conservation of `seiflow md` with the compiled MTP kernel against motep's engine
(issue 21: "NVE energy conservation with the compiled engine equal to the motep engine's").

One trained MTP (level 8, fitted in a minute to ASE's EMT on rattled, strained Cu/Al cells, as
in lammps_export_check.py), one 256-atom Cu/Al cell started at 600 K, NVE (velocity Verlet),
three ways: the kernel's own MD loop (md/native.py, what `seiflow md` runs), ASE's Verlet with
the kernel calculator, ASE's Verlet with motep's engine (the cross-check engine). Two time
steps, so that the fluctuation's dt² scaling shows a correct integrator. Per run: the spread
(standard deviation) of E_tot and its drift (least-squares slope), eV/atom and eV/atom/ps, from
thermo.csv (every 10 steps, also the frame interval); the largest |ΔE_tot| between the engines
at equal steps says whether they follow the same trajectory.

Run:  OMP_NUM_THREADS=1 .venv/bin/python benchmarks/nve_engines.py [--steps 2000]
Writes benchmarks/results/nve_engines.json.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from lammps_export_check import emt_model_and_cell  # noqa: E402
from machine import describe  # noqa: E402

from seiflow.md import MDSettings, run_md  # noqa: E402
from seiflow.md.thermo import read_thermo  # noqa: E402

OUT = Path(__file__).resolve().parent / "results" / "nve_engines.json"
WAYS = {"kernel loop": ("kernel", True), "ASE Verlet, kernel": ("kernel", False),
        "ASE Verlet, motep": ("motep", False)}


def run(model, cell, engine: str, kernel_loop: bool, dt_fs: float, steps: int,
        out: Path) -> dict:
    settings = MDSettings(ensemble="nve", steps=steps, temperature_K=600.0, timestep_fs=dt_fs,
                          seed=1, traj_stride=10, checkpoint_every=steps)
    c0 = time.process_time()
    run_md(cell, model.calculator(grade=False, engine=engine), settings, out, progress=False,
           kernel_loop=kernel_loop)
    cpu = time.process_time() - c0
    thermo = read_thermo(out / "thermo.csv")
    t, e = thermo["time_fs"] / 1000.0, thermo["Etot_eV"] / len(cell)
    return {"cpu_s": round(cpu, 2), "Etot_std_eV_per_atom": float(np.std(e)),
            "drift_eV_per_atom_per_ps": float(np.polyfit(t, e, 1)[0]),
            "Etot_eV_per_atom": e.tolist()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=2000, help="steps at 1 fs (half at 2 fs)")
    args = parser.parse_args()
    model, cell = emt_model_and_cell()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for dt in (1.0, 2.0):
            steps = int(args.steps / dt)
            runs = {way: run(model, cell, engine, loop, dt, steps, Path(tmp) / f"{way}-{dt}")
                    for way, (engine, loop) in WAYS.items()}
            ref = np.array(runs["ASE Verlet, motep"]["Etot_eV_per_atom"])
            row = {"timestep_fs": dt, "steps": steps, "atoms": len(cell)}
            for way, r in runs.items():
                e = np.array(r.pop("Etot_eV_per_atom"))
                r["max_abs_dEtot_vs_motep_eV_per_atom"] = float(np.abs(e - ref).max())
                row[way] = r
                print(f"dt {dt:.1f} fs  {way:20s} E_tot spread {r['Etot_std_eV_per_atom']:.2e}"
                      f" eV/atom, drift {r['drift_eV_per_atom_per_ps']:+.1e} eV/atom/ps,"
                      f" vs motep {r['max_abs_dEtot_vs_motep_eV_per_atom']:.1e},"
                      f" CPU {r['cpu_s']:.1f} s", flush=True)
            rows.append(row)
    OUT.write_text(json.dumps({"machine": describe(), "model": "MTP level 8 fitted to EMT "
                               "Cu/Al (24 cells, lammps_export_check.emt_model_and_cell)",
                               "cell": "256-atom Cu/Al fcc, NVE from 600 K", "rows": rows},
                              indent=1) + "\n")
    print(f"written {OUT}")


if __name__ == "__main__":
    main()

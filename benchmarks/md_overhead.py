"""What `seiflow md` costs beyond the force call: CPU time per MD step (integrator, thermostat,
barostat, neighbour-list checks, frames and checkpoints, the γ observer) over CPU time per bare
calculator call (energy + forces, + stress for NPT), with seiflow's compiled MTP kernel on one
thread.

Cases: LiF 3×3×3 (216 atoms) at levels 10 and 16 and Li2CO3 3×4×4 (1,152 atoms, the size of
the reference paper's cells) at level 16; NVE (velocity Verlet) and NVT (Nosé–Hoover chain) in
the kernel's own loop (md/native.py, what `seiflow md` runs for them) and, for comparison, on
ASE's integrators ("-ase"), likewise NPT (MTK); frames every 50 steps and a checkpoint at the
end of each run. "graded": NVT with the graded calculator and the γ observer every step, as the
active-learning loop explores; "graded/20": the observer every 20 steps, as production runs
watch γ; each against the same bare (ungraded) call.

A second, finer measure isolates the integrator itself: the kernel loop's NVT and NPT steps
(``KernelEngine.md_steps``: velocity Verlet + Nosé–Hoover chain (+ MTK barostat) + skin checks
and rebuilds, no frames) against the engine's bare call (``KernelEngine.calculate``, no ASE),
alternating blocks of 10 steps 60 times in one process, so that load changes hit both alike
("integrator" rows).

The models have random coefficients with the moment coefficients set to zero: the kernel does
all its work (cost does not depend on the values) while the atoms move ballistically at thermal
speed, so neighbour lists are rebuilt at a thermal rate without a trained model. Bare calls and
MD runs alternate, round by round, so that machine load hits both alike; the figure is the
median over rounds of (CPU per MD step) / (CPU per bare call).

Run:  OMP_NUM_THREADS=1 .venv/bin/python benchmarks/md_overhead.py [--rounds 5] [--steps 100]
Writes benchmarks/results/md_overhead.json.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from ase import units
from ase.build import bulk

sys.path.insert(0, str(Path(__file__).resolve().parent))
from machine import describe  # noqa: E402
from mtp_speed import forceless_model_for  # noqa: E402

from seiflow.md import GammaWatch, MDSettings, run_md  # noqa: E402
from seiflow.potentials.mtp.kernel import KernelEngine  # noqa: E402
from seiflow.structures.library import get_phase  # noqa: E402

OUT = Path(__file__).resolve().parent / "results" / "md_overhead.json"
ALL = ("nve", "nve-ase", "nvt", "nvt-ase", "npt", "npt-ase", "graded", "graded-ase",
       "graded/20", "graded/20-ase")
CASES = (("LiF 216", 10, ALL), ("LiF 216", 16, ALL),
         ("Li2CO3 1152", 16, ("nvt", "nvt-ase", "npt", "npt-ase", "graded/20",
                              "graded/20-ase")))


def structure(name: str):
    if name == "LiF 216":
        return bulk("LiF", "rocksalt", 4.03, cubic=True).repeat(3)
    return get_phase("li2co3-c2c").repeat((3, 4, 4))


def bare_cpu(model, atoms, steps: int, stress: bool, rng) -> float:
    """CPU seconds per ungraded call after a small move (the neighbour list kept)."""
    work = atoms.copy()
    work.calc = model.calculator(grade=False)
    work.get_forces()
    c0 = time.process_time()
    for _ in range(steps):
        work.positions += rng.normal(scale=0.002, size=work.positions.shape)
        work.get_forces()
        if stress:
            work.get_stress()
    return (time.process_time() - c0) / steps


def md_cpu(model, atoms, steps: int, variant: str, seed: int) -> float:
    """CPU seconds per step of `seiflow md`'s loop (run_md) from a fresh start."""
    name, ase_loop = variant.removesuffix("-ase"), variant.endswith("-ase")
    graded = name.startswith("graded")
    settings = MDSettings(steps=steps, temperature_K=600.0, timestep_fs=0.5, seed=seed,
                          ensemble="nvt" if graded else name, traj_stride=50,
                          checkpoint_every=steps)
    observers = [(GammaWatch(), 20 if name.endswith("/20") else 1)] if graded else None
    with tempfile.TemporaryDirectory() as out:
        c0 = time.process_time()
        run_md(atoms, model.calculator(grade=graded), settings, out, observers=observers,
               progress=False, kernel_loop=not ase_loop)
        return (time.process_time() - c0) / steps


def integrator_ratio(model, atoms, rng, npt: bool, blocks: int = 60, block: int = 10) -> dict:
    """CPU per kernel-loop NVT (or NPT) step over CPU per bare engine call, fine-interleaved."""
    engine = KernelEngine(model.data, threads=1)
    work, probe = atoms.copy(), atoms.copy()
    engine.set_forces(engine.calculate(work)["forces"])
    momenta = rng.normal(scale=0.05, size=(len(atoms), 3))
    masses = atoms.get_masses()
    kT, tau = units.kB * 600.0, 100.0 * units.fs
    chain = {"kT": kT, "Q": np.array([3 * len(atoms) * kT * tau**2, kT * tau**2, kT * tau**2]),
             "eta": np.zeros(3), "p_eta": np.zeros(3)}
    tau_p = 500.0 * units.fs
    baro = {"W": (len(atoms) + 1) * kT * tau_p**2, "P": 1e-4 * units.GPa,
            "R": np.array([9 * kT * tau_p**2, kT * tau_p**2, kT * tau_p**2]), "xi": np.zeros(3),
            "p_xi": np.zeros(3), "p_g": np.zeros((3, 3))} if npt else None
    bare = loop = 0.0
    for _ in range(blocks):
        c0 = time.process_time()
        for _ in range(block):
            engine.calculate(probe)
        c1 = time.process_time()
        done, mid = 0, False
        while done < block:
            k, mid, _ = engine.md_steps(work, momenta, masses, block - done, 0.5 * units.fs,
                                        chain, start_mid=mid, barostat=baro)
            done += k
        bare, loop = bare + c1 - c0, loop + time.process_time() - c1
    return {"bare_call_cpu_ms": round(1e3 * bare / (blocks * block), 3),
            "loop_step_cpu_ms": round(1e3 * loop / (blocks * block), 3),
            "overhead": round(loop / bare - 1.0, 3)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--steps", type=int, default=200, help="MD steps (and bare calls) per round")
    args = ap.parse_args()
    load_before = os.getloadavg()
    rng = np.random.default_rng(0)
    rows = []
    for name, level, variants in CASES:
        atoms = structure(name)
        model = forceless_model_for(atoms, level, rng)
        for variant in variants:
            ratios, bare, md = [], [], []
            for r in range(args.rounds):
                b = bare_cpu(model, atoms, args.steps, variant.startswith("npt"), rng)
                m = md_cpu(model, atoms, args.steps, variant, seed=r)
                bare.append(b), md.append(m), ratios.append(m / b)
            row = {"system": name, "atoms": len(atoms), "level": level, "md": variant,
                   "bare_call_cpu_ms": round(1e3 * float(np.median(bare)), 3),
                   "md_step_cpu_ms": round(1e3 * float(np.median(md)), 3),
                   "overhead": round(float(np.median(ratios)) - 1.0, 3),
                   "overhead_rounds": [round(x - 1.0, 3) for x in ratios]}
            rows.append(row)
            print(f"{name:12s} L{level:<3d} {variant:13s} bare {row['bare_call_cpu_ms']:7.2f} ms"
                  f"  MD step {row['md_step_cpu_ms']:7.2f} ms  overhead "
                  f"{100 * row['overhead']:+.1f} %", flush=True)
    integrator = []
    for (name, level, _), ensemble in ((case, e) for case in CASES for e in ("nvt", "npt")):
        atoms = structure(name)
        row = {"system": name, "atoms": len(atoms), "level": level, "md": ensemble,
               **integrator_ratio(forceless_model_for(atoms, level, rng), atoms, rng,
                                  ensemble == "npt")}
        integrator.append(row)
        print(f"{name:12s} L{level:<3d} integrator: bare engine call {row['bare_call_cpu_ms']:.3f}"
              f" ms, kernel-loop {ensemble.upper()} step {row['loop_step_cpu_ms']:.3f} ms, "
              f"overhead {100 * row['overhead']:+.1f} %", flush=True)
    machine = describe()
    machine["loadavg_before_after"] = [load_before, os.getloadavg()]
    OUT.write_text(json.dumps({"machine": machine, "steps_per_round": args.steps,
                               "rounds": args.rounds, "rows": rows,
                               "integrator": integrator}, indent=1) + "\n")
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()

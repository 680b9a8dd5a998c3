"""MTP evaluation speed: µs per atom-step (energy + forces + stress through the ASE calculator,
MD-like: positions rattled by 0.1 Å, then moved by ~0.001 Å before every call so the neighbour
list is kept within its skin) for bcc Li (1,024 atoms) and Li2CO3 (1,152 atoms) at levels 10/16
(and 22), seiflow's compiled kernel against motep's C engine (the cross-check), the kernel on 1
and 2 threads and with the per-step extrapolation grade.

The variants (motep, kernel on 1 and 2 threads, kernel with the grade) are called in turn, one
call each per round, so that a change of machine load hits all alike. Every figure is the median
over the rounds of the process CPU time (less sensitive to a loaded machine than wall time) and
of the wall time; speed-ups are medians of the per-round ratios. Thread efficiency is
wall(1 thread) / (2 × wall(2 threads)) and is only meaningful on an otherwise idle machine (the
load average before and after is recorded).
Speed does not depend on the coefficient values, so the models have random coefficients.

With ``--mlip3-dir`` / ``--mlip2-dir`` (serial builds of MLIP-3 and MLIP-2 made outside the
repository, see ``mlip_crosscheck.py``: their licence forbids redistribution) the same model,
exported as a ``.mtp``, is also evaluated by MLIP's own ``CalcEFS`` on the same structure, in
process (a small driver linked against the build), one call per round in the same turn as the
others: ``mlip3``/``mlip2`` keep the neighbour lists of the first, untimed call (the bare
energy-force-stress cost, what MLIP costs inside LAMMPS between list rebuilds) and the kernel's
ratios are against those; ``mlip3_rebuild`` rebuilds them every call. MLIP-2's ``CalcEFS``
always rebuilds them (it has no way to keep them), so ``mlip2`` includes that cost.

Run:  OMP_NUM_THREADS=1 .venv/bin/python benchmarks/mtp_speed.py [--levels 10 16 22] [--large]
      [--rounds 7] [--mlip3-dir DIR] [--mlip2-dir DIR]   (OMP_NUM_THREADS=1 keeps numpy's BLAS
      on one thread; the kernel's threads are set per call)
Writes benchmarks/results/mtp_speed.json.
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
from ase.build import bulk

sys.path.insert(0, str(Path(__file__).resolve().parent))
from machine import describe  # noqa: E402
from mlip_crosscheck import (  # noqa: E402
    build_driver,
    driver_seconds,
    run_driver,
    write_cfg_exact,
)

from seiflow.potentials.active import ActiveSet  # noqa: E402
from seiflow.potentials.mtp import kernel  # noqa: E402
from seiflow.potentials.mtp.levels import mtp_basis  # noqa: E402
from seiflow.potentials.mtp.model import MTPModel, new_mtp_data  # noqa: E402
from seiflow.structures.library import get_phase  # noqa: E402

OUT = Path(__file__).resolve().parent / "results" / "mtp_speed.json"


def systems(large: bool) -> dict:
    li = bulk("Li", "bcc", 3.44, cubic=True)
    carb = get_phase("li2co3-c2c")
    out = {"Li bcc 1024": li.repeat(8), "Li2CO3 1152": carb.repeat((3, 4, 4))}
    if large:
        out.update({"Li bcc 10404": li.repeat((17, 17, 18)),
                    "Li2CO3 9408": carb.repeat((7, 7, 8))})
    for atoms in out.values():
        atoms.rattle(0.1, seed=1)
    return out


def model_for(atoms, level: int, rng) -> MTPModel:
    species = tuple(dict.fromkeys(atoms.get_chemical_symbols()))
    data = new_mtp_data(mtp_basis(level), species, 5.0, 0.9, 8, rng)
    model = MTPModel(data=data, species=species, level=level)
    m = data.alpha_scalar_moments + len(species)
    model.active_set = ActiveSet.from_matrix(rng.normal(size=(4 * m, m)))
    return model


def forceless_model_for(atoms, level: int, rng) -> MTPModel:
    """``model_for`` with its moment coefficients set to zero: the kernel does all its work
    (cost does not depend on the values) but exerts no forces, so MD atoms move ballistically
    at thermal speed and neighbour lists are rebuilt at a thermal rate without a trained
    model."""
    model = model_for(atoms, level, rng)
    model.data.moment_coeffs *= 0.0
    return model


VARIANTS = {"motep": ("motep", False, 1), "kernel_1thread": ("kernel", False, 1),
            "kernel_2threads": ("kernel", False, 2), "kernel_graded_1thread": ("kernel", True, 1)}


def one_call(work, threads: int, rng) -> tuple[float, float]:
    """CPU and wall seconds of one MD-like calculator call (E+F+S) after a small move."""
    os.environ["OMP_NUM_THREADS"] = str(threads)  # read by the kernel at every call
    work.positions += rng.normal(scale=0.001, size=work.positions.shape)
    c0, w0 = time.process_time(), time.perf_counter()
    work.get_forces()
    work.get_stress()
    return time.process_time() - c0, time.perf_counter() - w0


def mlip_inputs(model: MTPModel, atoms, work: Path) -> tuple[Path, Path]:
    """The model as MLIP's ``.mtp`` and the structure as a full-precision ``.cfg``."""
    from motep.io.mlip.mtp import write_mtp

    write_mtp(work / "speed.mtp", model.data, legacy=True)
    return work / "speed.mtp", write_cfg_exact([atoms], list(model.species), work / "speed.cfg")


def mlip_agreement(exe: Path, mtp: Path, cfg: Path, work) -> dict:
    """MLIP's energy and forces against the kernel's on the benchmark structure (before any
    move): a speed is only worth comparing for the same numbers."""
    (energy, forces), = run_driver(exe, mtp, cfg, 0)[0]
    return {"max_abs_dE_eV_per_atom": abs(energy - work.get_potential_energy()) / len(work),
            "max_abs_dF_eV_per_A": float(np.abs(forces - work.get_forces()).max())}


def measure(name: str, atoms, level: int, rounds: int, rng, drivers: dict[str, Path],
            work: Path) -> dict:
    """Every variant called once per round, in turn (so a change of machine load hits all
    alike); medians over the rounds, and the median of the per-round speed-ups."""
    model = model_for(atoms, level, rng)
    mtp, cfg = mlip_inputs(model, atoms, work) if drivers else (None, None)
    works, times = {}, {key: [] for key in drivers}
    times.update({f"{key}_rebuild": [] for key in drivers if key == "mlip3"})
    for key, (engine, grade, threads) in VARIANTS.items():
        work = atoms.copy()
        work.calc = model.calculator(grade=grade, engine=engine)
        os.environ["OMP_NUM_THREADS"] = str(threads)
        work.get_forces()  # neighbour list, work arrays
        works[key], times[key] = work, []
    same = {key: mlip_agreement(exe, mtp, cfg, works["kernel_1thread"])
            for key, exe in drivers.items()}
    moves = np.random.default_rng(0)
    for _ in range(rounds):
        for key, (_, _, threads) in VARIANTS.items():
            times[key].append(one_call(works[key], threads, moves))
        os.environ["OMP_NUM_THREADS"] = "1"  # MLIP's serial builds: one core
        for key, exe in drivers.items():
            times[key].append(driver_seconds(exe, mtp, cfg, 1, rebuild=False)[:2])
            if f"{key}_rebuild" in times:
                times[f"{key}_rebuild"].append(driver_seconds(exe, mtp, cfg, 1)[:2])
    scale = 1e6 / len(atoms)
    row = {"system": name, "atoms": len(atoms), "level": level, "rounds": rounds,
           **{f"{key}_vs_kernel": agreement for key, agreement in same.items()}}
    for key, t in times.items():
        cpu, wall = np.array(t).T * scale
        row[key] = {"cpu_us": round(float(np.median(cpu)), 2),
                    "wall_us": round(float(np.median(wall)), 2),
                    "wall_us_min": round(float(wall.min()), 2)}
    cpu = {key: np.array(t)[:, 0] for key, t in times.items()}
    wall = {key: np.array(t)[:, 1] for key, t in times.items()}
    for ref in ("motep", *drivers):
        row[f"speedup_cpu_vs_{ref}"] = round(float(np.median(cpu[ref] / cpu["kernel_1thread"])),
                                             2)
    row["grade_overhead"] = round(float(np.median(
        cpu["kernel_graded_1thread"] / cpu["kernel_1thread"])) - 1, 3)
    row["thread_efficiency_2"] = round(float(np.median(
        wall["kernel_1thread"] / (2 * wall["kernel_2threads"]))), 2)
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--levels", type=int, nargs="+", default=[10, 16, 22])
    parser.add_argument("--large", action="store_true", help="also the ~10,000-atom cells")
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--mlip3-dir", default=os.environ.get("SEIFLOW_MLIP_DIR"),
                        help="a serial MLIP-3 build (obj/serial); env SEIFLOW_MLIP_DIR")
    parser.add_argument("--mlip2-dir", default=os.environ.get("SEIFLOW_MLIP2_DIR"),
                        help="a serial MLIP-2 build (obj/ser); env SEIFLOW_MLIP2_DIR")
    args = parser.parse_args()
    if not kernel.available():
        raise SystemExit(f"seiflow's MTP kernel is not built: {kernel.LOAD_ERROR}")
    rng = np.random.default_rng(0)
    load_before = os.getloadavg()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        drivers = {}
        for key, folder in (("mlip3", args.mlip3_dir), ("mlip2", args.mlip2_dir)):
            if folder:
                (work / key).mkdir()
                drivers[key] = build_driver(Path(folder), work / key)
        for name, atoms in systems(args.large).items():
            for level in args.levels:
                row = measure(name, atoms, level, args.rounds, rng, drivers, work)
                rows.append(row)
                print(summary(name, level, row, drivers), flush=True)
    OUT.parent.mkdir(exist_ok=True)
    machine = describe()
    machine["loadavg_before_after"] = [load_before, os.getloadavg()]
    OUT.write_text(json.dumps({"machine": machine, "kernel_openmp": kernel.openmp_threads() > 0,
                               "mlip": {key: str(getattr(args, f"{key}_dir"))
                                        for key in drivers},
                               "rows": rows}, indent=1))


def summary(name: str, level: int, row: dict, drivers: dict) -> str:
    """One printed line per row: CPU µs/atom-step of every engine, the kernel's ratios."""
    k1w, k2w = row["kernel_1thread"]["wall_us"], row["kernel_2threads"]["wall_us"]
    others = "".join(f"  {key} {row[key]['cpu_us']:6.1f} (x{row[f'speedup_cpu_vs_{key}']:.1f})"
                     for key in drivers)
    kernel_us = row["kernel_1thread"]["cpu_us"]
    return (f"{name:13s} L{level:2d}  CPU µs/atom-step: kernel {kernel_us:5.1f}"
            f"  motep {row['motep']['cpu_us']:6.1f} (x{row['speedup_cpu_vs_motep']:.1f}){others}"
            f"  graded {row['kernel_graded_1thread']['cpu_us']:5.1f};  wall 1/2 threads "
            f"{k1w:5.1f}/{k2w:5.1f} (eff. {row['thread_efficiency_2']:.2f})")


if __name__ == "__main__":
    main()

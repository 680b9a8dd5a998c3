"""Is the teacher right for the Li/Li3InCl6 reaction? SevenNet-0 against GPAW PBE on the
reactants (bcc Li, Li3InCl6) and the products (tetragonal In, rocksalt LiCl) of
3 Li + Li3InCl6 -> 6 LiCl + In (Golov & Carrasco, ../shared/papers/golov-carrasco-li3incl6-deepmd.md).

1. cells: each library phase relaxed with SevenNet-0 under its space group (FixSymmetry +
   FrechetCellFilter + FIRE, benchmarks/teacher_table.relax_cell); a, c, volume per formula
   unit against experiment (the phase library's sources).
2. PBE at the teacher's cells: GPAW single points of the teacher-relaxed primitive cells give
   the pressure PBE puts on the teacher's cell (GPa; > 0: PBE wants it larger) and the largest
   PBE force on its atoms (eV/Å; Li3InCl6 is the one phase with free coordinates).
3. reaction energy per formula unit, ΔE = 6 E(LiCl) + E(In) - E(Li3InCl6) - 3 E(Li), from the
   teacher and from PBE at the teacher's cells (PBE relaxation would lower each PBE energy by
   about V P² / 2B, stated in the results); convergence: each PBE crystal again at a finer
   k-point spacing and at a lower plane-wave cut-off.
4. forces off equilibrium: one copy of each cell rattled by 0.08 Å (seeded): force RMSE and
   largest force error of the teacher against PBE, and the rattle energy E(rattled) - E(crystal)
   per atom from both (an energy difference, free of the teacher's constant offset).

Every GPAW point is stored when it finishes (a rerun computes only what is missing) in
benchmarks/results/li3incl6_teacher_check.json with its wall time and the machine; a file with
other settings is refused. Run:
    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/li3incl6_teacher_check.py
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import numpy as np
from ase import Atoms
from ase.units import GPa

sys.path.insert(0, str(Path(__file__).resolve().parent))
from machine import describe  # noqa: E402
from teacher_table import relax_cell  # noqa: E402

from seiflow.reference import GPAWSettings  # noqa: E402
from seiflow.reference.sevennet import SevenNetLabeler  # noqa: E402
from seiflow.structures.library import get_phase  # noqa: E402

OUT = Path(__file__).resolve().parent / "results" / "li3incl6_teacher_check.json"
ECUT, ECUT_LOW = 800.0, 600.0  # eV
# phase: (formula units in the primitive cell, metal, repeat of the conventional cell to rattle)
PHASES = {
    "li-bcc": (1, True, (2, 2, 2)),
    "in-bct": (1, True, (2, 2, 1)),
    "licl": (1, False, (1, 1, 1)),
    "li3incl6": (1, False, None),  # the primitive cell (10 atoms) is rattled
}
KSPACING = {True: (0.2, 0.12), False: (0.35, 0.25)}  # metal: (main, finer) in 1/Å
REACTION = {"licl": 6, "in-bct": 1, "li3incl6": -1, "li-bcc": -3}  # per formula unit
RATTLE_A, RATTLE_SEEDS = 0.08, (1,)


def primitive(atoms: Atoms) -> Atoms:
    from pymatgen.io.ase import AseAtomsAdaptor
    from pymatgen.symmetry.analyzer import SpacegroupAnalyzer

    structure = AseAtomsAdaptor.get_structure(atoms)
    prim = SpacegroupAnalyzer(structure, symprec=1e-3).get_primitive_standard_structure()
    return AseAtomsAdaptor.get_atoms(prim)


def teacher_numbers(calc, atoms: Atoms) -> dict:
    atoms = atoms.copy()
    atoms.calc = calc
    return {"energy_eV": float(atoms.get_potential_energy()),
            "forces_eV_A": atoms.get_forces().tolist(),
            "stress_GPa": (atoms.get_stress() / GPa).tolist()}


def pbe_point(doc: dict, key: str, atoms: Atoms, settings: GPAWSettings) -> dict:
    """One GPAW single point, stored under ``key`` as soon as it is done."""
    if key in doc["pbe"]:
        return doc["pbe"][key]
    t0 = time.perf_counter()
    label = settings.label(atoms)
    if label.failure is not None:
        raise SystemExit(f"GPAW failed on {key}: {label.failure}")
    doc["pbe"][key] = {"energy_eV": label.energy, "forces_eV_A": np.asarray(label.forces).tolist(),
                       "stress_GPa": (np.asarray(label.stress) / GPa).tolist(),
                       "n_atoms": len(atoms), "settings": settings.model_dump(mode="json"),
                       "wall_s": round(time.perf_counter() - t0, 1)}
    save(doc)
    print(f"  {key}: {doc['pbe'][key]['wall_s']} s", flush=True)
    return doc["pbe"][key]


def points(doc: dict) -> list[tuple[str, Atoms, GPAWSettings]]:
    """Every GPAW point, in the order that answers the most first: the crystals at the main
    settings (pressures, reaction energy), then the rattled cells (forces), then the
    convergence checks (lower cut-off, then finer k mesh); in each, the salts before the
    metals, whose fine meshes cost hours."""
    crystal, rattled, ecut, fine = [], [], [], []
    for phase, (_, metal, _) in sorted(PHASES.items(), key=lambda item: item[1][1]):
        t, (k_main, k_fine) = doc["teacher"][phase], KSPACING[metal]
        atoms = from_dict(t["crystal"]["atoms"])
        crystal.append((f"{phase}/crystal/main", atoms, GPAWSettings(ecut=ECUT, kspacing=k_main)))
        rattled += [(f"{phase}/rattled{s}", from_dict(t[f"rattled{s}"]["atoms"]),
                     GPAWSettings(ecut=ECUT, kspacing=k_main)) for s in RATTLE_SEEDS]
        ecut.append((f"{phase}/crystal/ecut", atoms, GPAWSettings(ecut=ECUT_LOW, kspacing=k_main)))
        fine.append((f"{phase}/crystal/fine", atoms, GPAWSettings(ecut=ECUT, kspacing=k_fine)))
    return crystal + rattled + ecut + fine


def save(doc: dict) -> None:
    doc["machine"] = describe()
    tmp = OUT.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(doc, indent=1))
    tmp.replace(OUT)


def pressure(stress_voigt) -> float:
    return -float(np.mean(stress_voigt[:3]))


def phase_row(doc: dict, phase: str) -> dict:
    """What the points computed so far say about one phase (a key is absent until its points
    are done)."""
    t, pbe = doc["teacher"][phase], doc["pbe"]
    row = dict(doc["cells"][phase])
    main = pbe.get(f"{phase}/crystal/main")
    if main is None:
        return row
    p = pressure(main["stress_GPa"])
    row["pbe_pressure_at_teacher_cell_GPa"] = round(p, 2)
    row["pbe_max_force_at_teacher_cell_eV_A"] = round(float(np.abs(main["forces_eV_A"]).max()), 3)
    checks = [pbe.get(f"{phase}/crystal/{s}") for s in ("fine", "ecut")]
    if all(checks):
        row["pbe_pressure_spread_GPa"] = round(max(abs(pressure(c["stress_GPa"]) - p)
                                                   for c in checks), 2)
    rattled = [(pbe.get(f"{phase}/rattled{s}"), t[f"rattled{s}"]) for s in RATTLE_SEEDS]
    if not all(pb for pb, _ in rattled):
        return row
    crystal_teacher = t["crystal"]["energy_eV"] / main["n_atoms"]  # eV/atom
    crystal_pbe = main["energy_eV"] / main["n_atoms"]
    err = np.concatenate([np.asarray(tr["forces_eV_A"]) - np.asarray(pb["forces_eV_A"])
                          for pb, tr in rattled])
    pbe_forces = np.concatenate([pb["forces_eV_A"] for pb, _ in rattled])
    row.update({
        "rattled_force_rmse_eV_A": round(float(np.sqrt(np.mean(err**2))), 4),
        "rattled_force_max_error_eV_A": round(float(np.abs(err).max()), 3),
        "rattled_pbe_force_rms_eV_A": round(float(np.sqrt(np.mean(pbe_forces**2))), 3),
        "rattle_energy_meV_per_atom": {
            "teacher": [round(1e3 * (tr["energy_eV"] / pb["n_atoms"] - crystal_teacher), 2)
                        for pb, tr in rattled],
            "pbe": [round(1e3 * (pb["energy_eV"] / pb["n_atoms"] - crystal_pbe), 2)
                    for pb, _ in rattled]}})
    return row


def reaction_energy(doc: dict) -> dict | None:
    """ΔE of 3 Li + Li3InCl6 -> 6 LiCl + In per formula unit (eV) from both methods, once every
    crystal's main point is done; its PBE convergence once the checks are done too."""
    def per_fu(phase: str, setting: str) -> float | None:
        point = doc["pbe"].get(f"{phase}/crystal/{setting}")
        return None if point is None else point["energy_eV"] / PHASES[phase][0]

    main = {phase: per_fu(phase, "main") for phase in PHASES}
    if None in main.values():
        return None
    teacher = sum(REACTION[p] * doc["teacher"][p]["crystal"]["energy_eV"] / PHASES[p][0]
                  for p in PHASES)
    checks = {p: [per_fu(p, s) for s in ("fine", "ecut")] for p in PHASES}
    spread = None if any(None in v for v in checks.values()) else sum(
        abs(REACTION[p]) * max(abs(e - main[p]) for e in checks[p]) for p in PHASES)
    return {"reaction": "3 Li + Li3InCl6 -> 6 LiCl + In", "teacher": round(teacher, 3),
            "pbe_at_teacher_cells": round(sum(REACTION[p] * main[p] for p in PHASES), 3),
            "pbe_convergence_eV": None if spread is None else round(spread, 3),
            "note": "PBE at the teacher's cells; a PBE relaxation lowers each term by about "
                    "V P^2 / 2B (a few meV per formula unit at the pressures in 'phases')"}


def summarise(doc: dict) -> dict:
    return {"phases": {p: phase_row(doc, p) for p in PHASES if p in doc["teacher"]},
            "reaction_energy_eV_per_fu": reaction_energy(doc)}


def main() -> None:
    doc = json.loads(OUT.read_text()) if OUT.exists() else {}
    doc.setdefault("benchmark", "SevenNet-0 vs GPAW PBE on the Li/Li3InCl6 reactants and "
                   "products")
    doc.setdefault("pbe", {})
    settings = {"ecut_eV": ECUT, "ecut_low_eV": ECUT_LOW, "rattle_A": RATTLE_A,
                "kspacing_per_A": {"metal": list(KSPACING[True]),
                                   "insulator": list(KSPACING[False])}}
    if doc.setdefault("settings", settings) != settings:
        raise SystemExit(f"{OUT} holds points computed with other settings: move it away")
    teacher = SevenNetLabeler()
    calc = teacher.calculator()
    doc.setdefault("teacher", {})
    doc.setdefault("cells", {})
    for phase, (_, _, repeat) in PHASES.items():
        print(phase, flush=True)
        if phase not in doc["teacher"]:
            t0 = time.perf_counter()
            library = get_phase(phase)
            relaxed, steps, _ = relax_cell(library, teacher)
            prim = primitive(relaxed)
            a, _, c, *_ = relaxed.cell.cellpar()
            exp = library.cell.cellpar()
            doc["cells"][phase] = {
                "teacher_a_c_A": [round(a, 4), round(c, 4)],
                "experiment_a_c_A": [round(exp[0], 4), round(exp[2], 4)],
                "teacher_vs_experiment_volume_percent": round(
                    100 * (relaxed.get_volume() / library.get_volume() - 1), 2),
                "teacher_relax_steps": steps}
            rattled = {}
            base = prim if repeat is None else relaxed.repeat(repeat)
            for seed in RATTLE_SEEDS:
                r = base.copy()
                r.rattle(RATTLE_A, seed=seed)
                rattled[seed] = r
            doc["teacher"][phase] = {
                "crystal": {**teacher_numbers(calc, prim), "atoms": atoms_dict(prim)},
                **{f"rattled{s}": {**teacher_numbers(calc, r), "atoms": atoms_dict(r)}
                   for s, r in rattled.items()},
                "relax_wall_s": round(time.perf_counter() - t0, 1)}
            save(doc)
    for key, atoms, settings in points(doc):
        pbe_point(doc, key, atoms, settings)
        doc["summary"] = summarise(doc)
        save(doc)
    print(json.dumps(doc["summary"], indent=1))


def atoms_dict(atoms: Atoms) -> dict:
    return {"symbols": atoms.get_chemical_symbols(), "cell_A": atoms.cell.tolist(),
            "positions_A": atoms.positions.tolist()}


def from_dict(d: dict) -> Atoms:
    return Atoms(d["symbols"], positions=d["positions_A"], cell=d["cell_A"], pbc=True)


if __name__ == "__main__":
    main()

"""Errors of any potential against labelled structures, per component and per group.

Units: energy meV/atom, forces eV/Å (per Cartesian component), stress GPa (per Voigt component).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from ase import Atoms

from seiflow.core.progress import progress_bar
from seiflow.core.units import GPA
from seiflow.data.labels import Label
from seiflow.potentials.base import ModelError, Potential

COMPONENTS = {"energy": "meV/atom", "forces": "eV/Å", "stress": "GPa"}


@dataclass
class Parity:
    """Reference and predicted values of one component, with the group of each value."""

    ref: list[float] = field(default_factory=list)
    pred: list[float] = field(default_factory=list)
    group: list[str] = field(default_factory=list)

    def extend(self, ref, pred, group: str) -> None:
        ref, pred = np.ravel(ref), np.ravel(pred)
        self.ref.extend(ref.tolist())
        self.pred.extend(pred.tolist())
        self.group.extend([group] * ref.size)

    def errors(self, group: str | None = None) -> dict:
        ref, pred = np.asarray(self.ref), np.asarray(self.pred)
        if group is not None:
            keep = np.asarray(self.group) == group
            ref, pred = ref[keep], pred[keep]
        if ref.size == 0:
            return {"n": 0, "rmse": None, "mae": None, "max": None}
        d = pred - ref
        return {"n": int(d.size), "rmse": float(np.sqrt(np.mean(d**2))),
                "mae": float(np.mean(np.abs(d))), "max": float(np.max(np.abs(d)))}


def predict(potential: Potential, frames: Sequence[Atoms],
            group_key: str = "group") -> dict[str, Parity]:
    """Reference vs predicted energy per atom (meV/atom, both), forces and stress."""
    return predict_frames(potential, frames, group_key)[0]


FRAME_COLUMNS = ("id", "source", "group", "split", "natoms", "energy_error_meV_per_atom",
                 "max_force_error_eV_per_A", "stress_rmse_GPa", "max_gamma")


def predict_frames(potential: Potential, frames: Sequence[Atoms], group_key: str = "group",
                   grade: bool = False, progress: bool = False,
                   description: str = "evaluate") -> tuple[dict[str, Parity], list[dict]]:
    """``predict`` and one row per frame (``FRAME_COLUMNS``): |ΔE| per atom (meV/atom), the
    largest per-atom |ΔF| (norm of the force error vector, eV/Å), the RMSE of the six stress
    components (GPa; periodic frames with a stress label) and, with ``grade``, the largest γ
    (None where the model has no grade)."""
    out = {name: Parity() for name in COMPONENTS}
    rows = []
    calc = potential.calculator(grade=False)
    grading = grade
    with progress_bar(progress) as bar:
        task = bar.add_task(description, total=len(frames))
        for atoms in frames:
            rows.append(_predict_one(atoms, calc, out, frame_group(atoms, group_key)))
            if grading:
                gammas = _grade(potential, atoms)
                grading = gammas is not None
                rows[-1]["max_gamma"] = None if gammas is None else float(np.max(gammas))
            bar.update(task, advance=1)
    return out, rows


def frame_group(atoms: Atoms, group_key: str = "group") -> str:
    """The group a frame's errors are reported under: ``info[group_key]`` (the label store's
    group), else its ``builder``, else "all"."""
    for key in (group_key, "builder"):
        if atoms.info.get(key) not in (None, ""):
            return str(atoms.info[key])
    return "all"


def _predict_one(atoms: Atoms, calc, out: dict[str, Parity], group: str) -> dict:
    """Predict one frame, extend the parity data, return its per-frame row."""
    label = Label.from_atoms(atoms)
    work = atoms.copy()
    work.calc = calc
    n = len(atoms)
    row = {"id": atoms.info.get("id"), "source": str(atoms.info.get("source", "")),
           "group": group, "split": atoms.info.get("split"), "natoms": n,
           "energy_error_meV_per_atom": None, "max_force_error_eV_per_A": None,
           "stress_rmse_GPa": None, "max_gamma": None}
    if label.energy is not None:
        ref, pred = 1000 * label.energy / n, 1000 * work.get_potential_energy() / n
        out["energy"].extend(ref, pred, group)
        row["energy_error_meV_per_atom"] = float(abs(pred - ref))
    if label.forces is not None:
        pred = work.get_forces()
        out["forces"].extend(label.forces, pred, group)
        row["max_force_error_eV_per_A"] = float(np.linalg.norm(pred - label.forces,
                                                               axis=1).max())
    if label.stress is not None and atoms.cell.rank == 3 and all(atoms.pbc):
        ref, pred = label.stress / GPA, work.get_stress() / GPA
        out["stress"].extend(ref, pred, group)
        row["stress_rmse_GPa"] = float(np.sqrt(np.mean((pred - ref) ** 2)))
    return row


def _grade(potential: Potential, atoms: Atoms) -> np.ndarray | None:
    """Per-atom γ, or None where the model cannot grade (no grade, no active set)."""
    try:
        return potential.grade(atoms)
    except ModelError:
        return None


def error_table(parity: dict[str, Parity]) -> dict:
    """{"all": {component: errors}, group: {...}, ...}; energy errors relative to the
    reference's per-atom energy (no offset removed)."""
    groups = sorted({g for p in parity.values() for g in p.group})
    table = {"all": {c: p.errors() for c, p in parity.items()}}
    if len(groups) > 1:
        for g in groups:
            table[g] = {c: p.errors(g) for c, p in parity.items()}
    return table

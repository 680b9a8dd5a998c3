"""Errors of any potential against labelled structures, per component and per group.

Units: energy meV/atom, forces eV/Å (per Cartesian component), stress GPa (per Voigt component).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from ase import Atoms

from seiflow.core.units import GPA
from seiflow.data.labels import Label
from seiflow.potentials.base import Potential

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
    out = {name: Parity() for name in COMPONENTS}
    calc = potential.calculator(grade=False)
    for atoms in frames:
        label = Label.from_atoms(atoms)
        group = str(atoms.info.get(group_key, "all"))
        work = atoms.copy()
        work.calc = calc
        n = len(atoms)
        if label.energy is not None:
            out["energy"].extend(1000 * label.energy / n, 1000 * work.get_potential_energy() / n,
                                 group)
        if label.forces is not None:
            out["forces"].extend(label.forces, work.get_forces(), group)
        if label.stress is not None and atoms.cell.rank == 3 and all(atoms.pbc):
            out["stress"].extend(label.stress / GPA, work.get_stress() / GPA, group)
    return out


def error_table(parity: dict[str, Parity]) -> dict:
    """{"all": {component: errors}, group: {...}, ...}; energy errors relative to the
    reference's per-atom energy (no offset removed)."""
    groups = sorted({g for p in parity.values() for g in p.group})
    table = {"all": {c: p.errors() for c, p in parity.items()}}
    if len(groups) > 1:
        for g in groups:
            table[g] = {c: p.errors(g) for c, p in parity.items()}
    return table

"""The label of one structure: energy (eV), forces (eV/Å), stress (eV/Å³, ASE sign and Voigt
order xx yy zz yz xz xy), or the reason it failed. Stored on Atoms as a SinglePointCalculator."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from ase import Atoms
from ase.calculators.singlepoint import SinglePointCalculator
from ase.stress import full_3x3_to_voigt_6_stress

from seiflow.core.errors import SeiflowError

FIT_WEIGHT = "fit_weight"


def fit_weight(atoms: Atoms) -> float:
    """The frame's weight in a fit's loss, ``info["fit_weight"]`` (default 1): it multiplies the
    frame's energy, force and stress terms alike (MTP and MACE fits; mace's config weight). Kept
    with the label in the store, so every later fit of the store weighs the frame the same."""
    w = atoms.info.get(FIT_WEIGHT, 1.0)
    try:
        w = float(w)
    except (TypeError, ValueError):
        w = float("nan")
    if not (np.isfinite(w) and w > 0):
        where = atoms.info.get("source", atoms.get_chemical_formula())
        raise SeiflowError(f"{where}: fit weight must be a positive number, not {w!r}")
    return w


@dataclass
class Label:
    """Reference result for one structure. ``energy`` is force-consistent: the free energy where
    the code reports one. ``stress`` is None for non-periodic structures."""

    energy: float | None = None
    forces: np.ndarray | None = None
    stress: np.ndarray | None = None
    failure: str | None = None
    wall_time: float = 0.0  # s
    extra: dict = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.failure is None

    @classmethod
    def from_atoms(cls, atoms: Atoms) -> Label:
        """The label held by ``atoms.calc`` (None for what it lacks)."""
        res = atoms.calc.results if atoms.calc is not None else {}
        energy, forces, stress = res.get("energy"), res.get("forces"), res.get("stress")
        if stress is not None:
            stress = np.asarray(stress, dtype=float)
            stress = full_3x3_to_voigt_6_stress(stress) if stress.shape == (3, 3) else stress
        return cls(
            None if energy is None else float(energy),
            None if forces is None else np.asarray(forces, dtype=float).reshape(len(atoms), 3),
            None if stress is None else stress.reshape(6),
        )

    def attach(self, atoms: Atoms, copy: bool = True) -> Atoms:
        """``atoms`` (a copy by default) carrying this label as a SinglePointCalculator."""
        out = atoms.copy() if copy else atoms
        results: dict = {}
        if self.energy is not None:
            results["energy"] = float(self.energy)
        if self.forces is not None:
            results["forces"] = np.asarray(self.forces, dtype=float).reshape(len(out), 3)
        if self.stress is not None:
            results["stress"] = np.asarray(self.stress, dtype=float).reshape(6)
        out.calc = SinglePointCalculator(out, **results) if results and self.ok else None
        return out

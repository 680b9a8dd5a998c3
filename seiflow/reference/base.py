"""The Labeler contract: ``label(atoms) -> Label`` with energy (eV), forces (eV/Å) and stress
(eV/Å³, ASE sign and Voigt order), or a failure reason.

A labeler never raises on a physics failure (SCF not converged, NaN, a crashed code): it returns
a failed Label that the store records. Input it cannot treat at all (an element without a basis
or setup, a missing binary, a cell too thin for the method) is refused by ``check`` before any
work starts, with one clear line.
"""

from __future__ import annotations

import hashlib
import time
import traceback
from typing import ClassVar

import numpy as np
from ase import Atoms
from ase.calculators.calculator import Calculator, PropertyNotImplementedError

from seiflow.core.config import StrictModel
from seiflow.core.errors import SeiflowError
from seiflow.data.labels import Label


class LabelerError(SeiflowError):
    """The labeler cannot treat this input at all (element, binary, cell): nothing is run."""


def check_elements(atoms: Atoms, supported: set[str], what: str) -> None:
    """Raise LabelerError naming the elements of ``atoms`` outside ``supported``."""
    missing = sorted(set(atoms.get_chemical_symbols()) - supported)
    if missing:
        raise LabelerError(f"{what} cannot treat element(s) {', '.join(missing)}")


def physics_failure(exc: BaseException) -> str:
    """A one-line reason for a failed calculation, naming SCF non-convergence as such."""
    name = type(exc).__name__
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    if "converge" in name.lower() or "converge" in text.lower():
        return f"SCF not converged ({name}: {text})"
    return f"{name}: {text}" if text else name


def force_consistent_energy(atoms: Atoms) -> float:
    """The energy whose derivatives the forces and stress are: the free energy where the code
    reports one (smeared DFT), else the potential energy."""
    try:
        return float(atoms.get_potential_energy(force_consistent=True))
    except PropertyNotImplementedError:
        return float(atoms.get_potential_energy())


class CalculatorLabeler(StrictModel):
    """Base for labelers that run an ASE calculator. Subclasses give ``name``, a
    ``calculator(atoms)`` factory and ``check(atoms)``."""

    # fields that change how a label is run, not its numbers: left out of the settings hash
    RUNTIME_FIELDS: ClassVar[frozenset[str]] = frozenset()

    def settings_hash(self) -> str:
        """Stable hash of everything that determines the numbers (not of run-time options)."""
        data = self.model_dump_json(exclude=set(self.RUNTIME_FIELDS))
        return hashlib.sha256(data.encode()).hexdigest()[:16]

    def check(self, atoms: Atoms) -> None:  # pragma: no cover - overridden
        """Raise SeiflowError if this labeler cannot treat ``atoms`` at all."""

    def calculator(self, atoms: Atoms) -> Calculator:  # pragma: no cover - overridden
        raise NotImplementedError

    def label(self, atoms: Atoms) -> Label:
        t0 = time.perf_counter()
        work = atoms.copy()
        try:
            work.calc = self.calculator(work)
            energy = force_consistent_energy(work)
            forces = np.array(work.get_forces(), dtype=float)
            stress = np.array(work.get_stress(voigt=True)) if work.pbc.all() else None
        except Exception as exc:  # any crash of the code is a failed label, never an abort
            return Label(failure=physics_failure(exc), wall_time=time.perf_counter() - t0,
                         extra={"traceback": traceback.format_exc(limit=3)})
        values = [energy, forces] + ([stress] if stress is not None else [])
        if not all(np.all(np.isfinite(v)) for v in values):
            return Label(failure="non-finite energy, forces or stress (NaN/inf)",
                         wall_time=time.perf_counter() - t0)
        return Label(energy, forces, stress, wall_time=time.perf_counter() - t0)

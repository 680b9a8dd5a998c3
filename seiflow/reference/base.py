"""The Labeler contract: ``label(atoms) -> Label`` with energy (eV), forces (eV/Å) and stress
(eV/Å³, ASE sign and Voigt order), or a failure reason.

A labeler never raises on a physics failure (SCF not converged, NaN, a crashed code): it returns
a failed Label that the store records. Input it cannot treat at all (an element without a basis
or setup, a missing binary, a cell too thin for the method) is refused by ``check`` before any
work starts, with one clear line.
"""

from __future__ import annotations

import shutil
import tempfile
import time
import traceback
import weakref
from pathlib import Path
from typing import ClassVar

import numpy as np
from ase import Atoms
from ase.calculators.calculator import Calculator, PropertyNotImplementedError

from seiflow.core.config import StrictModel
from seiflow.core.errors import SeiflowError
from seiflow.core.fingerprint import fingerprint
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


def scratch_folder(calc: Calculator, folder: Path, keep: bool) -> None:
    """Make ``folder`` the scratch of ``calc``: removed when the labeler releases ``calc`` or
    when ``calc`` is garbage-collected (a NEB image, a validate run), unless ``keep``."""
    done = (lambda: None) if keep else (lambda: shutil.rmtree(folder, ignore_errors=True))
    calc.seiflow_scratch = weakref.finalize(calc, done)


def new_scratch(prefix: str, parent: str | None) -> Path:
    """A new empty folder for one calculator (under ``parent``, else the system temp)."""
    if parent:
        Path(parent).mkdir(parents=True, exist_ok=True)
    return Path(tempfile.mkdtemp(prefix=prefix, dir=parent))


class CalculatorLabeler(StrictModel):
    """Base for labelers that run an ASE calculator. Subclasses give ``name``, a
    ``calculator(atoms)`` factory and ``check(atoms)``.

    Settings are of two kinds, after ASE's Template/Profile split: *physics* settings decide the
    numbers (functional, cut-off, k-points, model weights) and are hashed into the store's
    settings hash; *launch* settings (``LAUNCH_FIELDS``: the binary and its MPI launcher,
    device, scratch folders, logs) only decide how and where a label is run, so changing them
    (``mpirun -n 16``, a GPU) never relabels a store."""

    # fields that change how a label is run, not its numbers: left out of the settings hash
    LAUNCH_FIELDS: ClassVar[frozenset[str]] = frozenset()

    @classmethod
    def __pydantic_init_subclass__(cls, **kwargs):
        super().__pydantic_init_subclass__(**kwargs)
        unknown = set(cls.LAUNCH_FIELDS) - set(cls.model_fields)
        if unknown:  # a typo here would silently hash a launch option
            raise TypeError(f"{cls.__name__}.LAUNCH_FIELDS names no field: {sorted(unknown)}")

    def physics(self) -> dict:
        """The settings that decide the numbers (hashed)."""
        return self.model_dump(mode="json", exclude=set(self.LAUNCH_FIELDS))

    def launch(self) -> dict:
        """The settings that decide how and where a label runs (not hashed)."""
        return self.model_dump(mode="json", include=set(self.LAUNCH_FIELDS))

    def settings_hash(self) -> str:
        """Stable hash of everything that determines the numbers (not of launch options)."""
        data = self.model_dump_json(exclude=set(self.LAUNCH_FIELDS))
        return fingerprint(data)

    def release(self, calc: Calculator) -> None:
        """Free what ``calculator`` made once a label is done: its child process (a CP2K
        shell) and its scratch folder (see ``scratch_folder``)."""
        cleanup = getattr(calc, "seiflow_scratch", None)
        if cleanup is None:
            return
        close = getattr(calc, "close", None)
        if callable(close):
            close()
        cleanup()

    @property
    def gives_stress(self) -> bool:
        """Whether the calculator computes the stress of a periodic cell (labels of one that
        does not carry none)."""
        return True

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
            stress = np.array(work.get_stress(voigt=True)) \
                if work.pbc.all() and self.gives_stress else None
        except Exception as exc:  # any crash of the code is a failed label, never an abort
            return Label(failure=physics_failure(exc), wall_time=time.perf_counter() - t0,
                         extra={"traceback": traceback.format_exc(limit=3)})
        finally:
            if work.calc is not None:
                self.release(work.calc)
        values = [energy, forces] + ([stress] if stress is not None else [])
        if not all(np.all(np.isfinite(v)) for v in values):
            return Label(failure="non-finite energy, forces or stress (NaN/inf)",
                         wall_time=time.perf_counter() - t0)
        return Label(energy, forces, stress, wall_time=time.perf_counter() - t0)

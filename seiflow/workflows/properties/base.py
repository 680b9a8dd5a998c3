"""What every property calculation shares: where its energies come from (a calculator factory),
how it fails (PropertyFailed, reported in the table, never dropped) and a guarded relaxation.

A property is computed twice, with the potential and with the reference labeler, by the same
code: it only sees a ``CalcFactory``, a function that returns a fresh ASE calculator for a
structure (reference codes choose k-points from the cell, so the factory takes the atoms).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from ase import Atoms
from ase.calculators.calculator import Calculator
from ase.calculators.singlepoint import SinglePointCalculator

from seiflow.core.errors import SeiflowError
from seiflow.core.units import GPA

CalcFactory = Callable[[Atoms], Calculator]

MIN_DISTANCE = 0.6  # Å: two atoms closer than this mean the structure exploded
MAX_VOLUME_CHANGE = 0.5  # fraction: a relaxation that changes the volume more has exploded


class PropertyFailed(SeiflowError):
    """A property calculation did not give a trustworthy number (no convergence, explosion,
    failed SCF). The suite records the reason in the table. ``structures`` (file name → Atoms
    or a list of them) holds what a user needs to act on the failure, such as an NEB band with
    an intermediate minimum; the single-property commands write it next to their summary."""

    def __init__(self, message: str,
                 structures: dict[str, Atoms | list[Atoms]] | None = None) -> None:
        super().__init__(message)
        self.structures = structures or {}


def single_point(atoms: Atoms, factory: CalcFactory, stress: bool = True) -> Atoms:
    """A copy of ``atoms`` with energy, forces and (periodic, if ``stress``) stress from
    ``factory``, frozen in a SinglePointCalculator. A calculator error or a non-finite result
    raises PropertyFailed."""
    work = atoms.copy()
    work.calc = factory(work)
    try:
        results = {"energy": float(work.get_potential_energy()),
                   "forces": np.array(work.get_forces())}
        if stress and work.pbc.all():
            results["stress"] = np.array(work.get_stress(voigt=True))
    except SeiflowError:
        raise
    except Exception as exc:  # SCF failure, NaN... in the calculator
        raise PropertyFailed(f"calculation failed: {type(exc).__name__}: {exc}") from exc
    if not all(np.isfinite(v).all() for v in results.values()):
        raise PropertyFailed("calculator returned non-finite energy, forces or stress")
    out = atoms.copy()
    out.calc = SinglePointCalculator(out, **results)
    return out


def check_sane(atoms: Atoms, reference: Atoms | None = None, what: str = "structure") -> None:
    """Raise PropertyFailed if atoms overlap (< MIN_DISTANCE), positions are non-finite or the
    volume moved more than MAX_VOLUME_CHANGE from ``reference``."""
    if not np.isfinite(atoms.positions).all() or not np.isfinite(atoms.cell.array).all():
        raise PropertyFailed(f"{what} has non-finite positions or cell (exploded)")
    if len(atoms) > 1:
        from ase.neighborlist import neighbor_list

        d = neighbor_list("d", atoms, MIN_DISTANCE)
        if len(d):
            raise PropertyFailed(f"{what} exploded: two atoms {d.min():.2f} Å apart")
    if reference is not None and atoms.pbc.all():
        change = atoms.get_volume() / reference.get_volume() - 1.0
        if abs(change) > MAX_VOLUME_CHANGE:
            raise PropertyFailed(f"{what} exploded: volume changed by {change:+.0%}")


@dataclass
class Relaxed:
    """A relaxed structure (with its single-point results attached) and how it got there."""

    atoms: Atoms
    energy: float  # eV
    steps: int
    fmax: float  # eV/Å, largest residual force
    max_stress: float  # GPa, largest residual stress component (0 when the cell was fixed)


def relax(atoms: Atoms, factory: CalcFactory, *, cell: bool = True, symmetry: bool = True,
          fmax: float = 0.01, smax: float = 0.01, max_steps: int = 500,
          symprec: float = 1e-3, what: str = "relaxation",
          observe: Callable[[Atoms], None] | None = None) -> Relaxed:
    """Relax positions (and the cell when ``cell``) with BFGS on ASE's FrechetCellFilter,
    keeping the space group when ``symmetry`` (ASE FixSymmetry), until every force is below
    ``fmax`` (eV/Å) and every stress component below ``smax`` (GPa). Not converging within
    ``max_steps`` or exploding raises PropertyFailed: a relaxation is never used half done.
    Constraints of ``atoms`` are kept and returned with the result (forces on fixed atoms are
    then zero in ``fmax``). ``observe(atoms)`` (optional) sees the start and every step."""
    from ase.constraints import FixSymmetry
    from ase.filters import FrechetCellFilter
    from ase.optimize import BFGS

    work = atoms.copy()
    work.calc = factory(work)
    own = [c.copy() for c in atoms.constraints]  # the caller's (e.g. FixAtoms) stay on
    if symmetry:
        work.set_constraint(own + [FixSymmetry(work, symprec=symprec)])
    target = FrechetCellFilter(work) if cell else work
    opt = BFGS(target, logfile=None)

    def done() -> bool:
        if np.linalg.norm(work.get_forces(), axis=1).max(initial=0.0) >= fmax:
            return False
        return not cell or np.abs(work.get_stress()).max() / GPA < smax

    converged = False
    try:
        with warnings.catch_warnings():
            # the cell filter's matrix logarithm warns at ~1e-13 round-off: harmless
            warnings.filterwarnings("ignore", message="logm result may be inaccurate")
            # the filter's own criterion mixes stress × volume into "forces"; ours is explicit
            for _ in opt.irun(fmax=0.0, steps=max_steps):
                if observe is not None:
                    observe(work)
                if done():
                    converged = True
                    break
    except SeiflowError:
        raise
    except Exception as exc:
        raise PropertyFailed(f"{what} failed: {type(exc).__name__}: {exc}") from exc
    check_sane(work, atoms if cell else None, what)
    steps = int(opt.nsteps)
    if not converged:
        raise PropertyFailed(f"{what} did not converge (forces < {fmax} eV/Å, stress < {smax} "
                             f"GPa) in {max_steps} steps")
    work.set_constraint(own)
    out = single_point(work, factory)
    forces = out.get_forces()
    stress = out.get_stress() if (cell and out.pbc.all()) else np.zeros(6)
    return Relaxed(out, float(out.get_potential_energy()), steps,
                   float(np.linalg.norm(forces, axis=1).max()) if len(out) else 0.0,
                   float(np.abs(stress).max() / GPA))

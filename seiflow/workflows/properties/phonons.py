"""Harmonic phonons of a relaxed crystal by finite displacements (phonopy), from any calculator
factory: phonopy hands out displaced supercells, the factory gives their forces, phonopy gives
the band structure (seekpath path), DOS, Γ frequencies and imaginary modes (THz).

The supercell is the smallest diagonal repetition of the given cell whose perpendicular widths
all reach ``min_width`` (Å), unless an explicit ``supercell_matrix`` is given. The undisplaced
supercell is computed too: its largest force checks that the input is relaxed, and its forces
are subtracted from the displaced ones (``subtract_residual_forces``).
"""

from __future__ import annotations

import numpy as np
from ase import Atoms
from pydantic import Field, field_validator

from seiflow.analysis.phonons import PhononError, PhononResult, phonon_result, phonon_setup
from seiflow.core.config import StrictModel
from seiflow.structures.geometry import supercell_repeats
from seiflow.workflows.properties.base import CalcFactory, PropertyFailed
from seiflow.workflows.properties.calcs import Calc, Runner, Steps, drive, serial
from seiflow.workflows.properties.crystal import CrystalProperty

__all__ = ["PhononResult", "PhononSettings", "compute_phonons", "supercell_matrix_for"]


class PhononSettings(StrictModel):
    min_width: float = Field(10.0, gt=0, description="smallest perpendicular width of the "
                             "supercell, Å (ignored with supercell_matrix)")
    supercell_matrix: tuple[tuple[int, int, int], tuple[int, int, int],
                            tuple[int, int, int]] | None = Field(
        None, description="explicit 3×3 integer supercell matrix (rows: multiples of the cell)")
    displacement: float = Field(0.01, gt=0, le=0.1, description="finite displacement, Å")
    mesh: float | tuple[int, int, int] = Field(
        30.0, description="q mesh for DOS and imaginary-mode scan: (n1, n2, n3) or a length "
        "in Å (n_i ≈ length × |b_i|)")
    band_npoints: int = Field(51, ge=3, description="q-points on the longest path segment")
    imaginary_threshold: float = Field(-0.1, le=0, description="a mode below this counts as "
                                       "imaginary, THz (negative = imaginary)")
    gamma_fraction: float = Field(0.1, ge=0, lt=0.5, description="acoustic branches within "
                                  "this fraction of the shortest |b| of Γ are not counted")
    subtract_residual_forces: bool = Field(True, description="subtract the undisplaced "
                                           "supercell's forces from the displaced ones")
    max_residual_force: float = Field(0.05, gt=0, description="largest force allowed in the "
                                      "undisplaced supercell (is the input relaxed?), eV/Å")
    symprec: float = Field(1e-5, gt=0, description="symmetry tolerance for phonopy, Å")

    @field_validator("mesh")
    @classmethod
    def _mesh(cls, v):
        if (isinstance(v, tuple) and min(v) < 1) or (not isinstance(v, tuple) and v <= 0):
            raise ValueError("mesh: three positive integers or a positive length in Å")
        return v


def supercell_matrix_for(atoms: Atoms, settings: PhononSettings) -> np.ndarray:
    """The 3×3 supercell matrix: the explicit one, or diagonal repeats reaching min_width."""
    if settings.supercell_matrix is not None:
        return np.array(settings.supercell_matrix, dtype=int)
    return np.diag(supercell_repeats(atoms.cell, len(atoms), min_width=settings.min_width))


def phonon_plan(relaxed_atoms: Atoms, settings: PhononSettings):
    """phonopy's displacements of ``relaxed_atoms`` (``analysis.phonons.PhononSetup``)."""
    if not relaxed_atoms.pbc.all():
        raise PropertyFailed("phonons need a cell periodic in all three directions")
    s = settings
    try:
        return phonon_setup(relaxed_atoms, supercell_matrix_for(relaxed_atoms, s),
                            s.displacement, symprec=s.symprec)
    except PhononError as exc:
        raise PropertyFailed(str(exc)) from exc
    except (RuntimeError, ValueError) as exc:  # phonopy or seekpath refusing the data
        raise PropertyFailed(f"phonopy failed: {type(exc).__name__}: {exc}") from exc


def _forces(cell: Atoms, what: str) -> Calc:
    return Calc("point", cell, what, {"stress": False})


def residual_calc(setup) -> Calc:
    """The first stage: forces of the undisplaced supercell (is the input relaxed?)."""
    return _forces(setup.supercell, "undisplaced supercell")


def displaced_calcs(setup) -> list[Calc]:
    """The second stage: forces of every displaced supercell, in phonopy's order."""
    return [_forces(cell, f"displaced supercell {i + 1}/{len(setup.displaced)}")
            for i, cell in enumerate(setup.displaced)]


def check_residual(residual: np.ndarray, settings: PhononSettings) -> None:
    worst = float(np.linalg.norm(residual, axis=1).max())
    if worst > settings.max_residual_force:
        raise PropertyFailed(f"input is not relaxed: a force of {worst:.3f} eV/Å in the "
                             f"undisplaced supercell (limit {settings.max_residual_force} eV/Å)")


def assemble_phonons(setup, residual: np.ndarray, forces: list[np.ndarray],
                     settings: PhononSettings) -> PhononResult:
    """phonopy's bands, DOS and modes from the displaced supercells' ``forces``."""
    s = settings
    try:
        return phonon_result(setup, forces,
                             residual_forces=residual if s.subtract_residual_forces else None,
                             mesh=s.mesh, band_npoints=s.band_npoints,
                             threshold_THz=s.imaginary_threshold,
                             gamma_fraction=s.gamma_fraction)
    except PhononError as exc:
        raise PropertyFailed(str(exc)) from exc
    except (RuntimeError, ValueError) as exc:  # phonopy or seekpath refusing the data
        raise PropertyFailed(f"phonopy failed: {type(exc).__name__}: {exc}") from exc


def compute_phonons(relaxed_atoms: Atoms, factory: CalcFactory, settings: PhononSettings,
                    progress: bool = False, runner: Runner | None = None) -> PhononResult:
    """Phonons of ``relaxed_atoms`` (THz); see the module docstring. The undisplaced, then the
    displaced supercells are computed by ``runner`` (default: one after another with
    ``factory``). A failed force calculation, an unrelaxed input or unusable phonopy data
    raises PropertyFailed."""
    return drive(phonon_steps(relaxed_atoms, settings),
                 runner or serial(factory, progress, "phonon supercells"))


def phonon_steps(relaxed_atoms: Atoms, settings: PhononSettings) -> Steps:
    """phonopy's displacements, the undisplaced supercell (is the input relaxed?), then the
    displaced ones, assembled by phonopy (``calcs.Steps``)."""
    setup = phonon_plan(relaxed_atoms, settings)
    residual = (yield [residual_calc(setup)])[0].atoms.get_forces()
    check_residual(residual, settings)
    forces = [res.atoms.get_forces() for res in (yield displaced_calcs(setup))]
    return assemble_phonons(setup, residual, forces, settings)


class Phonons(CrystalProperty):
    """Phonon bands and DOS of the relaxed crystal; figure: bands + DOS overlaid."""

    name = "phonons"
    settings_field = "phonons"
    result = PhononResult

    @classmethod
    def steps(cls, target, ctx, start: Atoms) -> Steps:
        return phonon_steps(start, ctx.cfg.phonons)

    @classmethod
    def figure(cls, data: dict, path) -> bool:
        from seiflow.report.properties import plot_phonons

        plot_phonons(data, path)
        return True

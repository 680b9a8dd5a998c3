"""Elastic constants of a relaxed crystal by finite strains, from any calculator factory.

Each of the six Voigt strain modes is applied with each magnitude (Voigt engineering strain;
see seiflow.analysis.elastic) to the relaxed cell; with ``relax_ions`` the positions are
relaxed at each fixed strained cell (relaxed-ion constants, the ones DFT papers report), then
the stress is computed and σ = σ0 + C·e is fitted by least squares. Cij, the Voigt–Reuss–Hill
bulk and shear moduli are in GPa; stresses follow ASE (tensile positive).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from ase import Atoms
from pydantic import Field, field_validator

from seiflow.analysis.elastic import (
    ElasticFit,
    ElasticFitError,
    born_conditions,
    crystal_system,
    fit_elastic,
    independent_constants,
    strain_set,
    strained_cell,
    voigt_strain,
    vrh_moduli,
)
from seiflow.core.config import StrictModel
from seiflow.core.units import GPA
from seiflow.structures.library import spacegroup_of
from seiflow.workflows.properties.base import CalcFactory, PropertyFailed, Relaxed
from seiflow.workflows.properties.calcs import Calc, Runner, Steps, drive, serial
from seiflow.workflows.properties.crystal import CrystalProperty


class ElasticSettings(StrictModel):
    magnitudes: tuple[float, ...] = Field(
        (-0.01, -0.005, 0.005, 0.01),
        description="Voigt engineering strains applied to each of the six modes (fraction)")
    relax_ions: bool = Field(True, description="relax positions in each strained cell "
                             "(relaxed-ion constants)")
    fmax: float = Field(0.01, gt=0, description="force convergence of the ionic relaxation, eV/Å")
    max_steps: int = Field(300, ge=1, description="optimizer steps per ionic relaxation")

    @field_validator("magnitudes")
    @classmethod
    def _magnitudes(cls, v: tuple[float, ...]) -> tuple[float, ...]:
        if len(v) < 2 or any(m == 0 or abs(m) > 0.05 for m in v):
            raise ValueError("give at least two nonzero strains, each |strain| <= 0.05")
        return v


@dataclass
class ElasticResult:
    """Strain–stress data, the fitted stiffness matrix and what follows from it (GPa).

    ``strains``: (n, 6) Voigt engineering strains; ``stresses_GPa``: (n, 6) ASE Voigt stresses
    (xx yy zz yz xz xy, tensile positive); ``fit``: the least-squares fit (see
    seiflow.analysis.elastic.ElasticFit); ``relax_steps``: optimizer steps per strained cell.
    """

    formula: str
    n_atoms: int
    spacegroup: str
    spacegroup_number: int
    relax_ions: bool
    strains: np.ndarray
    stresses_GPa: np.ndarray
    fit: ElasticFit
    relax_steps: list[int]

    @property
    def C_GPa(self) -> np.ndarray:
        return self.fit.C_GPa

    @property
    def crystal_system(self) -> str:
        return crystal_system(self.spacegroup_number)

    @property
    def independent(self) -> tuple[dict[str, float], bool]:
        """Independent constants by name (GPa) and whether the symmetry pattern was used."""
        return independent_constants(self.C_GPa, self.crystal_system)

    def scalars(self) -> dict[str, tuple[float, str]]:
        """Comparison-table rows: each independent constant, B_VRH and G_VRH (GPa)."""
        out = {name: (value, "GPa") for name, value in self.independent[0].items()}
        m = vrh_moduli(self.C_GPa)
        out["B_VRH"] = (m.K_H, "GPa")
        out["G_VRH"] = (m.G_H, "GPa")
        return out

    def to_dict(self) -> dict:
        """JSON-serialisable form (units in key names); ``from_dict`` reads it back. Derived
        values (moduli, stability, independent constants) are included for readers and plots
        and recomputed on reading."""
        fit = self.fit
        stable, lam = fit.born
        independent, pattern = self.independent
        m = vrh_moduli(self.C_GPa)
        return {
            "formula": self.formula, "n_atoms": self.n_atoms, "spacegroup": self.spacegroup,
            "spacegroup_number": self.spacegroup_number, "crystal_system": self.crystal_system,
            "relax_ions": self.relax_ions, "strains": self.strains.tolist(),
            "stresses_GPa": self.stresses_GPa.tolist(), "relax_steps": list(self.relax_steps),
            "C_GPa": fit.C_GPa.tolist(), "stderr_GPa": _finite_or_none(fit.stderr_GPa),
            "asymmetry_GPa": fit.asymmetry_GPa, "residual_GPa": fit.residual_GPa.tolist(),
            "stress0_GPa": fit.stress0_GPa.tolist(), "n_points": fit.n_points,
            "independent_GPa": independent, "symmetry_pattern": pattern,
            "moduli_GPa": {"K_V": m.K_V, "K_R": m.K_R, "K_H": m.K_H, "G_V": m.G_V,
                           "G_R": m.G_R, "G_H": m.G_H},
            "born_stable": stable, "min_eigenvalue_GPa": lam,
            "born_conditions": born_conditions(fit.C_GPa, self.crystal_system),
        }

    @classmethod
    def from_dict(cls, d: dict) -> ElasticResult:
        fit = ElasticFit(C_GPa=np.asarray(d["C_GPa"], dtype=float),
                         stderr_GPa=np.array(d["stderr_GPa"], dtype=float),
                         asymmetry_GPa=float(d["asymmetry_GPa"]),
                         residual_GPa=np.asarray(d["residual_GPa"], dtype=float),
                         stress0_GPa=np.asarray(d["stress0_GPa"], dtype=float),
                         n_points=int(d["n_points"]))
        return cls(formula=d["formula"], n_atoms=int(d["n_atoms"]), spacegroup=d["spacegroup"],
                   spacegroup_number=int(d["spacegroup_number"]),
                   relax_ions=bool(d["relax_ions"]),
                   strains=np.asarray(d["strains"], dtype=float),
                   stresses_GPa=np.asarray(d["stresses_GPa"], dtype=float), fit=fit,
                   relax_steps=[int(x) for x in d["relax_steps"]])


def _finite_or_none(a: np.ndarray) -> list:
    """Nested lists with non-finite entries as None (JSON has no NaN)."""
    return [[float(x) if np.isfinite(x) else None for x in row] for row in np.asarray(a)]


def elastic_calcs(relaxed_atoms: Atoms, settings: ElasticSettings) -> list[Calc]:
    """The plan: one calculation per strained cell (positions relaxed when ``relax_ions``,
    else a single point), in ``strain_set`` order."""
    if not relaxed_atoms.pbc.all():
        raise PropertyFailed("elastic constants need a cell periodic in all three directions")
    calcs = []
    for index, eps in strain_set(settings.magnitudes):
        cell = strained_cell(relaxed_atoms, index, eps)
        what = f"ionic relaxation at strain e{index + 1} = {eps:+g}"
        if settings.relax_ions:
            calcs.append(Calc("relax", cell, what, {
                "cell": False, "symmetry": False, "fmax": settings.fmax,
                "max_steps": settings.max_steps}))
        else:
            calcs.append(Calc("point", cell, what, {"stress": True, "check": True}))
    return calcs


def assemble_elastic(relaxed_atoms: Atoms, settings: ElasticSettings,
                     outcomes: list[Relaxed]) -> ElasticResult:
    """The fit of the strained cells' stresses (``outcomes``, in ``elastic_calcs`` order)."""
    points = strain_set(settings.magnitudes)
    strains = [voigt_strain(index, eps) for index, eps in points]
    stresses = [np.asarray(res.atoms.get_stress(voigt=True)) for res in outcomes]
    steps = [res.steps for res in outcomes]
    try:
        fit = fit_elastic(np.array(strains), np.array(stresses))
    except ElasticFitError as exc:
        raise PropertyFailed(str(exc)) from exc
    try:
        symbol, number = spacegroup_of(relaxed_atoms)
    except Exception as exc:
        raise PropertyFailed(f"space group of the relaxed cell: {exc}") from exc
    return ElasticResult(formula=relaxed_atoms.get_chemical_formula(), n_atoms=len(relaxed_atoms),
                         spacegroup=symbol, spacegroup_number=number,
                         relax_ions=settings.relax_ions, strains=np.array(strains),
                         stresses_GPa=np.array(stresses) / GPA, fit=fit, relax_steps=steps)


def elastic_steps(relaxed_atoms: Atoms, settings: ElasticSettings) -> Steps:
    """Plan, the strained cells' outcomes, assemble (``calcs.Steps``)."""
    calcs = elastic_calcs(relaxed_atoms, settings)
    outcomes = yield calcs
    return assemble_elastic(relaxed_atoms, settings, outcomes)


def compute_elastic(relaxed_atoms: Atoms, factory: CalcFactory, settings: ElasticSettings,
                    progress: bool = False, runner: Runner | None = None) -> ElasticResult:
    """Elastic constants (GPa) of ``relaxed_atoms`` (a relaxed, stress-free crystal); see the
    module docstring. The strained cells are computed by ``runner`` (default: one after
    another with ``factory``). A failed relaxation, calculation or fit raises PropertyFailed."""
    return drive(elastic_steps(relaxed_atoms, settings),
                 runner or serial(factory, progress, "elastic constants"))


class Elastic(CrystalProperty):
    """Relaxed-ion elastic constants of the relaxed crystal; figure: Cij bars."""

    name = "elastic"
    settings_field = "elastic"
    result = ElasticResult

    @classmethod
    def steps(cls, target, ctx, start: Atoms) -> Steps:
        return elastic_steps(start, ctx.cfg.elastic)

    @classmethod
    def figure(cls, data: dict, path) -> bool:
        from seiflow.report.properties import plot_elastic

        plot_elastic(data, path)
        return True

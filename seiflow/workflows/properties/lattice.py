"""Lattice parameters and the equation of state of a crystal, from any calculator factory.

1. Symmetry-preserving relaxation of positions and cell (base.relax with ASE FixSymmetry) →
   a, b, c (Å) and α, β, γ (degrees) of the given cell (the phase library gives conventional
   cells), volume (Å³/atom) and energy (eV/atom).
2. Equation of state: the relaxed cell scaled isotropically to volumes V·(1 + x) for x evenly
   spaced in [−eos_range, +eos_range], positions relaxed at each fixed cell (symmetry kept),
   fitted with a Birch–Murnaghan EOS → V0 (Å³/atom), B0 (GPa), B0'. The cell shape is fixed
   while scaling, so B0 is the modulus of uniform dilation: the Voigt bound K_V of the
   relaxed-ion elastic constants. It equals the bulk modulus for a cubic crystal; for a
   non-cubic one the true (Reuss, shape-relaxed) bulk modulus K_R is smaller.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from ase import Atoms
from pydantic import Field

from seiflow.analysis.elastic import crystal_system
from seiflow.analysis.eos import EOSError, EOSFit, fit_birch_murnaghan
from seiflow.core.config import StrictModel
from seiflow.structures.library import spacegroup_of
from seiflow.workflows.properties.base import CalcFactory, PropertyFailed, Relaxed
from seiflow.workflows.properties.calcs import Calc, Runner, Steps, drive, serial
from seiflow.workflows.properties.crystal import CrystalProperty


class LatticeSettings(StrictModel):
    fmax: float = Field(0.01, gt=0, description="force convergence, eV/Å")
    smax: float = Field(0.01, gt=0, description="stress convergence of the cell relaxation, GPa")
    max_steps: int = Field(500, ge=1, description="optimizer steps per relaxation")
    eos_range: float = Field(0.06, gt=0, lt=0.3,
                             description="EOS volumes span V·(1 ± eos_range), fraction")
    eos_points: int = Field(7, ge=5, le=31, description="number of EOS volumes")
    eos_relax_ions: bool = Field(True, description="relax positions at each EOS volume")


def atoms_to_dict(atoms: Atoms) -> dict:
    """A periodic structure as JSON-ready lists (symbols, cell Å, positions Å, pbc)."""
    return {"symbols": atoms.get_chemical_symbols(), "cell_A": atoms.cell.array.tolist(),
            "positions_A": atoms.positions.tolist(), "pbc": [bool(p) for p in atoms.pbc],
            "source": atoms.info.get("source")}


def atoms_from_dict(d: dict) -> Atoms:
    """Inverse of ``atoms_to_dict``."""
    out = Atoms(symbols=d["symbols"], cell=d["cell_A"], positions=d["positions_A"],
                pbc=d["pbc"])
    if d.get("source") is not None:
        out.info["source"] = d["source"]
    return out


@dataclass
class LatticeResult:
    """Relaxed lattice (Å, degrees, Å³/atom, eV/atom) and its Birch–Murnaghan EOS.

    ``atoms`` is the relaxed structure (feed it to the elastic and phonon calculations);
    ``relax_fmax`` (eV/Å) and ``relax_max_stress`` (GPa) are the residuals of the relaxation.
    """

    formula: str
    n_atoms: int
    spacegroup: str
    spacegroup_number: int
    a: float
    b: float
    c: float
    alpha: float
    beta: float
    gamma: float
    volume_per_atom: float
    energy_per_atom: float
    relax_steps: int
    relax_fmax: float
    relax_max_stress: float
    eos: EOSFit
    atoms: Atoms

    @property
    def crystal_system(self) -> str:
        return crystal_system(self.spacegroup_number)

    def scalars(self) -> dict[str, tuple[float, str]]:
        """Comparison-table rows: the lattice parameters free by symmetry, volume, energy and
        the EOS parameters."""
        system = self.crystal_system
        out = {"a": (self.a, "Å")}
        if system in ("orthorhombic", "monoclinic", "triclinic"):
            out["b"] = (self.b, "Å")
        if system != "cubic":
            out["c"] = (self.c, "Å")
        if system in ("monoclinic", "triclinic"):
            out.update({"α": (self.alpha, "°"), "β": (self.beta, "°"), "γ": (self.gamma, "°")})
        out["V/atom"] = (self.volume_per_atom, "Å³")
        out["E/atom"] = (self.energy_per_atom, "eV")
        out["V0/atom (EOS)"] = (self.eos.v0 / self.n_atoms, "Å³")
        out["B0 (EOS)"] = (self.eos.b0, "GPa")
        out["B0' (EOS)"] = (self.eos.b0_prime, "")
        return out

    def to_dict(self) -> dict:
        """JSON-serialisable form with units in the key names; ``from_dict`` reads it."""
        return {"formula": self.formula, "n_atoms": self.n_atoms, "spacegroup": self.spacegroup,
                "spacegroup_number": self.spacegroup_number, "a_A": self.a, "b_A": self.b,
                "c_A": self.c, "alpha_deg": self.alpha, "beta_deg": self.beta,
                "gamma_deg": self.gamma, "volume_per_atom_A3": self.volume_per_atom,
                "energy_per_atom_eV": self.energy_per_atom, "relax_steps": self.relax_steps,
                "relax_fmax_eV_A": self.relax_fmax, "relax_max_stress_GPa": self.relax_max_stress,
                "v0_per_atom_A3": self.eos.v0 / self.n_atoms, "b0_GPa": self.eos.b0,
                "b0_prime": self.eos.b0_prime, "eos": self.eos.to_dict(),
                "atoms": atoms_to_dict(self.atoms)}

    @classmethod
    def from_dict(cls, d: dict) -> LatticeResult:
        return cls(formula=d["formula"], n_atoms=int(d["n_atoms"]), spacegroup=d["spacegroup"],
                   spacegroup_number=int(d["spacegroup_number"]), a=float(d["a_A"]),
                   b=float(d["b_A"]), c=float(d["c_A"]), alpha=float(d["alpha_deg"]),
                   beta=float(d["beta_deg"]), gamma=float(d["gamma_deg"]),
                   volume_per_atom=float(d["volume_per_atom_A3"]),
                   energy_per_atom=float(d["energy_per_atom_eV"]),
                   relax_steps=int(d["relax_steps"]), relax_fmax=float(d["relax_fmax_eV_A"]),
                   relax_max_stress=float(d["relax_max_stress_GPa"]),
                   eos=EOSFit.from_dict(d["eos"]), atoms=atoms_from_dict(d["atoms"]))


def eos_scaled(atoms: Atoms, volume_factor: float) -> Atoms:
    """A copy of ``atoms`` with the cell scaled isotropically to ``volume_factor`` × volume
    (fractional coordinates kept)."""
    out = atoms.copy()
    out.calc = None
    out.set_cell(atoms.cell.array * volume_factor ** (1.0 / 3.0), scale_atoms=True)
    return out


def cell_relaxation(atoms: Atoms, settings: LatticeSettings) -> Calc:
    """The first stage: positions and cell relaxed, space group kept."""
    s = settings
    return Calc("relax", atoms, "cell relaxation", {
        "cell": True, "symmetry": True, "fmax": s.fmax, "smax": s.smax,
        "max_steps": s.max_steps})


def eos_calcs(relaxed: Atoms, settings: LatticeSettings) -> list[Calc]:
    """The second stage: one calculation per EOS volume of the relaxed cell (positions relaxed
    at the fixed scaled cell, symmetry kept, when ``eos_relax_ions``; else a single point)."""
    s = settings
    calcs = []
    for f in 1.0 + np.linspace(-s.eos_range, s.eos_range, s.eos_points):
        scaled = eos_scaled(relaxed, float(f))
        if s.eos_relax_ions:
            calcs.append(Calc("relax", scaled, f"EOS relaxation at {f:.3f} V0", {
                "cell": False, "symmetry": True, "fmax": s.fmax, "max_steps": s.max_steps}))
        else:
            calcs.append(Calc("point", scaled, f"EOS point at {f:.3f} V0", {"stress": True}))
    return calcs


def compute_lattice(atoms: Atoms, factory: CalcFactory, settings: LatticeSettings,
                    progress: bool = False, runner: Runner | None = None) -> LatticeResult:
    """Relax ``atoms`` (positions and cell, space group kept) and fit its EOS; see the module
    docstring. a, b, c are those of the repeated cell when ``atoms.info["supercell"]`` says
    ``atoms`` is a diagonal supercell. The relaxation, then the EOS volumes, are computed by
    ``runner`` (default: one after another with ``factory``). Any failed relaxation or EOS fit
    raises PropertyFailed."""
    return drive(lattice_steps(atoms, settings), runner or serial(factory, progress, "lattice"))


def lattice_steps(atoms: Atoms, settings: LatticeSettings) -> Steps:
    """The cell relaxation, then the EOS volumes of the relaxed cell, assembled
    (``calcs.Steps``)."""
    if not atoms.pbc.all():
        raise PropertyFailed("lattice parameters need a cell periodic in all three directions")
    rel = (yield [cell_relaxation(atoms, settings)])[0]
    calcs = eos_calcs(rel.atoms, settings)
    points = yield calcs
    return assemble_lattice(atoms, rel, [c.atoms for c in calcs], points)


def assemble_lattice(atoms: Atoms, rel: Relaxed, scaled: list[Atoms],
                     points: list[Relaxed]) -> LatticeResult:
    """The lattice of the relaxation ``rel`` of ``atoms`` and the EOS fitted to the energies
    ``points`` at the volumes of the ``scaled`` cells."""
    relaxed = rel.atoms
    volumes = [float(cell.get_volume()) for cell in scaled]
    energies = [res.energy for res in points]
    n = len(relaxed)
    try:
        eos = fit_birch_murnaghan(volumes, energies, n_atoms=n)
    except EOSError as exc:
        raise PropertyFailed(str(exc)) from exc
    try:
        symbol, number = spacegroup_of(relaxed)
    except Exception as exc:  # spglib failure on a distorted cell
        raise PropertyFailed(f"space group of the relaxed cell: {exc}") from exc
    a, b, c, alpha, beta, gamma = (float(x) for x in relaxed.cell.cellpar())
    # a supercell (info["supercell"], from structures.geometry.make_supercell) reports the
    # lattice parameters of the cell it repeats
    na, nb, nc = atoms.info.get("supercell", (1, 1, 1))
    a, b, c = a / na, b / nb, c / nc
    return LatticeResult(formula=relaxed.get_chemical_formula(), n_atoms=n, spacegroup=symbol,
                         spacegroup_number=number, a=a, b=b, c=c, alpha=alpha, beta=beta,
                         gamma=gamma, volume_per_atom=float(relaxed.get_volume() / n),
                         energy_per_atom=rel.energy / n, relax_steps=rel.steps,
                         relax_fmax=rel.fmax, relax_max_stress=rel.max_stress, eos=eos,
                         atoms=relaxed)


class Lattice(CrystalProperty):
    """Lattice parameters and EOS of the relaxed crystal; figure: both EOS curves."""

    name = "lattice"
    settings_field = "lattice"
    result = LatticeResult

    @classmethod
    def steps(cls, target, ctx, start: Atoms) -> Steps:
        return lattice_steps(start, ctx.cfg.lattice)

    @classmethod
    def figure(cls, data: dict, path) -> bool:
        from seiflow.report.properties import plot_eos

        plot_eos(data, path)
        return True

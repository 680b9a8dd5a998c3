"""PBE plane waves (or, ``mode: lcao``, GPAW's atomic-orbital basis) with GPAW (serial; seiflow
runs one label per process).

Defaults: 800 eV cut-off (520 eV was measured not converged for O/F stresses), k-points from a
0.35 Å⁻¹ spacing (VASP KSPACING convention, as in Li et al., Mater. Horiz. 2025), Fermi-Dirac
smearing of 0.05 eV, tight SCF so finite-difference forces and stresses agree. Set
``OMP_NUM_THREADS=1`` (the seiflow CLI does unless you set it).
"""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar, Literal

from ase import Atoms
from pydantic import Field

from seiflow.reference.base import CalculatorLabeler, LabelerError, check_elements
from seiflow.reference.dispersion import D3Damping, with_d3
from seiflow.reference.kpoints import kpoint_grid


class GPAWSettings(CalculatorLabeler):
    LAUNCH_FIELDS: ClassVar[frozenset[str]] = frozenset({"txt"})

    name: Literal["gpaw"] = "gpaw"
    xc: Literal["PBE"] = "PBE"
    # left out of the dump at their defaults: plane-wave labels keep their hashes
    mode: Literal["pw", "lcao"] = Field(
        "pw", exclude_if=lambda v: v == "pw", description="pw: plane waves up to ecut; lcao: "
        "GPAW's atomic-orbital basis (basis), far cheaper for 50-100 atoms, no stress (labels "
        "without it; positions-only work such as NEB); check its numbers against pw on the "
        "property at hand")
    basis: str = Field("dzp", exclude_if=lambda v: v == "dzp",
                       description="LCAO basis set (GPAW's shipped ones: dzp, szp, sz)")
    ecut: float = Field(800.0, gt=0, description="plane-wave cut-off, eV (mode pw)")
    kspacing: float = Field(0.35, gt=0, description="k-point spacing, Å⁻¹ (VASP KSPACING)")
    smearing: float = Field(0.05, ge=0, description="Fermi-Dirac width, eV")
    d3: D3Damping | None = Field(None, description="add Grimme D3 with zero or BJ damping")
    energy_tolerance: float = Field(1e-6, gt=0, description="SCF energy change, eV/valence e")
    density_tolerance: float = Field(1e-6, gt=0)
    max_iterations: int = Field(300, ge=1)
    spinpol: bool = False
    txt: str | None = Field(None, description="launch: GPAW's log file ('-': stdout; none "
                            "by default)")

    @property
    def gives_stress(self) -> bool:
        return self.mode == "pw"  # GPAW's LCAO mode has no stress

    def check(self, atoms: Atoms) -> None:
        check_elements(atoms, available_setups(self.xc), f"GPAW ({self.xc} PAW setups)")
        if self.mode == "lcao":
            check_elements(atoms, available_setups(f"{self.basis}.basis"),
                           f"GPAW LCAO ({self.basis} basis sets)")
        if atoms.pbc.any() and not atoms.pbc.all():
            raise LabelerError("GPAW labels here are fully periodic or fully molecular; "
                               f"got pbc={atoms.pbc.tolist()}")
        if not atoms.pbc.any() and atoms.cell.rank < 3:
            raise LabelerError("a molecule for GPAW needs a cell (box) around it; use center()")

    def calculator(self, atoms: Atoms):
        from gpaw import GPAW, PW

        kpts = kpoint_grid(atoms, self.kspacing) if atoms.pbc.all() else (1, 1, 1)
        mode = {"mode": PW(self.ecut)} if self.mode == "pw" else {"mode": "lcao",
                                                                   "basis": self.basis}
        dft = GPAW(**mode, xc=self.xc, kpts={"size": kpts, "gamma": True},
                   occupations={"name": "fermi-dirac", "width": self.smearing},
                   convergence={"energy": self.energy_tolerance,
                                "density": self.density_tolerance},
                   maxiter=self.max_iterations, spinpol=self.spinpol, txt=self.txt)
        return with_d3(dft, self.xc, self.d3)


def available_setups(xc: str = "PBE") -> set[str]:
    """Elements with a PAW setup for ``xc`` (or a basis set: ``dzp.basis``) on GPAW's setup
    paths."""
    from gpaw import setup_paths

    found = set()
    for folder in setup_paths:
        for f in Path(folder).glob(f"*.{xc}*"):
            found.add(f.name.split(".")[0])
    return found

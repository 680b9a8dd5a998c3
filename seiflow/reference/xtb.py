"""GFN-xTB through tblite's ASE calculator: the fast default reference for demos and tests.

tblite samples only the Γ point, so periodic cells thinner than ~12 Å see their own images:
they are refused unless ``allow_thin`` is set (then a warning is logged). GFN1/GFN2 already
contain a dispersion term (D3/D4), so none is ever added on top.
"""

from __future__ import annotations

import logging
from typing import ClassVar, Literal

from ase import Atoms
from ase.data import chemical_symbols
from pydantic import Field

from seiflow.reference.base import CalculatorLabeler, LabelerError, check_elements
from seiflow.structures.geometry import perpendicular_widths

log = logging.getLogger(__name__)

MIN_WIDTH = 12.0  # Å; narrower periodic cells are poorly described at the Γ point only
GFN_ELEMENTS = set(chemical_symbols[1:87])  # GFN1/GFN2 parametrise H-Rn


class XTBSettings(CalculatorLabeler):
    """GFN1-xTB (default) or GFN2-xTB with tblite; energies in eV."""

    RUNTIME_FIELDS: ClassVar[frozenset[str]] = frozenset({"allow_thin"})

    name: Literal["xtb"] = "xtb"
    method: Literal["GFN1-xTB", "GFN2-xTB"] = "GFN1-xTB"
    charge: int = 0
    accuracy: float = Field(1.0, gt=0)
    electronic_temperature: float = Field(300.0, gt=0, description="K")
    max_iterations: int = Field(250, ge=1)
    allow_thin: bool = Field(False, description="label cells < 12 Å wide anyway (with a warning)")

    def check(self, atoms: Atoms) -> None:
        check_elements(atoms, GFN_ELEMENTS, f"{self.method} (H-Rn only)")
        warn = gamma_only_warning(atoms)
        if warn and not self.allow_thin:
            raise LabelerError(f"{warn}; build a supercell or set allow_thin")
        if warn:
            log.warning(warn)

    def calculator(self, atoms: Atoms | None = None):
        from tblite.ase import TBLite

        return TBLite(method=self.method, charge=self.charge, accuracy=self.accuracy,
                      electronic_temperature=self.electronic_temperature,
                      max_iterations=self.max_iterations, verbosity=0)


def gamma_only_warning(atoms: Atoms) -> str | None:
    """A warning text if a periodic cell is too thin for Γ-point-only xTB, else None."""
    if not atoms.pbc.any():
        return None
    w = float(min(perpendicular_widths(atoms.cell)[atoms.pbc]))
    if w < MIN_WIDTH:
        return f"cell is {w:.1f} Å thin (< {MIN_WIDTH} Å): Γ-point-only xTB sees periodic images"
    return None

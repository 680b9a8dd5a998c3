"""GFN-xTB through tblite's ASE calculator: the fast default reference for demos and tests.

tblite samples only the Γ point, so cells thinner than ~12 Å see their own images; GFN1/GFN2
already contain a D3/D4 dispersion term, so no dispersion correction is ever added on top.
"""

from __future__ import annotations

import logging
from typing import Literal

from ase import Atoms
from pydantic import Field

from seiflow.core.config import StrictModel
from seiflow.structures.geometry import perpendicular_widths

log = logging.getLogger(__name__)

MIN_WIDTH = 12.0  # Å; narrower periodic cells are poorly described at the Γ point only


class XTBSettings(StrictModel):
    name: Literal["xtb"] = "xtb"
    method: Literal["GFN1-xTB", "GFN2-xTB"] = "GFN1-xTB"
    accuracy: float = Field(1.0, gt=0)
    electronic_temperature: float = Field(300.0, gt=0, description="K")
    max_iterations: int = Field(250, ge=1)

    def calculator(self):
        from tblite.ase import TBLite

        return TBLite(method=self.method, accuracy=self.accuracy,
                      electronic_temperature=self.electronic_temperature,
                      max_iterations=self.max_iterations, verbosity=0)


def gamma_only_warning(atoms: Atoms) -> str | None:
    """A warning text if a periodic cell is too thin for Γ-point-only xTB, else None."""
    if not atoms.pbc.any():
        return None
    w = float(min(perpendicular_widths(atoms.cell)))
    if w < MIN_WIDTH:
        return f"cell is {w:.1f} Å thin (< {MIN_WIDTH} Å): Γ-point-only xTB sees periodic images"
    return None

"""GFN-xTB through tblite's ASE calculator: the fast default reference for demos and tests.

tblite samples only the Γ point, so periodic cells thinner than ~12 Å see their own images:
they are refused unless ``allow_thin`` is set (then a warning is logged). GFN1/GFN2 already
contain a dispersion term (D3/D4), so none is ever added on top.

GFN1-xTB does not bind Li metal (measured: bcc Li relaxes to a ≈ 4.1 Å against 3.51 Å in
experiment and 3.43 Å with PBE; benchmarks/teacher_table.py): a structure with Li metal in it
(a Li atom whose neighbours within ``LI_METAL_CUTOFF`` are all Li) gets a warning, once per
process. Use a teacher (``labeler: {name: sevennet}``) or DFT for such cells.
"""

from __future__ import annotations

import functools
import logging
from typing import ClassVar, Literal

import numpy as np

from ase import Atoms
from ase.data import chemical_symbols
from pydantic import Field

from seiflow.reference.base import CalculatorLabeler, LabelerError, check_elements
from seiflow.structures.geometry import perpendicular_widths

log = logging.getLogger(__name__)

LI_METAL_CUTOFF = 3.2  # Å: between the bcc Li nearest (3.0) and second (3.5) neighbour shells
MIN_WIDTH = 12.0  # Å; narrower periodic cells are poorly described at the Γ point only
GFN_ELEMENTS = set(chemical_symbols[1:87])  # GFN1/GFN2 parametrise H-Rn


class XTBSettings(CalculatorLabeler):
    """GFN1-xTB (default) or GFN2-xTB with tblite; energies in eV."""

    LAUNCH_FIELDS: ClassVar[frozenset[str]] = frozenset({"allow_thin"})

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

        if atoms is not None and self.method == "GFN1-xTB" and has_li_metal(atoms):
            warn_li_metal_once()

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


def has_li_metal(atoms: Atoms, cutoff: float = LI_METAL_CUTOFF) -> bool:
    """True if some Li atom has neighbours within ``cutoff`` Å and all of them are Li (a pure
    Li cell, a Li slab, a Li cluster in an amorphous cell)."""
    numbers = atoms.numbers
    li = numbers == 3
    if not li.any():
        return False
    if li.all() and atoms.pbc.any():
        return True
    from ase.neighborlist import neighbor_list

    i, j = neighbor_list("ij", atoms, cutoff)
    keep = li[i]
    i, j = i[keep], j[keep]
    if len(i) == 0:
        return False
    foreign = np.zeros(len(atoms), dtype=bool)
    np.logical_or.at(foreign, i, ~li[j])
    has_neighbour = np.zeros(len(atoms), dtype=bool)
    has_neighbour[i] = True
    return bool((has_neighbour & ~foreign).any())


@functools.cache
def warn_li_metal_once() -> None:
    """One warning per process: GFN1-xTB is unphysical for Li metal."""
    log.warning("GFN1-xTB does not bind Li metal (bcc Li relaxes to a ≈ 4.1 Å; experiment "
                "3.51 Å, PBE 3.43 Å): labels of this structure's Li metal are unphysical; use "
                "a teacher (labeler: {name: sevennet}) or DFT (gpaw, cp2k, vasp) for it")

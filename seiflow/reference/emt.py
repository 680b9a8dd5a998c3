"""ASE's effective-medium theory as a labeler: analytic, instant, for tests and examples only.

EMT (Jacobsen, Stoltze & Nørskov, Surf. Sci. 366, 394 (1996)) describes fcc metals (Al, Cu, Ag,
Au, Ni, Pd, Pt) and, crudely, H, C, N, O; it is not a reference method for SEI materials.
seiflow uses it where a test needs a reference with exact forces and stresses at no cost.
"""

from __future__ import annotations

from typing import Literal

from ase import Atoms

from seiflow.reference.base import CalculatorLabeler, check_elements

EMT_ELEMENTS = {"H", "C", "N", "O", "Al", "Ni", "Cu", "Pd", "Ag", "Pt", "Au"}


class EMTSettings(CalculatorLabeler):
    """ASE's EMT calculator (energies eV, forces eV/Å, stress eV/Å³)."""

    name: Literal["emt"] = "emt"

    def check(self, atoms: Atoms) -> None:
        check_elements(atoms, EMT_ELEMENTS, "EMT (H C N O Al Ni Cu Pd Ag Pt Au only)")

    def calculator(self, atoms: Atoms | None = None):
        from ase.calculators.emt import EMT

        return EMT()

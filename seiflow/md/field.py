"""A constant applied electric field acting on chosen species with given charges.

The wrapped calculator's forces get F_i = q_i E (q in e, E in V/Å, so F in eV/Å); energy and
stress are the wrapped calculator's (a uniform field has no single-valued potential energy in a
periodic cell). Formal charges are the default (Li +1), as in the field runs of Li et al.,
Mater. Horiz. 2025 (Fig. 7).
"""

from __future__ import annotations

import numpy as np
from ase.calculators.calculator import Calculator, all_changes

from seiflow.core.elements import check_element

FORMAL_CHARGES = {"Li": 1.0, "Na": 1.0, "K": 1.0, "Mg": 2.0, "F": -1.0, "Cl": -1.0, "O": -2.0}


class FieldCalculator(Calculator):
    """``base`` plus the force of a uniform field on charged species."""

    implemented_properties = ["energy", "free_energy", "forces", "stress"]

    def __init__(self, base: Calculator, field_V_per_A, charges: dict[str, float] | None = None):
        super().__init__()
        self.base = base
        self.field = np.asarray(field_V_per_A, dtype=float).reshape(3)
        charges = {"Li": FORMAL_CHARGES["Li"]} if charges is None else dict(charges)
        for symbol in charges:
            check_element(symbol)
        self.charges = charges

    def per_atom_charges(self, atoms) -> np.ndarray:
        return np.array([self.charges.get(s, 0.0) for s in atoms.get_chemical_symbols()])

    def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes):
        super().calculate(atoms, properties, system_changes)
        work = self.atoms.copy()
        work.calc = self.base
        forces = work.get_forces() + np.outer(self.per_atom_charges(work), self.field)
        self.results = {"energy": work.get_potential_energy(), "forces": forces}
        self.results["free_energy"] = self.results["energy"]
        if work.pbc.all() and "stress" in properties:
            self.results["stress"] = work.get_stress()

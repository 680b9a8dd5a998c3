"""Surface and interface energies from total energies (data in, data out).

Conventions (Li et al., Mater. Horiz. 2025 report Li/Li2CO3 interface energies this way):
- surface energy of a slab with two free surfaces:
  sigma = (E_slab - n * e_bulk) / (2 A)
- interface energy of a periodic film/substrate stack (two interfaces per cell):
  gamma = (E_stack - n_film * e_film - n_sub * e_sub) / (2 A)
  with e_* the relaxed, unstrained bulk energies per atom, so gamma includes the film's
  coherency strain energy;
- work of adhesion: W = sigma_film + sigma_sub - gamma.
Energies in eV, areas in Å², results in J/m².
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from ase import Atoms
from ase.units import J, m

EV_PER_A2_TO_J_PER_M2 = float(m**2 / J)  # 16.0218 J/m² per eV/Å²


def interface_area(atoms: Atoms) -> float:
    """Area of the a × b face in Å² (the interface or surface plane is normal to c)."""
    import numpy as np

    return float(np.linalg.norm(np.cross(atoms.cell[0], atoms.cell[1])))


def bulk_units(part: Atoms, bulk: Atoms, what: str) -> float:
    """How many bulk cells' worth of atoms ``part`` holds; raises ValueError when its
    composition is not a whole multiple of the bulk's (a non-stoichiometric slab has no
    well-defined surface energy from bulk energies alone)."""
    have, unit = Counter(part.get_chemical_symbols()), Counter(bulk.get_chemical_symbols())
    if set(have) != set(unit):
        raise ValueError(f"{what} holds {sorted(have)} but its bulk holds {sorted(unit)}")
    ratios = {el: have[el] / unit[el] for el in unit}
    if max(ratios.values()) - min(ratios.values()) > 1e-9:
        formula = part.get_chemical_formula()
        raise ValueError(f"{what} ({formula}) is not stoichiometric in "
                         f"{bulk.get_chemical_formula()}")
    return next(iter(ratios.values()))


def surface_energy(e_slab: float, n_bulk_cells: float, e_bulk_cell: float, area: float,
                   n_surfaces: int = 2) -> float:
    """Surface energy in J/m² of a slab (eV) with ``n_surfaces`` free surfaces of ``area`` Å²."""
    return (e_slab - n_bulk_cells * e_bulk_cell) / (n_surfaces * area) * EV_PER_A2_TO_J_PER_M2


def interface_energy(e_stack: float, parts: list[tuple[float, float]], area: float,
                     n_interfaces: int = 2) -> float:
    """Interface energy in J/m²: ``parts`` are (number of bulk cells, bulk energy per cell in
    eV) for each material of the stack."""
    e_ref = sum(n * e for n, e in parts)
    return (e_stack - e_ref) / (n_interfaces * area) * EV_PER_A2_TO_J_PER_M2


@dataclass
class InterfaceEnergies:
    """Surface, interface and adhesion energies of one film/substrate pair, J/m²."""

    sigma_film: float
    sigma_substrate: float
    gamma_interface: float

    @property
    def work_of_adhesion(self) -> float:
        return self.sigma_film + self.sigma_substrate - self.gamma_interface

"""Formula units that the amorphous builder packs: each is a list of rigid blocks
(molecules from the library, or single ions) and a reference density for its compact volume."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

import numpy as np
from ase import Atoms
from ase.data import atomic_masses, atomic_numbers, covalent_radii, reference_states

from seiflow.core.elements import check_element
from seiflow.core.errors import UnknownNameError
from seiflow.core.units import AMU_PER_A3_TO_G_PER_CM3


@dataclass(frozen=True)
class Species:
    """A packable formula unit. ``blocks`` are (molecule key or element symbol, count)."""

    name: str
    blocks: tuple[tuple[str, int], ...]
    density: float  # g/cm³ of the compact (crystalline) form, sets the packing volume
    density_source: str


# Li2EDC: no solved crystal structure; Xu et al. (J. Phys. Chem. B 110, 7708 (2006)) index XRD as
# orthorhombic a=14.10, b=12.66, c=5.20 Å with 6 molecules (161.95 g/mol) -> 1.738 g/cm³.
_LI2EDC_DENSITY = 6 * 161.95 / (14.10 * 12.66 * 5.20) * AMU_PER_A3_TO_G_PER_CM3


@cache
def _species() -> dict[str, Species]:
    from seiflow.structures.library import phase_density, phase_info

    def from_phase(name: str, blocks, phase: str) -> Species:
        info = phase_info(phase)
        density = info.density if info.density is not None else phase_density(phase)
        return Species(name, tuple(blocks), density, f"{phase}: {info.source}")

    return {
        s.name: s
        for s in (
            from_phase("Li", [("Li", 1)], "li-bcc"),
            from_phase("Li2CO3", [("co3", 1), ("Li", 2)], "li2co3-c2c"),
            from_phase("LiF", [("Li", 1), ("F", 1)], "lif"),
            from_phase("Li2O", [("Li", 2), ("O", 1)], "li2o"),
            from_phase("LiPF6", [("pf6", 1), ("Li", 1)], "lipf6"),
            Species("Li2EDC", (("edc", 1), ("Li", 2)), _LI2EDC_DENSITY,
                    "XRD cell of Xu et al., J. Phys. Chem. B 110, 7708 (2006), 6 molecules"),
        )
    }


def list_species() -> list[str]:
    return sorted(_species())


def get_species(name: str) -> Species:
    """A known formula unit, or a single atom of any element (packed at its elemental density)."""
    known = _species()
    if name in known:
        return known[name]
    if name not in atomic_numbers:
        raise UnknownNameError("species or element", name, list(known) + ["<element symbol>"])
    check_element(name)
    return Species(name, ((name, 1),), _element_density(name), "ASE reference state")


def _element_density(symbol: str) -> float:
    """Density (g/cm³) of an element from ASE's reference states, else from covalent radii."""
    z = atomic_numbers[symbol]
    ref = reference_states[z] or {}
    per_cell = {"bcc": 2, "fcc": 4, "diamond": 8, "sc": 1}
    if ref.get("symmetry") in per_cell:
        vol = ref["a"] ** 3 / per_cell[ref["symmetry"]]
    elif ref.get("symmetry") == "hcp":
        vol = np.sqrt(3) / 4 * ref["a"] ** 2 * ref["a"] * ref.get("c/a", 1.633)
    else:  # molecules, complex structures: a sphere of 1.6 x the covalent radius
        vol = 4 / 3 * np.pi * (1.6 * covalent_radii[z]) ** 3
    return float(atomic_masses[z] / vol * AMU_PER_A3_TO_G_PER_CM3)


def block_atoms(key: str) -> Atoms:
    """A block: a library molecule (lower-case key, e.g. 'co3') or a single atom ('Li')."""
    from seiflow.structures.library import get_molecule

    return get_molecule(key) if key[0].islower() else Atoms(key)


def unit_mass(species: Species) -> float:
    """Mass (amu) of one formula unit."""
    return sum(n * float(block_atoms(key).get_masses().sum()) for key, n in species.blocks)

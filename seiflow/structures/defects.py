"""Point defects in a supercell of a library phase: vacancy, interstitial (in the largest void)
and Frenkel pair (an ion moved from its site into the largest void).

Defects are neutral (the ion is removed/added as an atom); a charged-defect treatment is the
reference calculation's business. Supercells are grown to a minimum perpendicular width so the
defect does not interact with its periodic images.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
from ase import Atoms
from pydantic import Field, field_validator

from seiflow.core.config import MAX_ATOMS, MAX_WIDTH_A, StrictModel
from seiflow.core.elements import check_element
from seiflow.core.errors import StructureError
from seiflow.structures.geometry import check_no_overlap, largest_void, make_supercell
from seiflow.structures.library import get_phase


class DefectSpec(StrictModel):
    phase: str = Field(..., description="library phase key, e.g. li2co3-c2c")
    kind: Literal["vacancy", "interstitial", "frenkel"]
    species: str = "Li"
    min_width: float | None = Field(12.0, gt=0, le=MAX_WIDTH_A,
                                    description="minimum perpendicular width, Å")
    min_atoms: int | None = Field(None, ge=1, le=MAX_ATOMS)
    site: int | None = Field(None, ge=0, description="index of the atom to remove (default: first)")
    frenkel_min_separation: float = Field(
        4.0, gt=0, description="minimum vacancy-interstitial distance of a Frenkel pair, Å"
    )

    @property
    def label(self) -> str:
        return f"{self.phase}-{self.kind}-{self.species}"

    @field_validator("species")
    @classmethod
    def _element(cls, v: str) -> str:
        check_element(v)
        return v


def _site_indices(atoms: Atoms, species: str) -> np.ndarray:
    idx = np.flatnonzero(np.array(atoms.get_chemical_symbols()) == species)
    if len(idx) == 0:
        raise StructureError(f"no {species} atoms in {atoms.get_chemical_formula()}")
    return idx


def make_vacancy(atoms: Atoms, species: str = "Li", site: int | None = None) -> Atoms:
    """Remove one ``species`` atom (``site`` = atom index, default the first of that species)."""
    idx = _site_indices(atoms, species)
    if site is None:
        site = int(idx[0])
    elif site not in idx:
        raise StructureError(f"atom {site} is not a {species} atom")
    out = atoms.copy()
    pos = out.positions[site].copy()
    del out[site]
    out.info["defect"] = "vacancy"
    out.info["defect_species"] = species
    out.info["defect_position"] = pos
    return out


def make_interstitial(atoms: Atoms, species: str = "Li") -> Atoms:
    """Add one ``species`` atom at the centre of the largest empty sphere of the cell."""
    check_element(species)
    centre, radius = largest_void(atoms)
    out = atoms.copy()
    out += Atoms(species, positions=[centre])
    check_no_overlap(out)
    out.info["defect"] = "interstitial"
    out.info["defect_species"] = species
    out.info["defect_position"] = centre
    out.info["void_radius"] = round(radius, 4)
    return out


def make_frenkel_pair(atoms: Atoms, species: str = "Li", min_separation: float = 4.0) -> Atoms:
    """Move the ``species`` atom nearest to the largest void, but at least ``min_separation`` Å
    from it (minimum image), into that void."""
    centre, radius = largest_void(atoms)
    idx = _site_indices(atoms, species)
    probe = atoms.copy()
    probe += Atoms(species, positions=[centre])
    d = probe.get_distances(len(probe) - 1, idx, mic=True)
    far = d >= min_separation
    if not far.any():
        raise StructureError(
            f"no {species} site is {min_separation} Å or more from the largest void "
            f"(farthest {d.max():.2f} Å): use a larger supercell or a smaller separation"
        )
    k = int(np.argmin(np.where(far, d, np.inf)))
    site = int(idx[k])
    out = atoms.copy()
    vac_pos = out.positions[site].copy()
    out.positions[site] = centre
    check_no_overlap(out)
    out.info.update(
        defect="frenkel",
        defect_species=species,
        defect_position=centre,
        vacancy_position=vac_pos,
        frenkel_separation=round(float(d[k]), 4),
        void_radius=round(radius, 4),
    )
    return out


def make_defect(spec: DefectSpec) -> Atoms:
    """Supercell of ``spec.phase`` with one defect of ``spec.kind``."""
    bulk = make_supercell(get_phase(spec.phase), spec.min_width, spec.min_atoms)
    if spec.kind == "vacancy":
        out = make_vacancy(bulk, spec.species, spec.site)
    elif spec.kind == "interstitial":
        out = make_interstitial(bulk, spec.species)
    else:
        out = make_frenkel_pair(bulk, spec.species, spec.frenkel_min_separation)
    out.info["source"] = f"{spec.kind} {spec.species} in {bulk.info['phase']} supercell " \
        f"{bulk.info['supercell']}; bulk: {bulk.info['source']}"
    out.info["structure_kind"] = "defect"
    out.info["name"] = spec.label
    return out

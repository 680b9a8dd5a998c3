"""Strain-matched heterointerfaces by Zur-McGill lattice matching (Zur & McGill, J. Appl. Phys.
55, 378 (1984)), as implemented in pymatgen's ZSLGenerator; slabs are cut
without breaking molecular ions (CO3, EDC, PF6) and stacked as pymatgen's Interface.

The film is strained onto the substrate. The reported strain is the largest principal value of
the 2D Green-Lagrange strain of the match (fraction; 0.02 = 2 %), the area that of the
interface supercell (Å²).
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
from ase import Atoms
from pydantic import Field, field_validator

from seiflow.core.config import MAX_WIDTH_A, StrictModel
from seiflow.core.errors import InterfaceMatchError
from seiflow.structures.geometry import (
    check_no_overlap,
    check_width,
    perpendicular_widths,
    supercell_repeats,
)
from seiflow.structures.library import get_phase

log = logging.getLogger(__name__)

Miller = tuple[int, int, int]


if TYPE_CHECKING:  # pymatgen takes ~2 s to import: only the functions that use it load it
    from pymatgen.core import Structure
    from pymatgen.core.surface import Slab

MAX_INTERFACE_AREA = 2000.0  # Å²: the lattice match search grows fast with the area
MAX_LAYERS = 100


class InterfaceSpec(StrictModel):
    film: str = Field(..., description="library phase strained onto the substrate, e.g. li-bcc")
    film_miller: Miller
    substrate: str = Field(..., description="library phase, e.g. li2co3-c2c")
    substrate_miller: Miller
    max_strain: float = Field(0.05, gt=0, lt=0.5, description="largest principal strain, fraction")
    max_area: float = Field(200.0, gt=0, le=MAX_INTERFACE_AREA,
                            description="largest interface area, Å²")
    film_layers: int = Field(3, ge=1, le=MAX_LAYERS)
    substrate_layers: int = Field(2, ge=1, le=MAX_LAYERS)
    gap: float = Field(2.0, gt=0, description="film-substrate distance, Å")
    vacuum: float = Field(
        0.0, ge=0, description="vacuum over the film, Å (0: periodic stack, two interfaces)"
    )
    termination: int = Field(0, ge=0, description="index into the possible terminations")
    min_inplane_width: float | None = Field(
        None, gt=0, le=MAX_WIDTH_A,
        description="repeat the matched cell in-plane to at least this width, Å"
    )

    min_width_A: float | None = Field(
        None, gt=0, le=MAX_WIDTH_A,
        description="minimum perpendicular width in all three directions, Å: in-plane by "
        "repeats, along the normal by more film and substrate layers")

    @property
    def label(self) -> str:
        """File-safe name, e.g. li-bcc-111_li2co3-c2c-001."""
        return (f"{self.film}-{''.join(map(str, self.film_miller))}_"
                f"{self.substrate}-{''.join(map(str, self.substrate_miller))}")

    @field_validator("film_miller", "substrate_miller")
    @classmethod
    def _nonzero(cls, v: Miller) -> Miller:
        if not any(v):
            raise ValueError("Miller index (0, 0, 0) is not a plane")
        return v


@dataclass
class InterfaceResult:
    atoms: Atoms
    strain: float  # largest |principal| Green-Lagrange strain of the film, fraction
    area: float  # Å², of the interface cell (the substrate's superlattice)
    termination: tuple[str, str]
    n_matches: int  # matches within the limits


def match_strain(transformation) -> float:
    """Largest absolute principal Green-Lagrange strain of a ZSL match transformation."""
    from pymatgen.analysis.elasticity.strain import Deformation

    gl = np.asarray(Deformation(transformation).green_lagrange_strain)
    return float(np.max(np.abs(np.linalg.eigvalsh(gl))))


# Bonds a slab cut must not break (Å): carbonate, EDC, PF6 stay whole molecules.
MOLECULAR_BONDS = {("C", "O"): 1.6, ("C", "C"): 1.7, ("C", "H"): 1.3, ("P", "F"): 1.8}


def _slabs(bulk: Structure, miller: Miller, layers: int) -> list[Slab]:
    """Slabs of every termination that keeps molecular ions intact (repaired if needed)."""
    from pymatgen.core.surface import SlabGenerator

    gen = SlabGenerator(bulk, miller, min_slab_size=layers, min_vacuum_size=3,
                        in_unit_planes=True, center_slab=True, primitive=True,
                        reorient_lattice=False)
    elements = {el.symbol for el in bulk.composition}
    bonds = {k: v for k, v in MOLECULAR_BONDS.items() if set(k) <= elements}
    slabs = gen.get_slabs(bonds=bonds or None, max_broken_bonds=0)
    if not slabs and bonds:
        slabs = gen.get_slabs(bonds=bonds, repair=True)
    return slabs


def _superlattice(slab: Slab, sl_vectors) -> Slab:
    """The slab repeated in-plane onto the matched superlattice vectors (as pymatgen does)."""
    from pymatgen.analysis.interfaces.coherent_interfaces import from_2d_to_3d, get_2d_transform

    transform = np.round(from_2d_to_3d(get_2d_transform(slab.lattice.matrix[:2], sl_vectors)))
    out = slab.copy()
    out.make_supercell(transform.astype(int))
    if not np.allclose(out.lattice.matrix[:2], sl_vectors, atol=1e-6):
        raise InterfaceMatchError("superlattice construction failed for the matched vectors")
    return out


MAX_GROWTH = 4  # rebuilds with more layers before a too-thin stack is refused


def _grown_layers(spec: InterfaceSpec, normal_A: float) -> InterfaceSpec:
    """``spec`` with film and substrate layers multiplied so the stack normal to the interface
    (``normal_A`` thick now, gaps included) reaches ``spec.min_width_A``."""
    gaps = spec.gap + (spec.vacuum or spec.gap)
    k = max(2, math.ceil((spec.min_width_A - gaps) / max(normal_A - gaps, 1e-3)))
    return spec.model_copy(update={"film_layers": spec.film_layers * k,
                                   "substrate_layers": spec.substrate_layers * k})


def build_interface(spec: InterfaceSpec) -> InterfaceResult:
    """The smallest-area match within ``max_strain`` and ``max_area`` (ties: least strain).

    With ``spec.min_width_A`` the matched cell is repeated in-plane to that width and rebuilt
    with more layers until the stack is that wide along the normal; StructureError (one line)
    if it is still thinner after MAX_GROWTH rebuilds."""
    res = _build_interface(spec)
    for _ in range(MAX_GROWTH):
        normal = perpendicular_widths(res.atoms.cell)[2]
        if not spec.min_width_A or normal >= spec.min_width_A - 1e-6:
            break
        spec = _grown_layers(spec, normal)
        res = _build_interface(spec)
    check_width(res.atoms, spec.min_width_A, spec.label,
                "raise film_layers/substrate_layers or max_area")
    res.atoms.info.update(film_layers=spec.film_layers, substrate_layers=spec.substrate_layers)
    return res


def _atoms(interface, adaptor) -> Atoms:
    """The pymatgen Interface as periodic ASE Atoms with an ``is_film`` array."""
    is_film = np.array([lab == "film" for lab in interface.site_properties["interface_label"]])
    interface.remove_site_property("interface_label")
    atoms = adaptor.get_atoms(interface)
    atoms.info = {}
    atoms.arrays = {k: v for k, v in atoms.arrays.items() if k in ("numbers", "positions")}
    atoms.arrays["is_film"] = is_film
    atoms.pbc = True
    return atoms


def _build_interface(spec: InterfaceSpec) -> InterfaceResult:
    from pymatgen.analysis.interfaces.zsl import ZSLGenerator
    from pymatgen.core.interface import Interface, label_termination
    from pymatgen.io.ase import AseAtomsAdaptor

    adaptor = AseAtomsAdaptor()
    film_bulk, sub_bulk = get_phase(spec.film), get_phase(spec.substrate)
    film = adaptor.get_structure(film_bulk)
    sub = adaptor.get_structure(sub_bulk)
    zsl = ZSLGenerator(max_area=spec.max_area, max_length_tol=spec.max_strain,
                       max_angle_tol=spec.max_strain, bidirectional=True)
    label = f"{spec.film}{spec.film_miller}/{spec.substrate}{spec.substrate_miller}"
    film_slabs = _slabs(film, spec.film_miller, spec.film_layers)
    sub_slabs = _slabs(sub, spec.substrate_miller, spec.substrate_layers)
    if not film_slabs or not sub_slabs:
        raise InterfaceMatchError(f"{label}: no slab keeps the molecular ions intact")
    matches = zsl(film_slabs[0].lattice.matrix[:2], sub_slabs[0].lattice.matrix[:2], lowest=False)
    scored = [(m.match_area, match_strain(m.match_transformation), m) for m in matches]
    ok = [s for s in scored if s[1] <= spec.max_strain + 1e-9]
    if not ok:
        best = min((s[1] for s in scored), default=None)
        extra = f" (least strain found: {best:.3%})" if best is not None else ""
        raise InterfaceMatchError(
            f"{label}: no lattice match with strain <= {spec.max_strain:.1%} and area <= "
            f"{spec.max_area} Å²{extra}; raise max_strain or max_area"
        )
    _, strain, match = min(ok, key=lambda s: (round(s[0], 3), s[1]))
    pairs = [(f, s) for s in sub_slabs for f in film_slabs]
    if spec.termination >= len(pairs):
        raise InterfaceMatchError(
            f"{label}: termination {spec.termination} requested, only {len(pairs)} exist"
        )
    film_slab, sub_slab = pairs[spec.termination]
    termination = (label_termination(film_slab), label_termination(sub_slab))
    props = {"strain": strain, "termination": termination}
    interface = Interface.from_slabs(
        substrate_slab=_superlattice(sub_slab, match.substrate_sl_vectors),
        film_slab=_superlattice(film_slab, match.film_sl_vectors),
        gap=spec.gap, vacuum_over_film=spec.vacuum or spec.gap, interface_properties=props,
    )
    atoms = _atoms(interface, adaptor)
    inplane = max(spec.min_inplane_width or 0.0, spec.min_width_A or 0.0)
    if inplane:
        na, nb, _ = supercell_repeats(atoms.cell, len(atoms), inplane)
        atoms = atoms.repeat((na, nb, 1))
    check_no_overlap(atoms)
    area = float(np.linalg.norm(np.cross(atoms.cell[0], atoms.cell[1])))
    atoms.info.update(
        source=f"Zur-McGill match (pymatgen ZSLGenerator) of {label}; "
        f"film: {film_bulk.info['source']}; substrate: {sub_bulk.info['source']}",
        structure_kind="interface",
        name=spec.label,
        strain=round(strain, 6),
        area_A2=round(area, 3),
        termination=" / ".join(termination),
    )
    return InterfaceResult(atoms, strain, area, termination, len(ok))

"""Amorphous mixtures: random packing at low density (Vilhelmsen & Hammer, J. Chem. Phys. 141,
044711 (2014), as implemented by ASE's start generator), to be compressed under a scalar
pressure (default 50 kbar) with any ASE calculator, as in Li et al., Mater. Horiz. 12, 10770
(2025), Sec. 2.1 (seiflow.workflows.compression: squeeze, then a converged zero-stress
relaxation).

With ``min_width_A`` the composition is multiplied by the smallest integer that makes the cell
at least that wide in every direction once compressed (compact volume from the species'
densities) or, without compression, as packed; above ``max_atoms`` the packing is refused.

Molecules (CO3 2-, EDC 2-, PF6 -) are placed as rigid blocks with random orientation; Li+ and
other ions as single atoms. Intermolecular distances respect ``min_distance_ratio`` x the sum of
covalent radii (larger between two non-metal atoms, so carbonates do not touch). Each block
keeps its index in ``atoms.arrays['molecule_id']``.
"""

from __future__ import annotations

import logging
import math
from collections import Counter
from typing import Literal

import numpy as np
from ase import Atoms
from ase.neighborlist import neighbor_list
from ase_ga.startgenerator import StartGenerator
from ase.data import chemical_symbols, covalent_radii
from ase_ga.utilities import CellBounds
from pydantic import Field, field_validator

from seiflow.core.config import MAX_ATOMS, MAX_COUNT, MAX_WIDTH_A, StrictModel
from seiflow.core.errors import PackingError
from seiflow.core.units import AMU_PER_A3_TO_G_PER_CM3
from seiflow.structures.geometry import check_no_overlap, check_width
from seiflow.structures.species import block_atoms, get_species, unit_mass

log = logging.getLogger(__name__)


class CompressionSettings(StrictModel):
    """Compression of a packed cell (run by seiflow.workflows.compression): a squeeze under
    ``pressure_kbar`` (optimizer steps, then optional NPT MD), then a zero-stress relaxation of
    cell and positions that must converge (forces < ``fmax`` eV/Å, every stress component <
    ``smax_GPa``) within ``relax_max_steps``, or the structure fails."""

    pressure_kbar: float = Field(50.0, description="scalar pressure, kbar (50 kbar = 5 GPa)")
    fmax: float = Field(0.05, gt=0, description="force convergence of both stages, eV/Å")
    max_steps: int = Field(300, ge=1, description="optimizer steps of the squeeze")
    optimizer: Literal["BFGS", "FIRE"] = "BFGS"
    npt_steps: int = Field(0, ge=0, description="MTK NPT steps after the squeeze (0 = none)")
    temperature_K: float = Field(10.0, gt=0, description="NPT temperature, K")
    timestep_fs: float = Field(0.5, gt=0, description="NPT time step, fs")
    smax_GPa: float = Field(
        0.1, gt=0, description="zero-stress relaxation: largest residual stress component, GPa")
    relax_max_steps: int = Field(500, ge=1, description="steps of the zero-stress relaxation")


class AmorphousSpec(StrictModel):
    """What to pack: counts of formula units / molecules / atoms, and how."""

    name: str = "amorphous"
    composition: dict[str, int] = Field(..., description="e.g. {Li2EDC: 8, Li2CO3: 16, Li: 64}")
    count: int = Field(1, ge=1, le=MAX_COUNT, description="how many independent structures")
    expansion: float = Field(
        2.0, ge=1.0, description="initial volume / compact volume (low-density start)"
    )
    min_distance_ratio: float = Field(
        0.8, gt=0.3, le=1.5,
        description="minimum distance / sum of covalent radii for pairs with a metal atom",
    )
    molecular_distance_ratio: float = Field(
        1.6, gt=0.3, le=2.5,
        description="the same for two non-metal atoms of different blocks (e.g. O...O between "
        "carbonates): above 1.15 so no spurious intermolecular bond is made",
    )
    cell: Literal["cubic", "random"] = "cubic"
    seed: int = Field(0, ge=0)
    max_attempts: int = Field(200_000, ge=1000, description="random placements before giving up")
    compress: CompressionSettings | None = None
    min_width_A: float | None = Field(
        None, gt=0, le=MAX_WIDTH_A,
        description="minimum perpendicular width of the final cell, Å (e.g. 2 x the "
        "potential's cutoff): the composition is multiplied until the cell is this wide")
    max_atoms: int = Field(2000, ge=1, le=MAX_ATOMS,
                           description="refuse a width-grown composition above this")

    @field_validator("composition")
    @classmethod
    def _counts(cls, v: dict[str, int]) -> dict[str, int]:
        if not v:
            raise ValueError("composition is empty")
        bad = {k: n for k, n in v.items() if n < 0}
        if bad:
            raise ValueError(f"counts must be >= 0, got {bad}")
        if sum(v.values()) == 0:
            raise ValueError("all counts are zero")
        atoms = 0
        for key, n in v.items():  # unknown names fail here, with suggestions
            atoms += n * sum(c * len(block_atoms(b)) for b, c in get_species(key).blocks)
        if atoms > MAX_ATOMS:
            raise ValueError(f"{atoms} atoms in one structure; at most {MAX_ATOMS}")
        return v


def _blocks(composition: dict[str, int]) -> tuple[list[tuple[Atoms, int]], float, float]:
    """Blocks for the start generator, total mass (amu) and compact volume (Å³)."""
    counts: Counter[str] = Counter()
    mass = volume = 0.0
    for name, n in composition.items():
        if n == 0:
            continue
        sp = get_species(name)
        m = unit_mass(sp)
        mass += n * m
        volume += n * m / sp.density * AMU_PER_A3_TO_G_PER_CM3  # amu / (g/cm³) -> Å³
        for key, k in sp.blocks:
            counts[key] += n * k
    blocks = []
    for key, n in counts.items():
        block = block_atoms(key)
        block.info = {}
        blocks.append((block, n))
    return blocks, mass, volume


NON_METALS = frozenset("H He B C N O F Ne Si P S Cl Ar As Se Br Kr Te I Xe".split())


def min_distances(numbers, metal_ratio: float, molecular_ratio: float) -> dict:
    """Minimum intermolecular distance (Å) for every pair of atomic numbers (the start
    generator's ``blmin``): ratio x (sum of covalent radii), with ``molecular_ratio`` between two
    non-metals and ``metal_ratio`` otherwise."""
    table = {}
    for a in numbers:
        for b in numbers:
            both = chemical_symbols[a] in NON_METALS and chemical_symbols[b] in NON_METALS
            ratio = molecular_ratio if both else metal_ratio
            table[(a, b)] = ratio * (covalent_radii[a] + covalent_radii[b])
    return table


def _min_box_length(blocks: list[tuple[Atoms, int]], blmin: dict) -> float:
    """Shortest periodic box in which no block touches its own image (as ase_ga computes it)."""
    longest = 0.0
    for block, _ in blocks:
        z = block.numbers
        d = block.get_all_distances() + np.array([[blmin[(a, b)] for b in z] for a in z])
        longest = max(longest, float(d.max()))
    return longest


MAX_CANDIDATES = 20  # candidates tried when one fails the periodic distance check


def _too_close(atoms: Atoms, blmin: dict) -> bool:
    """True if atoms of different blocks (tags) are closer than ``blmin`` (minimum image)."""
    cutoff = max(blmin.values())
    i, j, d = neighbor_list("ijd", atoms, cutoff)
    tags, z = atoms.get_tags(), atoms.numbers
    inter = tags[i] != tags[j]
    limit = np.array([blmin[(a, b)] for a, b in zip(z[i], z[j])]) if len(i) else np.array([])
    return bool(np.any(d[inter] < limit[inter]))


WIDTH_MARGIN = 1.15  # cube edge / min_width_A aimed at: a compressed, relaxed cell ends denser
# (EMT Cu3Al: 7.4 x 5.8 x 5.9 Å from a 6.3 Å cube)
# or sheared; the final widths are checked either way


def composition_atoms(composition: dict[str, int]) -> int:
    """Number of atoms in one copy of ``composition``."""
    return sum(n * sum(k * len(block_atoms(key)) for key, k in get_species(name).blocks)
               for name, n in composition.items())


def width_scale(spec: AmorphousSpec) -> int:
    """Smallest integer multiple of ``spec.composition`` whose cubic cell is ``spec.min_width_A``
    (x WIDTH_MARGIN) wide: at the compact volume (species densities) when ``spec.compress`` is
    set, else at ``expansion`` x that volume. 1 without ``min_width_A``."""
    if not spec.min_width_A:
        return 1
    _, _, compact = _blocks(spec.composition)
    volume = compact * (1.0 if spec.compress is not None else spec.expansion)
    return max(1, math.ceil((spec.min_width_A * WIDTH_MARGIN) ** 3 / volume - 1e-9))


def sized_for_width(spec: AmorphousSpec) -> tuple[AmorphousSpec, int]:
    """``spec`` with its composition multiplied by ``width_scale``, and that factor; raises
    PackingError (one line) when the grown cell would hold more than ``spec.max_atoms``."""
    n = width_scale(spec)
    if n == 1:
        return spec, 1
    natoms = n * composition_atoms(spec.composition)
    if natoms > spec.max_atoms:
        raise PackingError(
            f"{spec.name}: a cell {spec.min_width_A} Å wide needs {n} x the composition "
            f"({natoms} atoms), above max_atoms {spec.max_atoms}; raise max_atoms or lower "
            f"min_width_A")
    grown = {k: v * n for k, v in spec.composition.items()}
    return spec.model_copy(update={"composition": grown}), n


def _generator(cell: str, blocks, blmin: dict, volume: float,
               rng: np.random.Generator) -> StartGenerator:
    """ase_ga's start generator in a cube of ``volume`` Å³, or a random cell of that volume."""
    length = volume ** (1 / 3)
    if cell == "cubic":
        return StartGenerator(Atoms(cell=np.eye(3) * length, pbc=True), blocks, blmin, rng=rng)
    bounds = CellBounds(bounds={"phi": [60, 120], "chi": [60, 120], "psi": [60, 120],
                                "a": [0.6 * length, 1.6 * length],
                                "b": [0.6 * length, 1.6 * length],
                                "c": [0.6 * length, 1.6 * length]})
    return StartGenerator(Atoms(pbc=True), blocks, blmin, number_of_variable_cell_vectors=3,
                          box_volume=volume, cellbounds=bounds, rng=rng)


def pack_amorphous(spec: AmorphousSpec, index: int = 0) -> Atoms:
    """One random packing at low density. Reproducible from ``spec.seed`` and ``index``.
    With ``spec.min_width_A`` the composition is first grown (``sized_for_width``)."""
    spec, scale = sized_for_width(spec)
    rng = np.random.default_rng([spec.seed, index])
    blocks, mass, compact = _blocks(spec.composition)
    volume = compact * spec.expansion
    numbers = sorted({int(z) for b, _ in blocks for z in b.numbers})
    blmin = min_distances(numbers, spec.min_distance_ratio, spec.molecular_distance_ratio)
    length = volume ** (1 / 3)
    shortest = _min_box_length(blocks, blmin)
    if spec.cell == "cubic" and length < shortest:
        need = spec.expansion * (shortest / length) ** 3
        raise PackingError(
            f"{spec.name}: a {length:.1f} Å box is smaller than the largest block plus its "
            f"contact distance ({shortest:.1f} Å); pack more formula units or raise 'expansion' "
            f"to at least {need:.1f}"
        )
    gen = _generator(spec.cell, blocks, blmin, volume, rng)
    atoms = None
    for _ in range(MAX_CANDIDATES):
        try:
            atoms = gen.get_new_candidate(maxiter=spec.max_attempts)
        except AssertionError:  # ase_ga's own final check: blocks met through an image
            continue
        if atoms is None or not _too_close(atoms, blmin):
            break
    else:
        atoms = None
    if atoms is None:
        nblocks = sum(n for _, n in blocks)
        raise PackingError(
            f"{spec.name}: could not place {nblocks} blocks at "
            f"{mass / volume * AMU_PER_A3_TO_G_PER_CM3:.3f} g/cm³ (expansion {spec.expansion}) "
            f"within {spec.max_attempts} random placements; raise 'expansion' or lower "
            f"'min_distance_ratio' ({spec.min_distance_ratio})"
        )
    atoms.arrays["molecule_id"] = atoms.get_tags().copy()
    atoms.set_tags(0)
    check_no_overlap(atoms)
    if spec.compress is None:
        check_width(atoms, spec.min_width_A, spec.name, "use cell: cubic or a larger composition")
    formula = " + ".join(f"{n} {k}" for k, n in spec.composition.items() if n)
    atoms.info.update(
        source=f"seiflow amorphous packing ({formula}); Vilhelmsen-Hammer start generator "
        f"(ASE ase_ga), seed={spec.seed}, index={index}",
        structure_kind="amorphous",
        name=f"{spec.name}-{index:03d}",
        composition=formula,
        formula_unit_scale=scale,
    )
    return atoms


def build_amorphous(spec: AmorphousSpec) -> list[Atoms]:
    """``spec.count`` packed structures. Compression needs a calculator and lives above this
    layer: seiflow.workflows.compression.compress (seiflow build runs both)."""
    return [pack_amorphous(spec, i) for i in range(spec.count)]

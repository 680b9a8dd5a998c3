"""Amorphous mixtures: random packing at low density (Vilhelmsen & Hammer, J. Chem. Phys. 141,
044711 (2014), as implemented by ASE's start generator) followed by compression under a scalar
pressure (default 50 kbar) with any ASE calculator, as in Li et al., Mater. Horiz. 12, 10770
(2025), Sec. 2.1.

Molecules (CO3 2-, EDC 2-, PF6 -) are placed as rigid blocks with random orientation; Li+ and
other ions as single atoms. Intermolecular distances respect ``min_distance_ratio`` x the sum of
covalent radii (larger between two non-metal atoms, so carbonates do not touch). Each block keeps its index in ``atoms.arrays['molecule_id']``.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import numpy as np
from ase import Atoms
from ase.calculators.calculator import Calculator
from ase.filters import FrechetCellFilter
from ase.neighborlist import neighbor_list
from ase.optimize import BFGS, FIRE
from ase_ga.startgenerator import StartGenerator
from ase.data import chemical_symbols, covalent_radii
from ase_ga.utilities import CellBounds
from pydantic import Field, field_validator

from seiflow.core.config import MAX_ATOMS, MAX_COUNT, StrictModel
from seiflow.core.errors import PackingError, SeiflowError, StructureError
from seiflow.core.units import AMU_PER_A3_TO_G_PER_CM3, GPA, KBAR, density_g_cm3
from seiflow.structures.geometry import check_no_overlap, perpendicular_widths
from seiflow.structures.species import block_atoms, get_species, unit_mass

log = logging.getLogger(__name__)


OPTIMIZERS = {"BFGS": BFGS, "FIRE": FIRE}


class CompressionSettings(StrictModel):
    """Compression of a packed cell: cell + position relaxation, then optional NPT MD."""

    pressure_kbar: float = Field(50.0, description="scalar pressure, kbar (50 kbar = 5 GPa)")
    fmax: float = Field(0.05, gt=0, description="force/stress convergence, eV/Å")
    max_steps: int = Field(300, ge=1, description="optimizer steps for the relaxation")
    optimizer: Literal["BFGS", "FIRE"] = "BFGS"
    npt_steps: int = Field(0, ge=0, description="MTK NPT steps after relaxation (0 = none)")
    temperature_K: float = Field(10.0, gt=0, description="NPT temperature, K")
    timestep_fs: float = Field(0.5, gt=0, description="NPT time step, fs")


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


@dataclass
class CompressionResult:
    atoms: Atoms
    density_initial: float  # g/cm³
    density_final: float  # g/cm³
    relax_steps: int
    converged: bool
    pressure_GPa: float  # final pressure from the calculator's stress


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


def pack_amorphous(spec: AmorphousSpec, index: int = 0) -> Atoms:
    """One random packing at low density. Reproducible from ``spec.seed`` and ``index``."""
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
    if spec.cell == "cubic":
        slab = Atoms(cell=np.eye(3) * length, pbc=True)
        gen = StartGenerator(slab, blocks, blmin, rng=rng)
    else:
        slab = Atoms(pbc=True)
        bounds = CellBounds(bounds={"phi": [60, 120], "chi": [60, 120], "psi": [60, 120],
                                    "a": [0.6 * length, 1.6 * length],
                                    "b": [0.6 * length, 1.6 * length],
                                    "c": [0.6 * length, 1.6 * length]})
        gen = StartGenerator(slab, blocks, blmin, number_of_variable_cell_vectors=3,
                             box_volume=volume, cellbounds=bounds, rng=rng)
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
    formula = " + ".join(f"{n} {k}" for k, n in spec.composition.items() if n)
    atoms.info.update(
        source=f"seiflow amorphous packing ({formula}); Vilhelmsen-Hammer start generator "
        f"(ASE ase_ga), seed={spec.seed}, index={index}",
        structure_kind="amorphous",
        name=f"{spec.name}-{index:03d}",
        composition=formula,
    )
    return atoms


def compress(atoms: Atoms, calc: Calculator, settings: CompressionSettings) -> CompressionResult:
    """Relax cell and positions under ``settings.pressure_kbar``, then optional NPT MD.

    Raises StructureError if the result contains NaN or overlapping atoms (an exploded run).
    """
    atoms = atoms.copy()
    atoms.calc = calc
    rho0 = density_g_cm3(atoms)
    if min(perpendicular_widths(atoms.cell)) < 6.0:
        log.warning("cell is thinner than 6 Å: compression may be dominated by periodic images")
    pressure = settings.pressure_kbar * KBAR
    # exp_cell_factor=1: cell and atoms move on one scale, so a loose packing collapses in tens
    # of steps instead of hundreds (measured with GFN1-xTB on Li2CO3 + Li, 28 atoms)
    filt = FrechetCellFilter(atoms, scalar_pressure=pressure, exp_cell_factor=1.0)
    opt = OPTIMIZERS[settings.optimizer](filt, logfile=None)
    try:
        converged = bool(opt.run(fmax=settings.fmax, steps=settings.max_steps))
        if settings.npt_steps:
            from ase import units
            from ase.md.nose_hoover_chain import IsotropicMTKNPT
            from ase.md.velocitydistribution import thermalize_momenta

            thermalize_momenta(atoms, settings.temperature_K, rng=np.random.default_rng(0))
            dt = settings.timestep_fs * units.fs
            md = IsotropicMTKNPT(atoms, timestep=dt, temperature_K=settings.temperature_K,
                                 pressure_au=pressure, tdamp=100 * dt, pdamp=1000 * dt)
            md.run(settings.npt_steps)
        stress = atoms.get_stress()
    except SeiflowError:
        raise
    except Exception as exc:  # a calculator failure (SCF, NaN...) ends this structure only
        raise StructureError(f"compression failed: {type(exc).__name__}: {exc}") from exc
    if not np.isfinite(atoms.positions).all() or not np.isfinite(stress).all():
        raise StructureError("compression produced non-finite positions or stress")
    check_no_overlap(atoms)
    out = atoms.copy()
    out.calc = None
    rho1 = density_g_cm3(out)
    p_gpa = float(-stress[:3].mean() / GPA)
    out.info.update(
        compress_pressure_kbar=settings.pressure_kbar,
        density_initial=round(rho0, 4),
        density_final=round(rho1, 4),
        relax_steps=int(opt.nsteps),
        relax_converged=converged,
        npt_steps=settings.npt_steps,
        final_pressure_GPa=round(p_gpa, 3),
    )
    return CompressionResult(out, rho0, rho1, int(opt.nsteps), converged, p_gpa)


def build_amorphous(
    spec: AmorphousSpec,
    calculator: Callable[[], Calculator] | None = None,
) -> list[Atoms]:
    """``spec.count`` packed (and, if ``spec.compress`` is set, compressed) structures.

    ``calculator`` makes a fresh ASE calculator for each structure; it is required when
    ``spec.compress`` is set.
    """
    if spec.compress is not None and calculator is None:
        raise SeiflowError(f"{spec.name}: compression needs a calculator")
    out = []
    for i in range(spec.count):
        atoms = pack_amorphous(spec, i)
        if spec.compress is not None:
            atoms = compress(atoms, calculator(), spec.compress).atoms
        out.append(atoms)
    return out

"""The phase library: crystal structures of SEI phases with their literature sources,
molecular building blocks, and a single-molecule Li2EDC cell.

Crystal data (space group, published cell, asymmetric unit) live in ``data/phases.yaml``;
molecules in ``data/molecules.yaml``. Crystals are generated with ``ase.spacegroup.crystal``
and their space group is verified with spglib when built.
"""

from __future__ import annotations

from functools import cache
from typing import Literal
from importlib import resources

import numpy as np
import spglib
import yaml
from ase import Atoms
from ase.spacegroup import crystal

from seiflow.core.config import StrictModel
from seiflow.core.errors import StructureError, UnknownNameError
from seiflow.core.units import density_g_cm3


class PhaseInfo(StrictModel, frozen=True):
    """One library phase as published. Lengths in Å, angles in degrees, density in g/cm³."""

    key: str
    formula: str
    description: str
    spacegroup: int
    setting: int = 1
    cellpar: tuple[float, float, float, float, float, float]
    symbols: tuple[str, ...]
    basis: tuple[tuple[float, float, float], ...]
    density: float | None  # as cited by the source; None where there is none (models)
    temperature: str
    source: str
    provenance: Literal["literature", "idealised", "model"]
    notes: str
    doi: str | None = None


class MoleculeInfo(StrictModel, frozen=True):
    key: str
    formula: str
    charge: int
    description: str
    symbols: tuple[str, ...]
    positions: tuple[tuple[float, float, float], ...]  # Å
    source: str


def _load_yaml(name: str) -> dict:
    text = resources.files("seiflow.structures").joinpath("data", name).read_text()
    return yaml.safe_load(text)


@cache
def _phases() -> dict[str, PhaseInfo]:
    return {k: PhaseInfo(key=k, **d) for k, d in _load_yaml("phases.yaml").items()}


@cache
def _molecules() -> dict[str, MoleculeInfo]:
    return {k: MoleculeInfo(key=k, **d) for k, d in _load_yaml("molecules.yaml").items()}


# The single-molecule Li2EDC cell is built from the molecule, not from crystal data: no
# experimental Li2EDC crystal structure exists (Li et al., Mater. Horiz. 2025, Sec. 3.1).
LI2EDC_CELL = "li2edc-cell"
LI2EDC_CELL_GAP = 3.0  # Å between the molecule's bounding box and its periodic images


def list_phases() -> list[str]:
    return sorted(_phases()) + [LI2EDC_CELL]


# Short names for the ambient ground-state phase of a compound (e.g. on the command line)
PHASE_ALIASES = {"li": "li-bcc", "li2co3": "li2co3-c2c", "li2edc": "li2edc-cell", "in": "in-bct"}


def resolve_phase(name: str) -> str:
    """The library key for ``name``: a key itself or a short alias (``li2co3`` -> li2co3-c2c).
    An unknown name raises UnknownNameError with the nearest keys."""
    key = PHASE_ALIASES.get(name, name)
    if key not in list_phases():
        raise UnknownNameError("phase", name, list_phases() + list(PHASE_ALIASES))
    return key


def list_molecules() -> list[str]:
    return sorted(_molecules())


def phase_info(name: str) -> PhaseInfo:
    phases = _phases()
    if name not in phases:
        raise UnknownNameError("phase", name, list_phases())
    return phases[name]


def molecule_info(name: str) -> MoleculeInfo:
    mols = _molecules()
    if name not in mols:
        raise UnknownNameError("molecule", name, mols)
    return mols[name]


def spacegroup_of(atoms: Atoms, symprec: float = 1e-3) -> tuple[str, int]:
    """International symbol and number found by spglib."""
    cell = (atoms.cell.array, atoms.get_scaled_positions(), atoms.numbers)
    ds = spglib.get_symmetry_dataset(cell, symprec=symprec)
    if ds is None:
        raise StructureError("spglib could not determine the space group")
    return ds.international, int(ds.number)


def get_phase(name: str) -> Atoms:
    """Conventional cell of a library phase, with ``info['source']`` and its space group checked."""
    if name == LI2EDC_CELL:
        return _li2edc_cell()
    p = phase_info(name)
    atoms = crystal(
        list(p.symbols),
        basis=[list(b) for b in p.basis],
        spacegroup=p.spacegroup,
        setting=p.setting,
        cellpar=list(p.cellpar),
        primitive_cell=False,
        onduplicates="error",
    )
    symbol, number = spacegroup_of(atoms)
    if number != p.spacegroup:  # the data file is wrong: never hand out such a structure
        raise StructureError(
            f"phase {name!r}: spglib finds space group {number} ({symbol}), "
            f"expected {p.spacegroup}"
        )
    atoms.info.update(
        source=p.source,
        phase=name,
        spacegroup=f"{symbol} ({number})",
        description=p.description,
        provenance=p.provenance,
    )
    return atoms


def get_molecule(name: str) -> Atoms:
    """A molecular building block (non-periodic), with its charge in ``info['charge']``."""
    m = molecule_info(name)
    atoms = Atoms(symbols=list(m.symbols), positions=np.array(m.positions))
    atoms.info.update(source=m.source, molecule=name, charge=m.charge)
    return atoms


def _li2edc_cell() -> Atoms:
    """One neutral Li2EDC molecule in an orthorhombic P1 cell with LI2EDC_CELL_GAP Å contacts.

    A starting cell for cell + position relaxation (the reference paper compares lattice
    parameters of exactly such a single-molecule cell between MLIP and DFT).
    """
    mol = get_molecule("li2edc")
    pos = mol.get_positions()
    lengths = pos.max(axis=0) - pos.min(axis=0) + LI2EDC_CELL_GAP
    atoms = Atoms(mol.symbols, positions=pos - pos.min(axis=0) + LI2EDC_CELL_GAP / 2,
                  cell=np.diag(lengths), pbc=True)
    atoms.info.update(
        source=f"seiflow: one GFN1-xTB-optimised Li2EDC molecule (molecules.yaml) in a P1 box "
        f"with {LI2EDC_CELL_GAP} Å gaps; cf. Li et al., Mater. Horiz. 12, 10770 (2025), Fig. 3c",
        phase=LI2EDC_CELL,
        spacegroup="P1 (1)",
        description="single-molecule Li2EDC cell (start for cell relaxation)",
        provenance="model",
    )
    return atoms


def phase_density(name: str) -> float:
    """Density (g/cm³) of the generated cell of a phase."""
    return density_g_cm3(get_phase(name))

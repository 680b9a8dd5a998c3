"""Inputs as the commands receive them: label-store locations (a .db path or a database URL,
never mangled into a path) and structure files, checked before any work starts.

The structure gate runs cheap geometric checks first, so that no later step (a neighbour list,
a labeler, a C extension) is ever handed a structure that makes it hang or crash: finite
positions and cell, coordinates and cell vectors of sane size, periodic widths larger than the
minimum distance (else every atom overlaps its own image), then the full check of the label
store's gate (:func:`seiflow.data.checks.check_structure`: elements, cell, distances).
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlparse

import numpy as np
from ase import Atoms

from seiflow.core.errors import SeiflowError, StructureError
from seiflow.data.checks import MIN_DISTANCE, check_structure
from seiflow.structures.io import read_all, read_atoms

MAX_LENGTH_A = 1.0e4  # Å: longest cell vector accepted (neighbour lists scale with it)
MAX_COORDINATE_A = 1.0e6  # Å: largest |coordinate| accepted


def is_url(db: str) -> bool:
    """True for a database URL (``postgresql://...``), False for a file path."""
    return "://" in str(db)


def existing_store(db: str) -> str:
    """``db`` unchanged; SeiflowError if it is a file path that does not exist."""
    if not is_url(db) and not Path(db).is_file():
        what = "is a directory" if Path(db).is_dir() else "not found"
        raise SeiflowError(f"label store {what}: {db}")
    return db


def beside_store(db: str, suffix: str) -> Path:
    """A file named after the store: next to a .db file, or in the working directory named
    after the database of a URL."""
    if not is_url(db):
        return Path(db).with_suffix(suffix)
    name = Path(urlparse(db).path).name or "label-store"
    return Path(name + suffix)


def _periodic_widths(cell: np.ndarray, pbc: np.ndarray) -> dict[int, float]:
    """Perpendicular width (Å) of each periodic axis within the span of the periodic vectors."""
    axes = [int(a) for a in np.flatnonzero(pbc)]
    gram = cell[axes] @ cell[axes].T
    full = np.linalg.det(gram) if axes else 1.0
    widths = {}
    for n, axis in enumerate(axes):
        rest = [m for m in range(len(axes)) if m != n]
        sub = np.linalg.det(gram[np.ix_(rest, rest)]) if rest else 1.0
        widths[axis] = float(np.sqrt(max(full, 0.0) / sub)) if sub > 0 else 0.0
    return widths


def check_geometry(atoms: Atoms, where: str) -> None:
    """The cheap checks (see the module docstring); StructureError naming ``where``."""
    pos, cell = atoms.positions, atoms.cell.array
    if len(atoms) == 0:
        raise StructureError(f"{where}: no atoms")
    if not np.isfinite(pos).all():
        bad = int(np.flatnonzero(~np.isfinite(pos).all(axis=1))[0])
        raise StructureError(f"{where}: position of atom {bad} is not finite")
    if not np.isfinite(cell).all():
        raise StructureError(f"{where}: cell is not finite")
    if np.abs(pos).max() > MAX_COORDINATE_A:
        raise StructureError(f"{where}: a coordinate is beyond ±{MAX_COORDINATE_A:g} Å")
    if np.abs(cell).max() > MAX_LENGTH_A or np.linalg.norm(cell, axis=1).max() > MAX_LENGTH_A:
        raise StructureError(f"{where}: a cell vector is longer than {MAX_LENGTH_A:g} Å")
    with np.errstate(all="ignore"):  # tiny cells: a determinant may underflow
        widths = _periodic_widths(cell, atoms.pbc)
    for axis, width in widths.items():  # 0: a degenerate cell, named by check_structure
        if 0 < width < MIN_DISTANCE:
            raise StructureError(
                f"{where}: the cell is {width:.3g} Å wide along {'abc'[axis]} (periodic), so "
                f"every atom is closer than {MIN_DISTANCE} Å to its own image")


def check_frame(atoms: Atoms, where: str) -> None:
    """check_geometry, then the label store's structure gate."""
    check_geometry(atoms, where)
    check_structure(atoms, where)


def read_checked_frames(path: Path) -> list[Atoms]:
    """Every frame of a structure file, each through :func:`check_frame`; ``info['source']``
    is the file (and frame) unless the file names one."""
    frames = read_all(path)
    for k, atoms in enumerate(frames):
        check_frame(atoms, f"{path}:frame {k}")
        atoms.info.setdefault("source", f"file {path.name}" + (f" frame {k}" if k else ""))
    return frames


def check_structure_files(paths) -> None:
    """read_checked_structure of every path that is not None (structure files a config
    names), before any work starts."""
    for path in paths:
        if path is not None:
            read_checked_structure(path)


def read_checked_structure(path: Path) -> Atoms:
    """The structure ASE reads from ``path`` (the last frame of a trajectory), checked like
    :func:`read_checked_frames`."""
    atoms = read_atoms(path)
    check_frame(atoms, str(path))
    return atoms

"""Writing structures through ASE: extxyz (keeps info and per-atom arrays), CIF, POSCAR."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import ase.io
from ase import Atoms

from seiflow.core.errors import StructureError
from seiflow.structures.geometry import check_no_overlap

Format = Literal["extxyz", "cif", "poscar"]
SUFFIX = {"extxyz": ".extxyz", "cif": ".cif", "poscar": ".POSCAR"}
ASE_FORMAT = {"extxyz": "extxyz", "cif": "cif", "poscar": "vasp"}


def write_structure(atoms: Atoms, stem: Path, formats: list[Format]) -> list[Path]:
    """Write ``atoms`` as ``stem`` + suffix for each format; returns the paths written.

    Every structure must carry ``info['source']``.
    """
    if "source" not in atoms.info:
        raise StructureError("refusing to write a structure without info['source']")
    stem.parent.mkdir(parents=True, exist_ok=True)
    paths = []
    for fmt in formats:
        path = stem.with_name(stem.name + SUFFIX[fmt])
        if fmt == "poscar":
            ase.io.write(path, atoms, format="vasp", direct=True, sort=False)
        else:
            ase.io.write(path, atoms, format=ASE_FORMAT[fmt])
        paths.append(path)
    return paths


def read_all(path: str | Path, what: str = "structure file",
             index: str | slice = ":") -> list[Atoms]:
    """Every frame (or the frames ``index`` selects) of a file ASE reads, with one-line errors
    naming ``what`` for a missing, unreadable or empty file."""
    path = Path(path)
    if not path.is_file():
        raise StructureError(f"{what} not found: {path}")
    try:
        frames = ase.io.read(path, index=index)
    except Exception as exc:  # ASE raises many kinds on unreadable files
        raise StructureError(f"{path} is not a {what} ASE can read: "
                             f"{type(exc).__name__}: {exc}") from None
    if not frames or any(len(a) == 0 for a in frames):
        raise StructureError(f"{path}: no atoms")
    return frames


def read_frames(path: str | Path) -> list[Atoms]:
    """Every structure in a file (all frames of an extxyz/traj), each overlap-checked."""
    path = Path(path)
    frames = read_all(path)
    for k, atoms in enumerate(frames):
        try:
            check_no_overlap(atoms)
        except StructureError as exc:
            raise StructureError(f"{path} frame {k}: {exc}") from None
        atoms.info.setdefault("source", f"file {path.name}" + (f" frame {k}" if k else ""))
    return frames


def read_atoms(path: str | Path) -> Atoms:
    """What ASE reads from ``path`` (the last frame of a trajectory), unchecked; a missing or
    unreadable file is one StructureError line."""
    path = Path(path)
    if not path.is_file():
        raise StructureError(f"structure file not found: {path}")
    try:
        return ase.io.read(path)
    except Exception as exc:  # ASE raises many kinds on unreadable files
        raise StructureError(f"cannot read {path}: {type(exc).__name__}: {exc}") from None


def read_structure(path: str | Path) -> Atoms:
    """Read one structure with ASE (any format it knows), checked for overlapping atoms.

    ``info['source']`` is set to the file name unless the file carries one (extxyz).
    """
    path = Path(path)
    atoms = read_atoms(path)
    if len(atoms) == 0:
        raise StructureError(f"{path}: no atoms")
    try:
        check_no_overlap(atoms)
    except StructureError as exc:
        raise StructureError(f"{path}: {exc}") from None
    atoms.info.setdefault("source", f"file {path.name}")
    return atoms

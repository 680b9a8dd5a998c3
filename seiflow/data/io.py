"""Writing structures through ASE: extxyz (keeps info and per-atom arrays), CIF, POSCAR."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import ase.io
from ase import Atoms

from seiflow.core.errors import StructureError

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

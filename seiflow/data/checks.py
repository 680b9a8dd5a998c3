"""The validation gate every structure and label passes before it enters the label store.

``check_structure(atoms, where)`` and ``check_labelled(atoms, where)`` raise
:class:`~seiflow.core.errors.StructureError` with one line that starts with ``where`` (for
example ``"cells.extxyz:frame 3"``, frames counted from 0) and says what is wrong:

- positions and cell finite (Å);
- every periodic axis has a non-zero cell vector and the periodic vectors span a non-zero
  length/area/volume;
- every atom a known element (atomic number 1..118; ASE gives 0 to a dummy 'X');
- no two atoms closer than :data:`MIN_DISTANCE` (0.5 Å), periodic images included;
- a label: finite energy (eV, required), forces (eV/Å) of shape (N, 3), stress (eV/Å³, ASE
  Voigt 6 or 3×3).

``import_warnings(frames, name)`` is the other half of an honest import: one line naming what
the store will not keep (info keys, per-atom arrays, calculator results) and which labels are
missing in how many frames, or None when nothing is lost.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

import numpy as np
from ase import Atoms
from ase.neighborlist import neighbor_list

from seiflow.core.errors import StructureError

MIN_DISTANCE = 0.5  # Å: closer atoms are overlapping, not a physical structure
MAX_Z = 118
KEPT_INFO = frozenset({"source", "group", "split"})  # what `seiflow data import` stores
KEPT_ARRAYS = frozenset({"numbers", "positions", "initial_magmoms", "initial_charges", "masses",
                         "tags", "momenta"})  # what the ASE database stores per atom
KEPT_RESULTS = frozenset({"energy", "forces", "stress"})


def check_structure(atoms: Atoms, where: str) -> None:
    """Raise StructureError naming ``where`` unless ``atoms`` is a usable structure."""
    if len(atoms) == 0:
        raise StructureError(f"{where}: no atoms")
    if not np.isfinite(atoms.positions).all():
        bad = int(np.flatnonzero(~np.isfinite(atoms.positions).all(axis=1))[0])
        raise StructureError(f"{where}: position of atom {bad} is not finite")
    if not np.isfinite(atoms.cell.array).all():
        raise StructureError(f"{where}: cell is not finite")
    _check_cell(atoms, where)
    _check_elements(atoms, where)
    _check_distances(atoms, where)


def _check_cell(atoms: Atoms, where: str) -> None:
    """Each periodic axis has a cell vector, and the periodic vectors are independent."""
    cell, pbc = atoms.cell.array, atoms.pbc
    lengths = np.linalg.norm(cell, axis=1)
    for axis in np.flatnonzero(pbc):
        if lengths[axis] < 1e-6:
            raise StructureError(f"{where}: periodic along {'abc'[axis]} but that cell vector "
                                 f"is zero (pbc={pbc.tolist()})")
    periodic = cell[pbc]
    if len(periodic) > 1:
        measure = np.sqrt(max(np.linalg.det(periodic @ periodic.T), 0.0))
        if measure < 1e-6 * np.prod(lengths[pbc]):
            kind = "volume" if len(periodic) == 3 else "area"
            raise StructureError(f"{where}: periodic cell has zero {kind} "
                                 f"(cell vectors {np.round(periodic, 4).tolist()})")


def _check_elements(atoms: Atoms, where: str) -> None:
    numbers = atoms.numbers
    bad = np.flatnonzero((numbers < 1) | (numbers > MAX_Z))
    if bad.size:
        symbols = atoms.get_chemical_symbols()
        first = int(bad[0])
        raise StructureError(f"{where}: atom {first} is not a chemical element "
                             f"({symbols[first]!r}, Z={numbers[first]}; {bad.size} such atoms)")


def _check_distances(atoms: Atoms, where: str) -> None:
    """No pair (periodic images included) closer than MIN_DISTANCE."""
    i, j, d = neighbor_list("ijd", atoms, MIN_DISTANCE)
    if d.size:
        k = int(np.argmin(d))
        symbols = atoms.get_chemical_symbols()
        raise StructureError(
            f"{where}: atoms {i[k]} ({symbols[i[k]]}) and {j[k]} ({symbols[j[k]]}) are "
            f"{d[k]:.3f} Å apart (< {MIN_DISTANCE} Å; {d.size // 2} such pairs)")


def check_labelled(atoms: Atoms, where: str) -> None:
    """check_structure, then the label on ``atoms.calc``: finite energy, forces (N, 3), stress."""
    check_structure(atoms, where)
    results = atoms.calc.results if atoms.calc is not None else {}
    energy = results.get("energy")
    if energy is None:
        raise StructureError(f"{where}: no energy label")
    if not np.isfinite(np.asarray(energy, dtype=float)).all():
        raise StructureError(f"{where}: energy is not finite ({energy})")
    forces = results.get("forces")
    if forces is not None:
        forces = np.asarray(forces, dtype=float)
        if forces.shape != (len(atoms), 3):
            raise StructureError(f"{where}: forces have shape {forces.shape}, "
                                 f"expected ({len(atoms)}, 3)")
        if not np.isfinite(forces).all():
            bad = int(np.flatnonzero(~np.isfinite(forces).all(axis=1))[0])
            raise StructureError(f"{where}: force on atom {bad} is not finite")
    stress = results.get("stress")
    if stress is not None:
        stress = np.asarray(stress, dtype=float)
        if stress.shape not in ((6,), (3, 3)):
            raise StructureError(f"{where}: stress has shape {stress.shape}, "
                                 "expected (6,) or (3, 3)")
        if not np.isfinite(stress).all():
            raise StructureError(f"{where}: stress is not finite")


def import_warnings(frames: Sequence[Atoms], name: str) -> str | None:
    """One line: what of ``frames`` (read from ``name``) the store drops, and missing labels."""
    dropped: Counter[str] = Counter()
    missing: Counter[str] = Counter()
    periodic = 0
    for atoms in frames:
        results = atoms.calc.results if atoms.calc is not None else {}
        dropped.update(k for k, v in atoms.info.items() if k not in KEPT_INFO
                       or (k == "split" and v not in ("train", "test")))
        dropped.update(k for k in atoms.arrays if k not in KEPT_ARRAYS)
        dropped.update(k for k in results if k not in KEPT_RESULTS)
        missing.update(["forces"] if results.get("forces") is None else [])
        if atoms.pbc.all():
            periodic += 1
            missing.update(["stress"] if results.get("stress") is None else [])
    parts = []
    if dropped:
        items = [f"{n} a {k!r}" for k, n in sorted(dropped.items())]
        first, rest = items[0].split(" ", 1)
        have = ", ".join([f"{first} frames have {rest}", *items[1:]])
        parts.append(f"{have} the store does not keep")
    if missing["forces"]:
        parts.append(f"forces missing in {missing['forces']} of {len(frames)} frames")
    if missing["stress"]:
        parts.append(f"stress missing in {missing['stress']} of {periodic} periodic frames")
    return f"{name}: " + "; ".join(parts) if parts else None

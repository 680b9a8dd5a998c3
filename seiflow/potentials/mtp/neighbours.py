"""A full neighbour list (vesin) within cutoff + skin, kept between MD steps while it is valid.

Stored as CSR: ``offsets`` (n + 1, int64), neighbour index ``j`` (int32) and periodic shift
``S`` (int32, in cell vectors; r_ij = r_j - r_i + S·cell), each atom's neighbours sorted by
species type (the kernel takes one radial-coefficient row per run of equal types).

Validity under moves and cell changes (NPT): with fractional coordinates f and cell C, a pair
vector changes by (Δf_j - Δf_i)·C' + d·C⁻¹ΔC, so no pair from beyond cutoff + skin can come
inside the cutoff while 2δ + ε (cutoff + skin) ≤ skin, δ = max_i |Δf_i·C'| and ε = ‖C⁻¹ΔC‖₂.
"""

from __future__ import annotations

import numpy as np
from ase import Atoms


class SkinList:
    """Neighbour list of one structure's atoms within ``cutoff`` + ``skin`` Å."""

    def __init__(self, cutoff: float, skin: float):
        self.cutoff, self.skin = float(cutoff), float(skin)
        self._ref = None  # numbers, pbc, cell, positions at the last build
        self._lists = None
        self.builds = 0

    @property
    def built_cell(self) -> tuple[np.ndarray, np.ndarray]:
        """The cell the current list was built in and its inverse (a full 3-D cell)."""
        return self._ref[2], self._ref[4]

    @property
    def built_positions(self) -> np.ndarray:
        """Positions (Å) the current list was built around (the skin test's reference)."""
        return self._ref[3]

    def get(self, atoms: Atoms, types: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        if not self._valid(atoms):
            self._build(atoms, types)
        return self._lists

    def _valid(self, atoms: Atoms) -> bool:
        if self._ref is None:
            return False
        numbers, pbc, cell, pos, inv = self._ref
        if len(atoms) != len(numbers) or not np.array_equal(atoms.numbers, numbers) \
                or not np.array_equal(atoms.pbc, pbc):
            return False
        new_cell = atoms.cell.array
        if np.array_equal(new_cell, cell):  # NVE/NVT: only the atoms moved
            delta = np.sqrt(((atoms.positions - pos) ** 2).sum(axis=1).max(initial=0.0))
            return 2.0 * delta <= self.skin
        if inv is None or atoms.cell.rank < 3:  # a changed cell that is not a full 3-D one
            return False
        dfrac = atoms.positions @ np.linalg.inv(new_cell) - pos @ inv
        delta = np.sqrt(((dfrac @ new_cell) ** 2).sum(axis=1).max(initial=0.0))
        eps = np.linalg.norm(inv @ (new_cell - cell), 2)
        return 2.0 * delta + eps * (self.cutoff + self.skin) <= self.skin

    def _build(self, atoms: Atoms, types: np.ndarray) -> None:
        import vesin

        n = len(atoms)
        pbc = [bool(p) for p in atoms.pbc]
        box = atoms.cell.array if any(pbc) else np.zeros((3, 3))
        if n > 1:
            nl = vesin.NeighborList(cutoff=self.cutoff + self.skin, full_list=True)
            i, j, shifts = nl.compute(points=atoms.positions, box=box, periodic=pbc,
                                      quantities="ijS")
        else:  # vesin needs two points; a lone atom (with images) goes through ASE
            from ase.neighborlist import primitive_neighbor_list

            i, j, shifts = primitive_neighbor_list("ijS", atoms.pbc, atoms.cell.array,
                                                   atoms.positions, self.cutoff + self.skin)
        i = np.asarray(i, dtype=np.int64)
        j = np.asarray(j, dtype=np.int64)
        order = np.lexsort((types[j], i))
        offsets = np.zeros(n + 1, dtype=np.int64)
        np.cumsum(np.bincount(i, minlength=n), out=offsets[1:])
        self._lists = (offsets, np.ascontiguousarray(j[order], dtype=np.int32),
                       np.ascontiguousarray(np.asarray(shifts)[order], dtype=np.int32))
        cell = atoms.cell.array.copy()
        inv = np.linalg.inv(cell) if np.linalg.matrix_rank(cell) == 3 else None
        self._ref = (atoms.numbers.copy(), atoms.pbc.copy(), cell, atoms.positions.copy(), inv)
        self.builds += 1

"""Clusters of chosen atoms (by default metallic In) and their percolation through the cell.

Data in, data out: an ASE ``Atoms`` frame (Å) in, a :class:`ClusterResult` out.

Definitions
-----------
- Two selected atoms are **bonded** when they are closer than ``cutoff`` (Å), periodic images
  included (``ase.neighborlist.neighbor_list``; a cell smaller than the cutoff is fine). A
  **cluster** is a connected component of that graph (``scipy.sparse.csgraph``); its size is its
  number of atoms. Isolated atoms are clusters of size 1; ``n_clusters(min_size)`` counts those of
  at least ``min_size`` atoms.
- **Percolation.** A cluster is infinite (percolates) along cell vector k when its periodic
  graph, unwrapped into all images, contains a cycle that winds a non-zero number of times along
  k: e.g. an atom bonded to its own image one cell further along k. A breadth-first search from
  one atom gives every atom of the cluster an image offset (integer 3-vector) through the tree
  edges; every other edge i -> j with shift S closes a cycle with winding ``img[i] + S - img[j]``.
  Those windings generate all cycles' windings, so the cluster percolates along k iff one of them
  has a non-zero k component, and their rank (0-3) is its dimensionality (0: finite, 1: chain,
  2: sheet, 3: network). A finite cluster that merely straddles the cell boundary has rank 0.
- The result does not depend on where the atoms sit in the cell (a rigid translation of all
  atoms, with or without wrapping, gives the same clusters and windings).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from ase import Atoms
from ase.neighborlist import neighbor_list
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from seiflow.core.errors import SeiflowError

DEFAULT_CUTOFF_A = 3.6  # In-In: between the 3.38 Å second and the 4.6 Å third shell of In metal


@dataclass
class ClusterResult:
    """Clusters of the selected atoms of one frame, largest first."""

    species: tuple[str, ...]
    cutoff_A: float
    indices: np.ndarray  # atom indices of the selected atoms
    cluster_of: np.ndarray  # cluster number (0 = largest) of each selected atom
    sizes: np.ndarray  # atoms per cluster, decreasing
    windings: list[np.ndarray]  # per cluster: independent winding vectors, (rank, 3) integers

    @property
    def n_selected(self) -> int:
        return int(self.indices.size)

    @property
    def largest(self) -> int:
        """Atoms in the largest cluster (0 if nothing is selected)."""
        return int(self.sizes[0]) if self.sizes.size else 0

    @property
    def largest_fraction(self) -> float:
        """Fraction of the selected atoms in the largest cluster (0 if none selected)."""
        return self.largest / self.n_selected if self.n_selected else 0.0

    def n_clusters(self, min_size: int = 2) -> int:
        """Clusters of at least ``min_size`` atoms."""
        return int((self.sizes >= min_size).sum())

    def size_distribution(self) -> dict[int, int]:
        """{cluster size: number of clusters of that size}."""
        sizes, counts = np.unique(self.sizes, return_counts=True)
        return {int(s): int(c) for s, c in zip(sizes, counts)}

    def percolates(self, cluster: int = 0) -> tuple[bool, bool, bool]:
        """Whether cluster ``cluster`` (0 = largest) is infinite along cell vectors a, b, c."""
        if not self.sizes.size:
            return (False, False, False)
        w = self.windings[cluster]
        return tuple(bool(np.any(w[:, k] != 0)) for k in range(3))

    def dimensionality(self, cluster: int = 0) -> int:
        """0 finite, 1 chain, 2 sheet, 3 network (rank of the cluster's windings)."""
        return int(self.windings[cluster].shape[0]) if self.sizes.size else 0


def select_atoms(atoms: Atoms, species: Sequence[str] | None = None,
                 mask: np.ndarray | None = None) -> np.ndarray:
    """Indices of the atoms of ``species`` (and within ``mask`` when given)."""
    keep = np.ones(len(atoms), dtype=bool)
    if species:
        keep &= np.isin(atoms.get_chemical_symbols(), list(species))
    if mask is not None:
        mask = np.asarray(mask)
        if mask.shape != (len(atoms),) or mask.dtype != bool:
            raise SeiflowError(f"mask must be a boolean array of shape ({len(atoms)},)")
        keep &= mask
    return np.flatnonzero(keep)


def _basis(vectors: list[np.ndarray]) -> np.ndarray:
    """A maximal linearly independent subset of integer 3-vectors, (rank, 3), each with its
    first non-zero component positive (a cycle's direction is arbitrary)."""
    basis: list[np.ndarray] = []
    for v in vectors:
        v = v if v[np.flatnonzero(v)[0]] > 0 else -v
        trial = np.array(basis + [v])
        if np.linalg.matrix_rank(trial) > len(basis):
            basis.append(v)
            if len(basis) == 3:
                break
    return np.array(basis, dtype=int).reshape(-1, 3)


def _windings(n: int, i: np.ndarray, j: np.ndarray, shifts: np.ndarray,
              cluster_of: np.ndarray, n_clusters: int) -> list[np.ndarray]:
    """Independent cycle windings of every cluster by breadth-first search (module docstring)."""
    order = np.argsort(i, kind="stable")
    i, j, shifts = i[order], j[order], shifts[order]
    starts = np.searchsorted(i, np.arange(n + 1))
    image = np.zeros((n, 3), dtype=int)
    seen = np.zeros(n, dtype=bool)
    found: list[list[np.ndarray]] = [[] for _ in range(n_clusters)]
    for root in range(n):
        if seen[root]:
            continue
        seen[root] = True
        queue = deque([root])
        while queue:
            u = queue.popleft()
            for e in range(starts[u], starts[u + 1]):
                v = j[e]
                img = image[u] + shifts[e]
                if not seen[v]:
                    seen[v], image[v] = True, img
                    queue.append(v)
                elif np.any(img != image[v]):
                    found[cluster_of[u]].append(img - image[v])
    return [_basis(w) for w in found]


def find_clusters(atoms: Atoms, species: Sequence[str] | None = ("In",),
                  cutoff: float = DEFAULT_CUTOFF_A,
                  mask: np.ndarray | None = None) -> ClusterResult:
    """Clusters of the atoms of ``species`` (all species if None; and within ``mask`` when
    given) bonded closer than ``cutoff`` Å, with their periodic windings."""
    if not cutoff > 0:
        raise SeiflowError(f"cluster cutoff must be positive, got {cutoff} Å")
    idx = select_atoms(atoms, species, mask)
    chosen = tuple(species) if species else tuple(sorted(set(atoms.get_chemical_symbols())))
    if idx.size == 0:
        return ClusterResult(chosen, float(cutoff), idx, np.zeros(0, dtype=int),
                             np.zeros(0, dtype=int), [])
    sub = atoms[idx]
    if sub.pbc.any() and abs(sub.cell.volume) < 1e-9:
        raise SeiflowError("a periodic frame needs a cell with non-zero volume for clusters")
    i, j, shifts = neighbor_list("ijS", sub, float(cutoff), self_interaction=False)
    n = len(sub)
    graph = coo_matrix((np.ones(i.size), (i, j)), shape=(n, n))
    n_comp, comp = connected_components(graph, directed=False)
    sizes = np.bincount(comp, minlength=n_comp)
    rank = np.empty(n_comp, dtype=int)
    rank[np.lexsort((np.arange(n_comp), -sizes))] = np.arange(n_comp)  # 0 = largest
    cluster_of = rank[comp]
    windings = _windings(n, i, j, shifts.astype(int), cluster_of, n_comp)
    return ClusterResult(species=chosen, cutoff_A=float(cutoff), indices=idx,
                         cluster_of=cluster_of, sizes=np.sort(sizes)[::-1].copy(),
                         windings=windings)

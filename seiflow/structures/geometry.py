"""Geometry helpers shared by the builders: overlap checks, perpendicular widths, supercells,
the largest empty void of a periodic cell, and molecular bond graphs."""

from __future__ import annotations

import math

import networkx as nx
import numpy as np
from ase import Atoms
from ase.neighborlist import natural_cutoffs, neighbor_list
from scipy.optimize import minimize
from scipy.spatial import cKDTree

from seiflow.core.config import MAX_ATOMS
from seiflow.core.errors import StructureError

OVERLAP_THRESHOLD = 0.5  # Å: two atoms closer than this are the same place, never physical


def perpendicular_widths(cell) -> np.ndarray:
    """Distances between opposite faces of the cell (Å): V / |b x c|, V / |c x a|, V / |a x b|."""
    cell = np.asarray(cell, dtype=float)
    vol = abs(np.linalg.det(cell))
    crosses = [np.cross(cell[1], cell[2]), np.cross(cell[2], cell[0]), np.cross(cell[0], cell[1])]
    return np.array([vol / np.linalg.norm(c) for c in crosses])


def check_no_overlap(atoms: Atoms, threshold: float = OVERLAP_THRESHOLD) -> None:
    """Raise StructureError naming the closest pair if any two atoms are closer than threshold."""
    if len(atoms) < 2:
        return
    if atoms.pbc.any() and abs(atoms.cell.volume) < 1e-9:
        raise StructureError("periodic structure has a zero-volume cell")
    i, j, d = neighbor_list("ijd", atoms, threshold)
    if len(d):
        k = int(np.argmin(d))
        a, b = int(i[k]), int(j[k])
        sym = atoms.get_chemical_symbols()
        what = "its own periodic image" if a == b else f"atom {b} ({sym[b]})"
        raise StructureError(
            f"overlapping atoms: atom {a} ({sym[a]}) is {d[k]:.3f} Å from {what}; "
            f"minimum allowed is {threshold} Å"
        )


def supercell_repeats(
    cell, natoms: int, min_width: float | None = None, min_atoms: int | None = None
) -> tuple[int, int, int]:
    """Smallest diagonal repetition reaching a minimum perpendicular width (Å) and atom count.

    Widths first: each direction is repeated ceil(min_width / width). Then, while the atom count is
    short, the direction with the smallest perpendicular width is grown by one.
    """
    widths = perpendicular_widths(cell)
    reps = np.ones(3, dtype=int)
    if min_width:
        wanted = np.ceil(min_width / widths - 1e-9)  # floats: no overflow before the check
        _check_size(natoms * float(np.prod(np.maximum(1.0, wanted))), min_width, min_atoms)
        reps = np.maximum(1, wanted).astype(int)
    if min_atoms:
        _check_size(float(min_atoms), min_width, min_atoms)
        while natoms * int(np.prod(reps)) < min_atoms:
            reps[int(np.argmin(widths * reps))] += 1
    return int(reps[0]), int(reps[1]), int(reps[2])


def _check_size(atoms: float, min_width: float | None, min_atoms: int | None) -> None:
    """Refuse a supercell above MAX_ATOMS before anything is allocated."""
    if atoms > MAX_ATOMS:
        raise StructureError(f"a supercell of min_width {min_width} Å, min_atoms {min_atoms} "
                             f"would hold {atoms:.3g} atoms (at most {MAX_ATOMS}); lower them")


def make_supercell(
    atoms: Atoms, min_width: float | None = None, min_atoms: int | None = None
) -> Atoms:
    """Diagonal supercell grown to ``min_width`` (Å, perpendicular) and/or ``min_atoms``."""
    reps = supercell_repeats(atoms.cell, len(atoms), min_width, min_atoms)
    sc = atoms.repeat(reps)
    sc.info = dict(atoms.info)
    sc.info["supercell"] = list(reps)
    return sc


def check_width(atoms: Atoms, min_width_A: float | None, what: str, hint: str) -> None:
    """Raise StructureError (one line) if a perpendicular width is below ``min_width_A``."""
    if not min_width_A:
        return
    widths = perpendicular_widths(atoms.cell)
    if widths.min() < min_width_A - 1e-6:
        shown = ", ".join(f"{w:.2f}" for w in widths)
        raise StructureError(f"{what}: perpendicular widths {shown} Å, below min_width_A "
                             f"{min_width_A} Å; {hint}")


def _min_image_tree(atoms: Atoms) -> tuple[cKDTree, np.ndarray]:
    """KD-tree over the atoms and their 26 neighbouring images (Cartesian)."""
    shifts = np.array([[i, j, k] for i in (-1, 0, 1) for j in (-1, 0, 1) for k in (-1, 0, 1)])
    pos = atoms.get_positions()
    images = (pos[None, :, :] + (shifts @ atoms.cell.array)[:, None, :]).reshape(-1, 3)
    return cKDTree(images), np.tile(np.arange(len(atoms)), len(shifts))


def largest_void(atoms: Atoms, spacing: float = 0.25) -> tuple[np.ndarray, float]:
    """Centre (Cartesian, Å) and radius (Å) of the largest empty sphere in a periodic cell.

    A grid of ``spacing`` Å is searched for the point farthest from every atom (periodic images
    included); the best grid point is then refined by maximising the nearest-atom distance.
    """
    if not atoms.pbc.all():
        raise StructureError("largest_void needs a cell periodic in all three directions")
    if len(atoms) == 0:
        raise StructureError("largest_void needs at least one atom")
    tree, _ = _min_image_tree(atoms)
    lengths = atoms.cell.lengths()
    n = [max(4, math.ceil(L / spacing)) for L in lengths]
    grid = np.stack(
        np.meshgrid(*[np.arange(k) / k for k in n], indexing="ij"), axis=-1
    ).reshape(-1, 3)
    cart = grid @ atoms.cell.array
    dist, _ = tree.query(cart)
    best = cart[int(np.argmax(dist))]
    res = minimize(lambda x: -tree.query(x)[0], best, method="Nelder-Mead",
                   options={"xatol": 1e-4, "fatol": 1e-6})
    centre = res.x if -res.fun >= dist.max() else best
    frac = np.linalg.solve(atoms.cell.array.T, centre) % 1.0
    centre = frac @ atoms.cell.array
    return centre, float(tree.query(centre)[0])


def bond_graph(atoms: Atoms, indices=None, mult: float = 1.15) -> nx.Graph:
    """Covalent bond graph (ASE natural cutoffs x mult, periodic minimum image).

    Nodes are atom indices with attribute ``symbol``; only ``indices`` are included if given.
    """
    cut = natural_cutoffs(atoms, mult=mult)
    i, j = neighbor_list("ij", atoms, cut)
    keep = set(range(len(atoms))) if indices is None else set(int(k) for k in indices)
    sym = atoms.get_chemical_symbols()
    g = nx.Graph()
    g.add_nodes_from((k, {"symbol": sym[k]}) for k in sorted(keep))
    g.add_edges_from((int(a), int(b)) for a, b in zip(i, j) if a < b and a in keep and b in keep)
    return g


def same_bond_graph(a: nx.Graph, b: nx.Graph) -> bool:
    """True if two bond graphs are isomorphic with matching element labels."""
    return nx.is_isomorphic(a, b, node_match=lambda x, y: x["symbol"] == y["symbol"])

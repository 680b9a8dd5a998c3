"""Extrapolation grade γ and the active set (D-optimality, MaxVol), for any potential whose
site energy is linear in some coefficients: MTP (rows = basis values) and MACE (rows = the
features its readouts combine linearly, potentials/mace/features.py).

Neighbourhood mode (Podryabinkin & Shapeev, Comput. Mater. Sci. 140, 171 (2017); Novikov et al.,
Mach. Learn.: Sci. Technol. 2, 025002 (2021)): every atomic neighbourhood n_i is a row
b(n_i) = (B_1(n_i), …, B_m(n_i), δ_{type(i),1}, …, δ_{type(i),S}), the derivative of its site
energy with respect to the linear coefficients (moment and species coefficients). The active set
is the m+S training neighbourhoods whose rows span the largest volume (MaxVol); the grade of a new
neighbourhood is γ = max_j |c_j| with b = c·A, A the active-set matrix. γ ≤ 1 means the
neighbourhood is an interpolation of the active set; γ ≫ 1 an extrapolation. Configuration mode
(one row per structure) grows with cell size, so seiflow always grades neighbourhoods.

Only the linear coefficients enter the rows, so the grade needs only the basis values that the
energy evaluation computes anyway: grading every MD step costs one small matrix product.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from motep.grade.maxvol import FindMethod, InitMethod, MaxVol, _maxvol

# relative tolerance below which a direction counts as not spanned by the training rows
_RANK_RTOL = 1e-10
# MaxVol stops when no row would grow the volume by more than this factor
_MAXVOL_THRESHOLD = 1e-3
# MaxVol passes of select_add over the rows graded above 1 (each one grows the volume)
_MAX_PASSES = 50


def design_rows(vatoms: np.ndarray, types: np.ndarray, n_species: int) -> np.ndarray:
    """Rows b(n_i) for every atom: basis values (``vatoms``: m × n) then a species one-hot."""
    onehot = np.zeros((len(types), n_species))
    onehot[np.arange(len(types)), types] = 1.0
    return np.hstack([vatoms.T, onehot])


@dataclass
class ActiveSet:
    """The active-set matrix (rows scaled column-wise by ``scale``) and its inverse."""

    scale: np.ndarray
    rows: np.ndarray
    inverse: np.ndarray
    complete: bool  # False when the training rows do not span every direction
    missing: int = 0  # how many directions they do not span (known after a fit, not saved)

    @classmethod
    def from_matrix(cls, matrix: np.ndarray) -> ActiveSet:
        """MaxVol active set of the training neighbourhood rows ``matrix`` (n × m)."""
        matrix = np.asarray(matrix, dtype=float)
        n, m = matrix.shape
        scale = np.sqrt(np.mean(matrix**2, axis=0))
        scale[scale == 0] = 1.0
        scaled = matrix / scale
        sv = np.linalg.svd(scaled, compute_uv=False)
        missing = m - int(np.sum(sv > _RANK_RTOL * sv[0]))
        complete = missing == 0
        if complete:
            result = MaxVol(algorithm=FindMethod.MAXVOL, init_method=InitMethod.QR,
                            threshold=_MAXVOL_THRESHOLD).run(scaled)
        else:
            # MLIP-2/3's algorithm starts from a tiny scaled identity: directions the training
            # data never visit keep those rows, so any component along them is graded as a
            # (huge) extrapolation rather than ignored.
            padded = scaled if n >= m else np.vstack([scaled, np.zeros((m - n, m))])
            result = MaxVol(algorithm=FindMethod.MLIP).run(padded)
        rows = result.submatrix
        return cls(scale=scale, rows=rows, inverse=np.linalg.inv(rows), complete=bool(complete),
                   missing=missing)

    def grades(self, matrix: np.ndarray) -> np.ndarray:
        """γ of every row of ``matrix`` (n × m)."""
        c = (np.asarray(matrix) / self.scale) @ self.inverse
        return np.max(np.abs(c), axis=1)

    def save(self, path: str | Path) -> Path:
        path = Path(path)
        np.savez(path, scale=self.scale, rows=self.rows, complete=self.complete)
        return path

    @classmethod
    def load(cls, path: str | Path) -> ActiveSet:
        with np.load(path) as f:
            rows = f["rows"]
            return cls(scale=f["scale"], rows=rows, inverse=np.linalg.inv(rows),
                       complete=bool(f["complete"]))


def select_add(active: ActiveSet, blocks: Sequence[np.ndarray],
               max_frames: int | None = None) -> list[int]:
    """Indices of the candidate frames (one row block per frame) whose neighbourhoods enlarge
    the active set's volume, best first: MaxVol over the active rows plus the candidate rows,
    started from the active set (the reference paper's selection step). ``max_frames`` keeps the
    frames whose best row has the largest grade.

    MaxVol stops when no row would grow the volume by more than ``_MAXVOL_THRESHOLD``, i.e.
    when every row's grade against the chosen set is <= 1 + that. It runs on the rows graded
    above that bound only (a few hundred of the ~10⁵-10⁶ neighbourhoods a loop iteration
    writes), then grades every row against the new set and repeats with those above it, until
    none is: the result meets the same stopping rule over all rows as MaxVol over all of them
    (not necessarily the same greedy path), at a fraction of its cost."""
    if not blocks:
        return []
    rows = np.vstack([np.asarray(b, dtype=float) for b in blocks]) / active.scale
    owner = np.concatenate([np.full(len(b), k) for k, b in enumerate(blocks)])
    grades = np.max(np.abs(rows @ active.inverse), axis=1)
    best = np.zeros(len(blocks))
    np.maximum.at(best, owner, grades)
    basis, picked = grow_active_rows(active, rows, grades)
    chosen = sorted({int(owner[i]) for i in picked if i >= 0}, key=lambda k: -best[k])
    return chosen[:max_frames] if max_frames is not None else chosen


def grow_active_rows(active: ActiveSet, rows: np.ndarray, grades: np.ndarray
                     ) -> tuple[np.ndarray, np.ndarray]:
    """MaxVol from the active set over scaled candidate ``rows`` (their ``grades`` against it),
    by passes over the rows graded above 1 (``select_add``): the grown submatrix, and for
    each of its rows the candidate row it is (-1: a row of the active set)."""
    m = active.rows.shape[0]
    basis, picked = active.rows, np.full(m, -1)
    pool = np.flatnonzero(grades > 1.0 + _MAXVOL_THRESHOLD)
    for _ in range(_MAX_PASSES):
        if pool.size == 0:
            break
        result = _maxvol(np.vstack([basis, rows[pool]]), np.arange(m),
                         threshold=_MAXVOL_THRESHOLD, maxiter=100 * m)
        basis, picked = result.submatrix, np.concatenate([picked, pool])[result.indices]
        grades = np.max(np.abs(rows @ np.linalg.inv(basis)), axis=1)
        grades[picked[picked >= 0]] = 0.0
        pool = np.flatnonzero(grades > 1.0 + _MAXVOL_THRESHOLD)
    return basis, picked

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
    the active set's volume, best first: MaxVol over the active rows plus every candidate row,
    started from the active set (the reference paper's selection step). ``max_frames`` keeps the
    frames whose best row has the largest grade."""
    blocks = [np.asarray(b, dtype=float) for b in blocks]
    if not blocks:
        return []
    cand = np.vstack(blocks) / active.scale
    owner = np.concatenate([np.full(len(b), k) for k, b in enumerate(blocks)])
    m = active.rows.shape[0]
    stacked = np.vstack([active.rows, cand])
    result = _maxvol(stacked, np.arange(m), threshold=_MAXVOL_THRESHOLD, maxiter=100 * m)
    chosen = sorted({int(owner[i - m]) for i in result.indices if i >= m})
    best = {k: float(active.grades(blocks[k]).max()) for k in chosen}
    chosen.sort(key=lambda k: -best[k])
    return chosen[:max_frames] if max_frames is not None else chosen

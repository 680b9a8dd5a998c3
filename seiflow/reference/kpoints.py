"""k-point grids from a spacing, with VASP's KSPACING definition, so every backend samples the
Brillouin zone the same way: N_i = max(1, ceil(|b_i| / spacing)) with b_i = 2π × the reciprocal
vectors (Å⁻¹). Non-periodic directions get 1."""

from __future__ import annotations

import math

import numpy as np
from ase import Atoms


def kpoint_grid(atoms: Atoms, spacing: float) -> tuple[int, int, int]:
    if spacing <= 0:
        raise ValueError("k-point spacing must be positive (Å⁻¹)")
    recip = 2 * np.pi * np.linalg.norm(atoms.cell.reciprocal(), axis=1)
    grid = [max(1, math.ceil(b / spacing - 1e-9)) if p else 1 for b, p in zip(recip, atoms.pbc)]
    return grid[0], grid[1], grid[2]

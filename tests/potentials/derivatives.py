"""Forces and stress of a potential against central finite differences of its energy."""

from collections.abc import Callable

import numpy as np
import pytest
from ase import Atoms

VOIGT_PAIRS = [(0, 0), (1, 1), (2, 2), (1, 2), (0, 2), (0, 1)]


def assert_derivatives(energy: Callable[[Atoms], float], atoms: Atoms, forces: np.ndarray,
                       stress: np.ndarray, moves: list[tuple[int, int]],
                       components: list[int], h: float = 1e-5) -> None:
    """forces[i, a] = -dE/dx_ia for the (atom, axis) ``moves``; stress[v] (Voigt, eV/Å³) =
    (1/V) dE/dε_v for the Voigt ``components``, by symmetric strains of ±h."""
    for i, a in moves:
        e = []
        for sign in (1, -1):
            moved = atoms.copy()
            moved.positions[i, a] += sign * h
            e.append(energy(moved))
        assert -(e[0] - e[1]) / (2 * h) == pytest.approx(forces[i, a], rel=1e-6, abs=1e-6)
    for v in components:
        a, b = VOIGT_PAIRS[v]
        e = []
        for sign in (1, -1):
            strain = np.eye(3)
            strain[a, b] += sign * h / (1 if a == b else 2)
            strain[b, a] = strain[a, b]
            moved = atoms.copy()
            moved.set_cell(atoms.cell.array @ strain, scale_atoms=True)
            e.append(energy(moved))
        fd = (e[0] - e[1]) / (2 * h) / atoms.get_volume()
        assert fd == pytest.approx(stress[v], rel=1e-6, abs=1e-7)

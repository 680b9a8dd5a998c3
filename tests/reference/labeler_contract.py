"""Contract checks for a Labeler backend: each takes a labeler and a structure and raises
AssertionError with the measured discrepancy (the labeler counterpart of seiflow.testing's
potential checks; candidates for ``seiflow.testing`` once that module takes labelers)."""

from __future__ import annotations

import numpy as np
from ase import Atoms
from ase.calculators.fd import calculate_numerical_forces, calculate_numerical_stress


def check_fd(labeler, atoms: Atoms, eps: float, f_tol: float, s_tol: float) -> None:
    """Label forces and stress equal central differences of the labeler's own energy."""
    label = labeler.label(atoms)
    assert label.ok, label.failure
    work = atoms.copy()
    work.calc = labeler.calculator(work)
    f_dev = np.abs(label.forces - calculate_numerical_forces(work, eps=eps)).max()
    assert f_dev < f_tol, f"forces differ from finite differences by {f_dev:.2e} eV/Å"
    assert np.abs(label.forces).max() > 10 * f_tol, "forces ~0: the check cannot fail"
    s_dev = np.abs(label.stress - calculate_numerical_stress(work, eps=eps, voigt=True)).max()
    assert s_dev < s_tol, f"stress differs from finite differences by {s_dev:.2e} eV/Å³"


def check_stress_sign(labeler, atoms: Atoms, strain: float = 0.03) -> None:
    """ASE sign: a compressed cell pushes outwards (negative stress, positive pressure) and
    an expanded one pulls inwards, measured against the unstrained cell."""
    traces = []
    for f in (1 - strain, 1.0, 1 + strain):
        work = atoms.copy()
        work.set_cell(atoms.cell * f, scale_atoms=True)
        label = labeler.label(work)
        assert label.ok, label.failure
        traces.append(float(np.sum(label.stress[:3])))
    assert traces[0] < traces[1] < traces[2], f"stress traces {traces} (eV/Å³) not increasing"


def check_input_not_mutated(labeler, atoms: Atoms) -> None:
    before = atoms.copy()
    info = dict(atoms.info)
    labeler.label(atoms)
    assert atoms.calc is None, "label() attached a calculator to its input"
    assert np.array_equal(atoms.positions, before.positions), "label() moved the input atoms"
    assert np.array_equal(atoms.cell.array, before.cell.array), "label() changed the cell"
    assert atoms.info == info, "label() changed atoms.info"


def check_failure_is_returned(labeler, atoms: Atoms) -> None:
    """A structure the code cannot compute gives a failed Label, never an exception."""
    label = labeler.label(atoms)
    assert not label.ok and label.failure, "expected a failed label"
    assert label.energy is None and label.forces is None

"""Contract checks for a Labeler backend (the labeler counterpart of
``seiflow.testing.potential``): each takes a labeler and a structure and raises AssertionError
with the measured discrepancy. A new labeler passes all of them::

    check_fd(lab, atoms, eps=1e-4, f_tol=1e-3, s_tol=1e-4)
    check_stress_sign(lab, atoms)
    check_input_not_mutated(lab, atoms)
    check_failure_is_returned(lab, atoms_it_cannot_compute)
    check_settings_hash_ignores_launch(lab, {"device": "cuda"})
"""

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


def check_settings_hash_ignores_launch(labeler, launch_changes: dict) -> None:
    """How a label is run (``launch_changes``: other values of launch fields, e.g. the MPI
    command or the device) does not change the settings hash, so nothing is relabelled; every
    changed field must be one of the labeler's LAUNCH_FIELDS."""
    unknown = set(launch_changes) - set(labeler.LAUNCH_FIELDS)
    assert not unknown, f"{sorted(unknown)} are not launch fields of {labeler.name}"
    other = labeler.model_copy(update=launch_changes)
    assert other.settings_hash() == labeler.settings_hash(), \
        f"changing {sorted(launch_changes)} changed the settings hash: labels would be redone"

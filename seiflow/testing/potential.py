"""Contract checks for a Potential backend (after torch-sim's ``testing.py``): each takes a
potential and a structure and raises AssertionError with the measured discrepancy. Every
backend's tests call them (tests/potentials): FD forces and stress, invariances, save/load,
input not mutated, NVE drift, and for a ``Gradable`` backend the grade's shape and range.

Physics, not implementation: forces and stress are derivatives of the energy; the energy does not
change under rotation, translation, a change of equivalent lattice vectors, or relabelling atoms;
a saved and reloaded model predicts identically.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from ase import Atoms
from ase.calculators.fd import calculate_numerical_forces, calculate_numerical_stress
from scipy.spatial.transform import Rotation

from seiflow.potentials.base import Gradable, Potential


def _efs(potential: Potential, atoms: Atoms) -> tuple[float, np.ndarray, np.ndarray | None]:
    work = atoms.copy()
    work.calc = potential.calculator(grade=False)
    stress = work.get_stress() if work.cell.rank == 3 and all(work.pbc) else None
    return work.get_potential_energy(), work.get_forces(), stress


def check_forces_fd(potential: Potential, atoms: Atoms, eps: float = 1e-4,
                    atol: float = 1e-4) -> float:
    """Analytic forces vs central differences of the energy (eV/Å); returns the max deviation."""
    work = atoms.copy()
    work.calc = potential.calculator(grade=False)
    dev = float(np.abs(work.get_forces() - calculate_numerical_forces(work, eps=eps)).max())
    assert dev < atol, f"forces differ from finite differences by {dev:.2e} eV/Å"
    return dev


def check_stress_fd(potential: Potential, atoms: Atoms, eps: float = 1e-5,
                    atol: float = 1e-6) -> float:
    """Analytic stress vs finite strain derivatives (eV/Å³); returns the max deviation."""
    work = atoms.copy()
    work.calc = potential.calculator(grade=False)
    dev = float(np.abs(work.get_stress() - calculate_numerical_stress(work, eps=eps)).max())
    assert dev < atol, f"stress differs from finite differences by {dev:.2e} eV/Å³"
    return dev


def check_invariance(potential: Potential, atoms: Atoms, seed: int = 0,
                     atol_e: float = 1e-8, atol_f: float = 1e-8, atol_s: float = 1e-8) -> None:
    """Energy invariant and forces covariant under rotation, translation, permutation and an
    equivalent choice of lattice vectors."""
    rng = np.random.default_rng(seed)
    e0, f0, s0 = _efs(potential, atoms)
    n = len(atoms)

    rot = Rotation.random(random_state=seed).as_matrix()
    rotated = atoms.copy()
    rotated.set_cell(atoms.cell @ rot.T, scale_atoms=False)
    rotated.positions = atoms.positions @ rot.T
    e, f, s = _efs(potential, rotated)
    assert abs(e - e0) < atol_e * n, f"rotation changes the energy by {e - e0:.2e} eV"
    assert np.abs(f - f0 @ rot.T).max() < atol_f * 10, "forces do not rotate with the structure"

    moved = atoms.copy()
    moved.translate(rng.normal(size=3))
    moved.wrap()
    e, f, _ = _efs(potential, moved)
    assert abs(e - e0) < atol_e * n, f"translation changes the energy by {e - e0:.2e} eV"
    assert np.abs(f - f0).max() < atol_f * 10, "translation changes the forces"

    perm = rng.permutation(n)
    shuffled = atoms[perm]
    e, f, _ = _efs(potential, shuffled)
    assert abs(e - e0) < atol_e * n, f"permuting atoms changes the energy by {e - e0:.2e} eV"
    assert np.abs(f - f0[perm]).max() < atol_f * 10, "forces do not follow their atoms"

    if atoms.cell.rank == 3 and all(atoms.pbc):
        sheared = atoms.copy()
        cell = np.array(atoms.cell)
        cell[0] += cell[1]  # same lattice, other basis vectors
        sheared.set_cell(cell, scale_atoms=False)
        sheared.wrap()
        e, f, s = _efs(potential, sheared)
        assert abs(e - e0) < atol_e * n, f"lattice-vector change alters the energy by {e - e0:.2e}"
        assert np.abs(f - f0).max() < atol_f * 10, "lattice-vector change alters the forces"
        assert np.abs(s - s0).max() < atol_s, "lattice-vector change alters the stress"


def check_save_load(potential: Potential, atoms: Atoms, folder: Path, load) -> None:
    """Save, reload with ``load(folder)``, predict identically (to 1e-10 relative)."""
    potential.save(folder)
    again = load(folder)
    e0, f0, _ = _efs(potential, atoms)
    e1, f1, _ = _efs(again, atoms)
    assert abs(e1 - e0) <= 1e-10 * max(1.0, abs(e0)), f"reloaded energy differs by {e1 - e0:.2e}"
    assert np.abs(f1 - f0).max() < 1e-9, "reloaded forces differ"
    if isinstance(potential, Gradable) and isinstance(again, Gradable):
        g0, g1 = potential.grade(atoms), again.grade(atoms)
        if g0 is not None:
            assert np.allclose(g0, g1, rtol=1e-8), "reloaded grades differ"


def _state(atoms: Atoms) -> tuple:
    return (atoms.positions.copy(), atoms.numbers.copy(), np.array(atoms.cell),
            atoms.pbc.copy(), dict(atoms.info), atoms.calc)


def check_no_mutation(potential: Potential, atoms: Atoms) -> None:
    """The potential is a ``Potential`` (protocol), and predicting (and grading) leaves the
    caller's structure as it was."""
    assert isinstance(potential, Potential), f"{type(potential).__name__} is not a Potential"
    before = _state(atoms)
    calc = potential.calculator(grade=True)
    calc.get_property("forces", atoms)
    if isinstance(potential, Gradable):
        potential.grade(atoms)
    after = _state(atoms)
    for name, a, b in zip(("positions", "numbers", "cell", "pbc"), before, after):
        assert np.array_equal(a, b), f"prediction changed the structure's {name}"
    assert before[4] == after[4], "prediction changed the structure's info"
    assert before[5] is after[5], "prediction attached a calculator to the structure"


def check_grade(potential: Potential, atoms: Atoms) -> np.ndarray:
    """A Gradable potential: one finite γ ≥ 0 per atom, the same from ``grade`` and from its
    graded calculator (``gammas``, ``gamma`` = their max). Returns the grades."""
    assert isinstance(potential, Gradable), f"{potential.backend} is not Gradable"
    gammas = np.asarray(potential.grade(atoms))
    assert gammas.shape == (len(atoms),), f"grade shape {gammas.shape}, not ({len(atoms)},)"
    assert np.all(np.isfinite(gammas)) and np.all(gammas >= 0), "grades not finite and ≥ 0"
    work = atoms.copy()
    work.calc = potential.calculator(grade=True)
    from_calc = work.calc.get_property("gammas", work)
    assert np.allclose(from_calc, gammas, rtol=1e-6, atol=1e-9), \
        "the graded calculator's γ differs from grade()"
    assert work.calc.get_property("gamma", work) == float(np.max(from_calc))
    return gammas


def check_nve_drift(potential: Potential, atoms: Atoms, steps: int = 100,
                    timestep_fs: float = 1.0, temperature_K: float = 300.0,
                    max_drift: float = 1e-3, seed: int = 0) -> float:
    """Velocity-Verlet NVE from Maxwell-Boltzmann velocities: the total energy's largest
    excursion per atom (eV/atom) stays below ``max_drift``; returns it."""
    from ase import units
    from ase.md.velocitydistribution import Stationary, thermalize_momenta
    from ase.md.verlet import VelocityVerlet

    work = atoms.copy()
    thermalize_momenta(work, temperature_K, rng=np.random.default_rng(seed))
    Stationary(work)
    work.calc = potential.calculator(grade=False)
    energies = []
    dyn = VelocityVerlet(work, timestep=timestep_fs * units.fs)
    dyn.attach(lambda: energies.append(work.get_total_energy()), interval=1)
    dyn.run(steps)
    excursion = float(np.ptp(energies)) / len(work)
    assert excursion < max_drift, f"NVE total energy moves by {excursion:.2e} eV/atom"
    return excursion

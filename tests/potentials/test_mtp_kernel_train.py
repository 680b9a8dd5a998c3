"""The compiled MTP kernel's train mode: per-structure derivatives of energy, forces and virial
with respect to every MTP parameter, against motep's C engine in train mode (the fit's earlier
evaluator) and against finite differences, and the fit's normal-equation blocks of both."""

import numpy as np
import pytest
from ase import Atoms

from seiflow.data.labels import Label
from seiflow.potentials.mtp import kernel
from seiflow.potentials.mtp.kernel import KernelEngine
from seiflow.potentials.mtp.model import new_engine
from seiflow.potentials.mtp.problem import ALL, Problem, make_targets
from tests.potentials.test_mtp_kernel import _cell, _model

pytestmark = pytest.mark.skipif(not kernel.trains(), reason="MTP kernel train mode not built")


def _motep(data, atoms: Atoms) -> dict:
    engine = new_engine(data, mode="train")
    res = engine.calculate(atoms)
    out = {"energy": res["energy"], "forces": res["forces"],
           "jac_energy": engine.jac_energy(atoms).parameters,
           "jac_forces": engine.jac_forces(atoms).parameters}
    if atoms.cell.rank == 3 and all(atoms.pbc):
        out["stress"] = res["stress"]
        out["jac_stress"] = engine.jac_stress(atoms).parameters
    return out


def _relative(got: np.ndarray, want: np.ndarray) -> float:
    return float(np.abs(got - want).max() / max(np.abs(want).max(), 1e-300))


@pytest.mark.parametrize("level", [2, 6, 10, 16])
def test_jacobians_equal_motep(level):
    atoms = _cell(level) * (1, 1, 2)
    data = _model(level, atoms, seed=level).data
    data.optimized = list(ALL)
    got, want = KernelEngine(data).train(atoms), _motep(data, atoms)
    assert set(got) >= set(want)
    for name in want:
        assert np.shape(got[name]) == np.shape(want[name]), name
        assert _relative(np.asarray(got[name]), np.asarray(want[name])) < 1e-10, name


def test_molecule_has_no_stress_jacobian():
    atoms = Atoms("LiFOLi", positions=[[0, 0, 0], [1.6, 0.2, 0], [0.3, 1.7, 0.4], [1.9, 1.5, 1.2]])
    data = _model(8, _cell(0)).data
    data.optimized = list(ALL)
    got, want = KernelEngine(data).train(atoms), _motep(data, atoms)
    assert "jac_stress" not in got
    for name in ("jac_energy", "jac_forces"):
        assert _relative(got[name], want[name]) < 1e-10, name


def _values(engine: KernelEngine, data, theta: np.ndarray, atoms: Atoms) -> np.ndarray:
    data.parameters = theta
    res = engine.train(atoms)
    volume = atoms.get_volume()
    return np.r_[res["energy"], res["forces"].ravel(), res["stress"] * volume]


@pytest.mark.parametrize("level", [2, 8, 16])
def test_jacobians_are_derivatives(level):
    """Central differences of E, F and V·σ (the symmetrised virial) along random parameters."""
    rng = np.random.default_rng(level)
    atoms = _cell(level + 1)
    data = _model(level, atoms, seed=level + 1).data
    data.optimized = list(ALL)
    theta = data.parameters.copy()
    engine = KernelEngine(data)
    res = engine.train(atoms)
    jac = np.hstack([res["jac_energy"][:, None], res["jac_forces"].reshape(len(theta), -1),
                     res["jac_stress"][:, [0, 1, 2, 1, 0, 0], [0, 1, 2, 2, 2, 1]]
                     * atoms.get_volume()])
    n_lin = len(data.moment_coeffs) + len(data.species_coeffs)
    picks = np.r_[rng.choice(n_lin, min(n_lin, 6), replace=False),
                  n_lin + rng.choice(len(theta) - n_lin, 12, replace=False)]
    for p in picks:
        h = 1e-5 * max(1.0, abs(theta[p]))
        step = np.zeros_like(theta)
        step[p] = h
        fd = (_values(engine, data, theta + step, atoms)
              - _values(engine, data, theta - step, atoms)) / (2 * h)
        scale = max(np.abs(jac[p]).max(), 1e-8)
        np.testing.assert_allclose(jac[p], fd, rtol=0, atol=1e-6 * scale, err_msg=f"param {p}")


def test_problem_blocks_same_with_either_engine():
    """The fit's loss, normal-equation blocks and active-set rows from the kernel equal
    motep's."""
    rng = np.random.default_rng(5)
    frames = [Label(-3.0 * len(a) + k, rng.normal(size=(len(a), 3)), np.full(6, 0.01 * k)
                    ).attach(a) for k, a in enumerate(_cell(seed) for seed in range(3))]
    model = _model(10, frames[0], seed=3)
    targets = make_targets(frames, (1.0, 0.01, 0.001))
    model.data.optimized = list(ALL)
    theta = model.data.parameters.copy()
    with Problem(model, targets, engine="kernel") as pk, \
            Problem(model, targets, engine="motep") as pm:
        assert pk.engine == "kernel" and pm.engine == "motep"
        bk, bm = pk.blocks(theta), pm.blocks(theta)
        np.testing.assert_allclose(pk.loss(theta), pm.loss(theta), rtol=1e-10)
        rows, want_rows = pk.rows(theta), pm.rows(theta)
    assert _relative(rows, want_rows) < 1e-10
    for got, want in zip(bk._parts(), bm._parts()):
        assert _relative(got, want) < 1e-10

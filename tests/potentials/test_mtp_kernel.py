"""seiflow's compiled MTP kernel against motep's C engine (the cross-check) on random models of
every level, against finite differences, and for rotation/translation/permutation invariance;
its neighbour list kept with a skin across moves and cell changes."""

import logging

import numpy as np
import pytest
from ase import Atoms
from ase.build import bulk
from scipy.spatial.transform import Rotation

from seiflow.potentials.mtp import kernel
from seiflow.potentials.mtp import model as mtp_model
from seiflow.potentials.mtp.kernel import KernelEngine
from seiflow.potentials.mtp.levels import mtp_basis
from seiflow.potentials.mtp.model import MTPModel, new_engine, new_mtp_data
from tests.potentials.derivatives import assert_derivatives

SPECIES = ("Li", "F", "O")
CUTOFF = 4.5


def _cell(seed: int) -> Atoms:
    """A rattled three-species rocksalt cell (8 atoms, some neighbours below min_dist)."""
    atoms = bulk("LiF", "rocksalt", 3.9, cubic=True)
    atoms.numbers[[1, 6]] = 8
    atoms.rattle(0.1, seed=seed)
    atoms.set_cell(atoms.cell.array @ (np.eye(3) + 0.02 * np.random.default_rng(seed).normal(
        size=(3, 3))), scale_atoms=True)
    return atoms


def _model(level: int, atoms: Atoms, seed: int = 0) -> MTPModel:
    """Random radial, species and moment coefficients, the moment coefficients scaled so that
    every basis function adds O(1) eV per atom."""
    rng = np.random.default_rng(seed)
    data = new_mtp_data(mtp_basis(level), SPECIES, CUTOFF, 1.2, 6, rng)
    data.radial_coeffs = rng.normal(0.0, 0.3, data.radial_coeffs.shape)
    data.species_coeffs = rng.normal(size=data.species_coeffs.shape)
    engine = new_engine(data)
    engine.calculate(atoms)
    rms = np.sqrt(np.mean(engine.mbd.vatoms ** 2, axis=1)) + 1e-300
    data.moment_coeffs = rng.normal(size=rms.shape) / rms
    return MTPModel(data=data, species=SPECIES, level=level)


def _compare(data, atoms: Atoms) -> None:
    ref = new_engine(data)
    want = ref.calculate(atoms)
    got = KernelEngine(data).calculate(atoms, rows=True)
    n = len(atoms)
    assert abs(got["energy"] - want["energy"]) / n < 1e-10
    np.testing.assert_allclose(got["energies"], want["energies"], rtol=0, atol=1e-10)
    fscale = max(1.0, np.abs(want["forces"]).max())
    np.testing.assert_allclose(got["forces"], want["forces"], rtol=0, atol=1e-10 * fscale)
    if atoms.cell.rank == 3 and all(atoms.pbc):
        sscale = max(1.0, np.abs(want["stress"]).max())
        np.testing.assert_allclose(got["stress"], want["stress"], rtol=0, atol=1e-10 * sscale)
    rows = ref.mbd.vatoms.T
    np.testing.assert_allclose(got["basis"], rows, rtol=1e-11,
                               atol=1e-12 * max(1.0, np.abs(rows).max()))


def test_kernel_is_built_and_default():
    import seiflow.potentials.mtp._mtpkernel  # noqa: F401 - CI must build it

    assert kernel.available(), kernel.LOAD_ERROR
    assert mtp_model.default_engine() in ("kernel", "motep")


@pytest.mark.parametrize("level", range(2, 26, 2))
def test_same_as_motep_every_level(level):
    atoms = _cell(level)
    _compare(_model(level, atoms, seed=level).data, atoms)


@pytest.mark.slow
@pytest.mark.parametrize("level", [26, 28])
def test_same_as_motep_levels_26_28(level):  # generating these bases takes 10 and 35 s
    atoms = _cell(level)
    _compare(_model(level, atoms, seed=level).data, atoms)


def test_same_as_motep_molecule_slab_and_lone_atom():
    data = _model(10, _cell(1)).data
    molecule = Atoms("LiFOLi", positions=[[0, 0, 0], [1.6, 0.2, 0], [0.1, 1.8, 0.3],
                                          [1.5, 1.7, 1.4]])
    slab = _cell(3)
    slab.pbc = (True, True, False)
    lone = Atoms("Li", cell=np.eye(3) * 3.1, pbc=True)
    for atoms in (molecule, slab, lone):
        _compare(data, atoms)


def test_forces_and_stress_are_derivatives():
    atoms = _cell(5)
    engine = KernelEngine(_model(12, atoms).data)
    res = engine.calculate(atoms)
    assert_derivatives(lambda a: KernelEngine(engine.data).calculate(a)["energy"], atoms,
                       res["forces"], res["stress"], [(0, 0), (3, 1), (6, 2)], list(range(6)))


def test_invariance():
    atoms = _cell(7)
    data = _model(16, atoms).data
    ref = KernelEngine(data).calculate(atoms, rows=True)
    rot = Rotation.random(random_state=1).as_matrix()
    turned = atoms.copy()
    turned.set_cell(atoms.cell.array @ rot.T, scale_atoms=False)
    turned.positions = atoms.positions @ rot.T + [0.3, -1.1, 2.0]
    perm = np.random.default_rng(0).permutation(len(atoms))
    shuffled = atoms[perm]
    for other, order, r in ((turned, np.arange(len(atoms)), rot), (shuffled, perm, np.eye(3))):
        got = KernelEngine(data).calculate(other, rows=True)
        scale = max(1.0, np.abs(ref["energies"]).max())
        np.testing.assert_allclose(got["energies"], ref["energies"][order], atol=1e-11 * scale)
        np.testing.assert_allclose(got["basis"], ref["basis"][order], rtol=1e-9, atol=1e-9)
        np.testing.assert_allclose(got["forces"], ref["forces"][order] @ r.T,
                                   atol=1e-10 * max(1.0, np.abs(ref["forces"]).max()))


def test_skin_list_follows_moves_and_cell_changes():
    atoms = _cell(9).repeat((2, 1, 1))
    data = _model(8, atoms).data
    kept = KernelEngine(data)
    rng = np.random.default_rng(1)
    for step in range(12):
        atoms.positions += rng.normal(scale=0.03, size=atoms.positions.shape)
        if step % 3 == 2:  # NPT-like cell change
            atoms.set_cell(atoms.cell.array * (1 + 0.004 * rng.normal()), scale_atoms=True)
        got = kept.calculate(atoms)
        want = KernelEngine(data).calculate(atoms)
        np.testing.assert_allclose(got["forces"], want["forces"], rtol=0, atol=1e-12)
        assert got["energy"] == pytest.approx(want["energy"], abs=1e-10)
    assert 1 <= kept._nl.builds < 12  # kept between steps, rebuilt when moved too far


def test_threads_give_the_same_numbers():
    atoms = _cell(11).repeat(2)
    data = _model(10, atoms).data
    one = KernelEngine(data, threads=1).calculate(atoms, rows=True)
    two = KernelEngine(data, threads=2).calculate(atoms, rows=True)
    np.testing.assert_allclose(two["forces"], one["forces"], rtol=0, atol=1e-12)
    np.testing.assert_array_equal(two["energies"], one["energies"])
    np.testing.assert_array_equal(two["basis"], one["basis"])


def test_calculator_engines_agree_and_fallback_warns(monkeypatch, caplog):
    atoms = _cell(13)
    model = _model(10, atoms)
    model.active_set = None
    results = {}
    for name in ("kernel", "motep"):
        monkeypatch.setenv(mtp_model.ENGINE_ENV, name)
        work = atoms.copy()
        work.calc = model.calculator()
        assert work.calc.engine == name
        results[name] = (work.get_potential_energy(), work.get_forces(), work.get_stress())
    for got, want in zip(results["kernel"], results["motep"]):
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-10)
    monkeypatch.setenv(mtp_model.ENGINE_ENV, "fast")
    with pytest.raises(Exception, match="SEIFLOW_MTP_ENGINE"):
        mtp_model.default_engine()
    monkeypatch.delenv(mtp_model.ENGINE_ENV)
    monkeypatch.setattr(kernel, "available", lambda: False)
    monkeypatch.setattr(mtp_model, "_warned", [])
    with caplog.at_level(logging.WARNING):
        assert mtp_model.default_engine() == "motep"
        assert mtp_model.default_engine() == "motep"
    assert len([r for r in caplog.records if "kernel is not built" in r.message]) == 1


def test_inconsistent_model_is_refused_not_read_out_of_bounds():
    atoms = _cell(15)
    data = _model(6, atoms).data
    data.moment_coeffs = data.moment_coeffs[:-1]
    with pytest.raises(ValueError, match="coefficients do not match"):
        KernelEngine(data).calculate(atoms)
    data = _model(6, atoms).data
    data.alpha_moment_mapping = data.alpha_moment_mapping + 1000
    with pytest.raises(ValueError, match="alpha_moment_mapping"):
        KernelEngine(data).calculate(atoms)

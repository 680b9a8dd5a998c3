"""The MTP backend: physics contracts, fit quality, grade, active set, save/load, bad input."""

import copy
import json

import numpy as np
import pytest
from ase.build import bulk

from seiflow.potentials.base import ModelError
from seiflow.potentials.metrics import error_table, predict
from seiflow.potentials.active import select_add
from seiflow.potentials.mtp.fit import fit_mtp
from seiflow.potentials.mtp.model import MTPModel
from seiflow.potentials.registry import MTPSettings, load_potential
from seiflow.testing.potential import (check_forces_fd, check_grade, check_invariance,
                                       check_no_mutation, check_nve_drift, check_save_load,
                                       check_stress_fd)
from tests.potentials.conftest import emt_frames


def test_forces_and_stress_are_energy_derivatives(emt_mtp, emt_test):
    atoms = emt_test[0]
    check_forces_fd(emt_mtp, atoms, atol=1e-5)
    check_stress_fd(emt_mtp, atoms, atol=1e-7)


def test_invariances(emt_mtp, emt_test):
    check_invariance(emt_mtp, emt_test[1])


def test_save_load_identical(emt_mtp, emt_test, tmp_path):
    check_save_load(emt_mtp, emt_test[2], tmp_path / "model", load_potential)
    text = (tmp_path / "model" / "potential.mtp").read_text()
    assert "min_dist" in text and "radial_basis_size" in text  # MLIP legacy keywords


def test_fit_reaches_emt_accuracy(emt_mtp, emt_test):
    """Level 8 on 24 EMT frames: test errors far below the spread of the data."""
    errors = error_table(predict(emt_mtp, emt_test))["all"]
    spread = np.std([f for a in emt_test for f in a.get_forces().ravel()])
    assert errors["forces"]["rmse"] < 0.2 * spread
    assert errors["energy"]["rmse"] < 5.0  # meV/atom
    loss = emt_mtp.record["training"]["loss"]
    assert loss[-1] < 0.2 * loss[0]


def test_bfgs_also_lowers_the_loss(emt_train):
    model = MTPSettings(level=4, max_iter=5, optimizer="bfgs").fit(emt_train[:6], progress=False)
    loss = model.record["training"]["loss"]
    assert len(loss) > 1 and loss[-1] < loss[0]


def test_grade_interpolation_vs_extrapolation(emt_mtp, emt_train):
    inside = max(emt_mtp.grade(a).max() for a in emt_train)
    assert inside <= 1.0 + 1e-6  # every training neighbourhood lies in the active set's span
    squeezed = emt_train[0].copy()
    squeezed.set_cell(squeezed.cell * 0.85, scale_atoms=True)
    shaken = emt_train[0].copy()
    shaken.rattle(0.35, seed=5)
    assert emt_mtp.grade(squeezed).max() > 10
    assert emt_mtp.grade(shaken).max() > 10


def test_calculator_grades_every_call_and_any_cell(emt_mtp, emt_test):
    calc = emt_mtp.calculator()
    small, large = emt_test[0].copy(), emt_test[0].repeat((2, 1, 1))
    for atoms in (small, large, small):  # engine rebuilt on atom-count change
        atoms.calc = calc
        e = atoms.get_potential_energy()
        assert calc.results["gammas"].shape == (len(atoms),)
        assert calc.results["gamma"] == pytest.approx(calc.results["gammas"].max())
    assert large.get_potential_energy() == pytest.approx(2 * e, rel=1e-10)


def test_select_add_picks_new_configurations(emt_mtp, emt_train):
    known = [emt_mtp.rows(a) for a in emt_train[:3]]
    assert select_add(emt_mtp.active_set, known) == []
    hot = emt_frames(4, seed=9, rattle=0.3)
    blocks = known + [emt_mtp.rows(a) for a in hot]
    chosen = select_add(emt_mtp.active_set, blocks)
    assert chosen and all(k >= 3 for k in chosen)
    assert select_add(emt_mtp.active_set, blocks, max_frames=1) == chosen[:1]


def test_wrong_species_and_corrupt_files(emt_mtp, tmp_path):
    li = bulk("Li", "bcc", 3.44, cubic=True).repeat(3)
    with pytest.raises(ModelError, match="Li, which this MTP"):
        emt_mtp.grade(li)
    li.calc = emt_mtp.calculator()
    with pytest.raises(ModelError, match="Li"):
        li.get_potential_energy()
    folder = emt_mtp.save(tmp_path / "m")
    (folder / "potential.mtp").write_text("MTP\nspecies_count = 2\nnonsense\n")
    with pytest.raises(ModelError, match="potential.mtp"):
        MTPModel.load(folder)
    (folder / "model.json").write_text("{not json")
    with pytest.raises(ModelError, match="corrupt"):
        load_potential(folder)
    with pytest.raises(ModelError, match="not a seiflow model"):
        load_potential(tmp_path / "nowhere")
    meta = {"backend": "nequip", "species": ["Cu"]}
    (folder / "model.json").write_text(json.dumps(meta))
    with pytest.raises(Exception, match="unknown potential backend 'nequip'"):
        load_potential(folder)


def test_fit_rejects_unlabelled_frames():
    atoms = bulk("Cu", "fcc", 3.6).repeat(2)
    atoms.info["source"] = "bare"
    with pytest.raises(Exception, match="bare has no energy"):
        fit_mtp([atoms], level=2, progress=False)


def test_fit_is_reproducible_with_a_seed(emt_train):
    a = fit_mtp(emt_train[:6], level=4, max_iter=3, seed=7, progress=False)
    b = fit_mtp(emt_train[:6], level=4, max_iter=3, seed=7, progress=False)
    c = fit_mtp(emt_train[:6], level=4, max_iter=3, seed=8, progress=False)
    assert np.array_equal(a.data.parameters, b.data.parameters)
    assert not np.array_equal(a.data.parameters, c.data.parameters)


def test_warm_start_continues_from_a_model(emt_mtp, emt_train, emt_test):
    """A refit from the current model (the loop's refit) starts where that model is."""
    more = emt_train[:12] + emt_frames(4, seed=11, rattle=0.15)
    before = emt_mtp.data.parameters.copy()
    warm = fit_mtp(more, level=8, max_iter=2, progress=False, start=emt_mtp)
    cold = fit_mtp(more, level=8, max_iter=2, progress=False)
    assert warm.record["settings"]["warm_start"] and not cold.record["settings"]["warm_start"]
    assert warm.record["training"]["loss"][0] < cold.record["training"]["loss"][0]
    assert np.array_equal(emt_mtp.data.parameters, before)  # the start is not modified
    other = fit_mtp(more, level=6, max_iter=1, progress=False, start=emt_mtp)
    assert not other.record["settings"]["warm_start"]  # incompatible basis: fresh start


def test_a_warm_start_continues_with_the_damping_its_start_ended_with(emt_mtp, emt_train,
                                                                       monkeypatch):
    """A refit from a model starts the Levenberg-Marquardt damping where that model's fit left
    it (a fit stopped at its time limit continues at its pace; a fresh start's λ = 1e-3 made
    such a refit of the LiF model take 35× smaller steps and stop as "converged" after 5);
    a model without the record starts nearly Gauss-Newton, a cold fit with the optimizer's own."""
    from seiflow.potentials.mtp import fit as fit_module

    seen = []
    lm = fit_module.OPTIMIZERS["lm"]

    def spy(problem, theta, lam, *args, **kwargs):
        seen.append(lam)
        return lm(problem, theta, lam, *args, **kwargs)

    monkeypatch.setitem(fit_module.OPTIMIZERS, "lm", spy)
    ended = emt_mtp.record["training"]["final_damping"]
    assert 0 < ended < 1
    fit_mtp(emt_train[:8], level=8, max_iter=1, progress=False, start=emt_mtp)
    bare = copy.deepcopy(emt_mtp)
    del bare.record["training"]["final_damping"]
    fit_mtp(emt_train[:8], level=8, max_iter=1, progress=False, start=bare)
    fit_mtp(emt_train[:8], level=8, max_iter=1, progress=False)
    assert seen == [ended, fit_module.WARM_DAMPING, 0.0]


def test_fit_in_two_processes_matches_one(emt_train):
    """Sharing the structures among worker processes changes only the summation order."""
    one = fit_mtp(emt_train[:10], level=6, max_iter=4, progress=False)
    two = fit_mtp(emt_train[:10], level=6, max_iter=4, progress=False, workers=2)
    assert two.record["settings"]["workers"] == 2
    assert two.record["training"]["loss"] == pytest.approx(one.record["training"]["loss"],
                                                           rel=1e-6)
    assert two.data.parameters == pytest.approx(one.data.parameters, rel=1e-4, abs=1e-8)


def test_killed_fit_resumes_from_its_checkpoint(emt_train, tmp_path, monkeypatch, caplog):
    from seiflow.potentials.mtp import fit as mtp_fit

    frames, ckpt = emt_train[:8], tmp_path / "fit-checkpoint.npz"
    uninterrupted = fit_mtp(frames, level=6, max_iter=6, tol=0, progress=False)
    save = mtp_fit._State.save

    def killing_save(state, path, key):
        save(state, path, key)
        if len(state.history.loss) == 4:  # killed after the third step
            raise KeyboardInterrupt

    monkeypatch.setattr(mtp_fit._State, "save", killing_save)
    with pytest.raises(KeyboardInterrupt):
        fit_mtp(frames, level=6, max_iter=6, tol=0, progress=False, checkpoint=ckpt)
    monkeypatch.setattr(mtp_fit._State, "save", save)
    assert ckpt.exists()
    # a fit of other data ignores it (and takes the file over); this fit continues from it
    other = tmp_path / "other.npz"
    other.write_bytes(ckpt.read_bytes())
    with caplog.at_level("WARNING"):
        fit_mtp(emt_train[8:12], level=6, max_iter=1, progress=False, checkpoint=other)
    assert "belongs to another fit" in caplog.text
    resumed = fit_mtp(frames, level=6, max_iter=6, tol=0, progress=False, checkpoint=ckpt)
    assert not ckpt.exists()  # removed once the fit is complete
    assert resumed.record["training"]["loss"] == pytest.approx(
        uninterrupted.record["training"]["loss"], rel=1e-10)
    assert np.array_equal(resumed.data.parameters, uninterrupted.data.parameters)


def test_contract_no_mutation_grade_and_nve(emt_mtp, emt_test):
    atoms = emt_test[3]
    check_no_mutation(emt_mtp, atoms)
    gammas = check_grade(emt_mtp, atoms)
    assert gammas.max() < 10  # a test frame like the training ones
    check_nve_drift(emt_mtp, atoms, steps=60, max_drift=5e-4)

"""The MTP fit: never worse than its start, exact linear coefficients, the loss as documented,
a real time limit, a kill at any pass resumed to the same best model, clear errors."""

import numpy as np
import pytest

from seiflow.potentials.mtp import problem as mtp_problem
from seiflow.potentials.mtp.fit import fit_mtp
from seiflow.potentials.mtp.problem import FitError, FitTimeLimit, Problem, make_targets
from tests.potentials.conftest import emt_frames


@pytest.mark.parametrize("optimizer", ["varpro", "lm", "bfgs"])
def test_fit_never_ends_above_its_linear_start(emt_train, optimizer):
    model = fit_mtp(emt_train[:8], level=6, max_iter=4, optimizer=optimizer, progress=False)
    loss = model.record["training"]["loss"]
    assert len(loss) >= 2
    assert all(b < a for a, b in zip(loss, loss[1:]))  # only improvements are kept
    assert loss[-1] < loss[0]  # loss[0]: exact least squares at the random radial start


@pytest.mark.parametrize("optimizer", ["varpro", "lm"])
def test_mean_training_energy_residual_vanishes(emt_train, optimizer):
    """With the species coefficients solved exactly, the structures' per-atom energy
    residuals average to zero (the normal equation of a constant shift)."""
    model = fit_mtp(emt_train[:10], level=6, max_iter=2, optimizer=optimizer, progress=False)
    training = model.record["training"]
    assert training["energy_rmse_meV_per_atom"] > 0.01
    rmse = training["energy_rmse_meV_per_atom"]
    assert abs(training["energy_mean_meV_per_atom"]) < 1e-5 * rmse + 1e-9
    assert training["energy_offset_ok"]


def test_offset_beyond_tolerance_is_reported(emt_train, caplog):
    """The exact solve leaves only a rounding-level offset; with a tolerance below it the
    check must warn loudly and record the model as not ok."""
    with caplog.at_level("WARNING"):
        model = fit_mtp(emt_train[:6], level=4, max_iter=1, progress=False,
                        offset_tolerance=1e-300)
    assert not model.record["training"]["energy_offset_ok"]
    assert "MEAN ENERGY OFFSET" in caplog.text


def test_weightings_differ_by_atom_count(emt_train):
    """mlip = MLIP-3's default: each structure's terms multiplied by its atom count."""
    frames = [emt_train[1], emt_train[2]]
    per_s = make_targets(frames, (1.0, 0.01, 0.001), "structures")
    per_a = make_targets(frames, (1.0, 0.01, 0.001), "mlip")
    k, atoms = len(frames), sum(len(a) for a in frames)
    for s, m in zip(per_s, per_a):
        n = len(s.atoms)
        assert (m.sqrt_w**2) == pytest.approx(n * (s.sqrt_w**2) * k / atoms, rel=1e-12)
    with pytest.raises(FitError, match="unknown loss weighting"):
        make_targets(frames, (1, 1, 1), "vibrations")


def test_a_frame_weight_multiplies_its_terms_and_pulls_the_fit_to_it(emt_train):
    frames = [a.copy() for a in emt_train[:10]]
    for a, b in zip(frames, emt_train[:10]):
        a.calc = b.calc
    plain = make_targets(frames, (1.0, 0.01, 0.001), "mlip")
    frames[0].info["fit_weight"] = 400.0
    heavy = make_targets(frames, (1.0, 0.01, 0.001), "mlip")
    np.testing.assert_allclose(heavy[0].sqrt_w, 20 * plain[0].sqrt_w, rtol=1e-12)
    for p, h in zip(plain[1:], heavy[1:]):
        np.testing.assert_array_equal(p.sqrt_w, h.sqrt_w)

    def force_error_of_frame_0(model):
        f = frames[0].get_forces()
        return np.abs(model.calculator(grade=False).get_forces(frames[0].copy()) - f).max()

    del frames[0].info["fit_weight"]
    unweighted = fit_mtp(frames, level=6, max_iter=3, weighting="mlip", progress=False)
    frames[0].info["fit_weight"] = 400.0
    weighted = fit_mtp(frames, level=6, max_iter=3, weighting="mlip", progress=False)
    assert force_error_of_frame_0(weighted) < 0.7 * force_error_of_frame_0(unweighted)


def test_mlip_weighting_fits(emt_train, emt_test):
    model = fit_mtp(emt_train[:10], level=6, max_iter=3, weighting="mlip", progress=False)
    assert model.record["settings"]["weighting"] == "mlip"
    assert model.record["training"]["loss"][-1] < model.record["training"]["loss"][0]


def test_non_finite_labels_are_refused_before_any_work(emt_train):
    bad = emt_frames(3, seed=9)  # fresh frames: the session's must stay intact
    bad[1].calc.results["forces"][0, 0] = np.nan
    bad[1].info["source"] = "frame with NaN"
    with pytest.raises(FitError, match="frame with NaN has a non-finite"):
        make_targets(bad, (1, 0.01, 0.001))


def test_a_pass_stops_at_the_deadline(emt_mtp, emt_train):
    targets = make_targets(emt_train[:4], (1, 0.01, 0.001))
    import time

    with Problem(emt_mtp, targets, deadline=time.time() - 1) as problem:
        with pytest.raises(FitTimeLimit):
            problem.blocks(emt_mtp.data.parameters)
        problem.blocks(emt_mtp.data.parameters, deadline=False)  # the final solve may finish


def test_max_time_is_a_real_limit(emt_train, caplog):
    """A fit with a budget and no other limit stops at it, with the best model so far; off a
    terminal every step is a log line (step, loss per component, elapsed), also with the
    progress bar asked for (pytest's output is not a terminal: `seiflow train > log`)."""
    with caplog.at_level("INFO", logger="seiflow.potentials.mtp.fit"):
        model = fit_mtp(emt_train[:8], level=6, max_iter=100_000, tol=0, max_time=3.0,
                        progress=True)
    training = model.record["training"]
    assert training["stop"] == "time limit"
    assert training["time_s"][-1] <= 3.0
    assert training["wall_time_s"] < 3.0 + 2.0  # the time limit cuts a pass short
    assert "MTP fit step 1: loss" in caplog.text and " s" in caplog.text


def test_a_limit_shorter_than_one_pass_is_one_clear_error(emt_train):
    with pytest.raises(FitError, match="before the first pass"):
        fit_mtp(emt_train, level=8, max_time=1e-3, progress=False)


@pytest.mark.parametrize("kill_at", [2, 5, 8])
def test_fit_killed_in_any_pass_resumes_to_the_same_model(emt_train, tmp_path, monkeypatch,
                                                          kill_at):
    """A kill inside a pass (not only between steps) loses at most that pass: the resumed fit
    continues from the checkpoint's best point and ends exactly like an uninterrupted one."""
    frames, ckpt = emt_train[:8], tmp_path / "fit-checkpoint.npz"
    settings = dict(level=6, max_iter=5, tol=0, progress=False)
    uninterrupted = fit_mtp(frames, **settings)
    blocks, calls = mtp_problem._Shard.blocks, {"n": 0}

    def dying_blocks(self, theta, deadline=None):
        calls["n"] += 1
        if calls["n"] == kill_at:
            raise KeyboardInterrupt
        return blocks(self, theta, deadline)

    monkeypatch.setattr(mtp_problem._Shard, "blocks", dying_blocks)
    with pytest.raises(KeyboardInterrupt):
        fit_mtp(frames, checkpoint=ckpt, **settings)
    monkeypatch.setattr(mtp_problem._Shard, "blocks", blocks)
    resumed = fit_mtp(frames, checkpoint=ckpt, **settings)
    assert not ckpt.exists()
    assert resumed.record["training"]["loss"] == pytest.approx(
        uninterrupted.record["training"]["loss"], rel=1e-10)
    assert np.array_equal(resumed.data.parameters, uninterrupted.data.parameters)


def test_fit_of_a_new_element_is_a_fresh_fit(emt_mtp):
    """A training set with an element the start model lacks cannot continue from it."""
    from ase.build import bulk
    from ase.calculators.emt import EMT
    from ase.calculators.singlepoint import SinglePointCalculator

    frames = emt_frames(3, seed=4)
    extra = bulk("Ni", "fcc", 3.55, cubic=True).repeat(2)
    extra.rattle(0.05, seed=1)
    extra.calc = EMT()
    res = {"energy": extra.get_potential_energy(), "forces": extra.get_forces(),
           "stress": extra.get_stress()}
    extra.calc = SinglePointCalculator(extra, **res)
    model = fit_mtp(frames + [extra], level=4, max_iter=1, progress=False, start=emt_mtp)
    assert not model.record["settings"]["warm_start"] and "Ni" in model.species

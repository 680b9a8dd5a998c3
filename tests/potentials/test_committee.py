"""The committee: mean prediction, force-disagreement grade calibrated to γ ≤ 1 on the
training data, save/load, continuing, and MaxVol rows from its first member."""

import json

import numpy as np
import pytest

from seiflow.potentials.base import ModelError
from seiflow.potentials.committee import CommitteeModel, CommitteeSettings
from seiflow.potentials.registry import load_potential
from seiflow.testing.potential import (check_forces_fd, check_grade, check_invariance,
                                       check_no_mutation, check_nve_drift, check_save_load,
                                       check_stress_fd)

SETTINGS = {"member": {"backend": "mtp", "level": 6, "max_iter": 12}, "size": 3,
            "subsample": 0.75}


@pytest.fixture(scope="module")
def committee(emt_train):
    return CommitteeSettings(**SETTINGS).fit(emt_train, progress=False)


def test_members_differ_and_the_mean_is_their_mean(committee, emt_test):
    atoms = emt_test[0]
    preds = committee.predictions(atoms)
    assert len(preds) == 3
    assert np.ptp([p["energy"] for p in preds]) > 1e-4  # different subsets and seeds
    work = atoms.copy()
    work.calc = committee.calculator()
    assert work.get_potential_energy() == pytest.approx(np.mean([p["energy"] for p in preds]))
    forces = np.stack([p["forces"] for p in preds])
    assert np.allclose(work.get_forces(), forces.mean(0))
    spread = np.sqrt(np.mean(np.sum((forces - forces.mean(0)) ** 2, axis=2), axis=0))
    assert np.allclose(work.calc.results["force_std"], spread)  # eV/Å, per atom
    assert work.calc.results["gamma"] == pytest.approx(spread.max() / 0.05)  # σ_ref eV/Å


def test_mean_forces_and_stress_are_energy_derivatives(committee, emt_test):
    check_forces_fd(committee, emt_test[1], atol=1e-5)
    check_stress_fd(committee, emt_test[1], atol=1e-7)


def test_grade_scales(committee, emt_train):
    """Absolute scale (default): γ = σ/0.05 eV/Å. Calibrated scale: γ ≤ 1 on the training
    data, and a squeezed cell (never seen) far above it."""
    spread = committee.record["training_force_spread"]
    assert 0 < spread["median_frame_max_eV_per_A"] <= spread["max_eV_per_A"]
    squeezed = emt_train[0].copy()
    squeezed.set_cell(squeezed.cell * 0.85, scale_atoms=True)
    assert committee.grade(squeezed).max() == pytest.approx(
        committee.force_std(squeezed).max() / 0.05)
    calibrated = CommitteeModel(members=committee.members,
                                force_scale=spread["max_eV_per_A"])
    assert max(calibrated.grade(a).max() for a in emt_train) == pytest.approx(1.0)
    assert calibrated.grade(squeezed).max() > 3
    settings = CommitteeSettings(**{**SETTINGS, "force_scale_eV_per_A": None})
    assert settings.force_scale_eV_per_A is None


def test_save_load_and_rows(committee, emt_test, tmp_path):
    check_save_load(committee, emt_test[2], tmp_path / "c", load_potential)
    meta = json.loads((tmp_path / "c" / "model.json").read_text())
    assert meta["members"] == ["member-00", "member-01", "member-02"]
    assert (tmp_path / "c" / "member-01" / "potential.mtp").exists()
    again = load_potential(tmp_path / "c")
    assert np.allclose(again.rows(emt_test[0]), committee.members[0].rows(emt_test[0]))
    assert again.active_set is not None


def test_continue_from_a_committee(committee, emt_train):
    settings = CommitteeSettings(**{**SETTINGS, "member": {**SETTINGS["member"], "max_iter": 2}})
    again = settings.fit(emt_train, progress=False, start=committee)
    assert len(again.members) == 3
    with pytest.raises(ModelError, match="continues from a committee"):
        settings.fit(emt_train, progress=False, start=committee.members[0])


def test_bad_input(committee, tmp_path):
    with pytest.raises(ModelError, match="at least 2"):
        CommitteeModel(members=committee.members[:1])
    with pytest.raises(ValueError, match="size"):
        CommitteeSettings(**{**SETTINGS, "size": 1})
    committee.save(tmp_path / "c")
    meta = json.loads((tmp_path / "c" / "model.json").read_text())
    del meta["members"]
    (tmp_path / "c" / "model.json").write_text(json.dumps(meta))
    with pytest.raises(ModelError, match="lacks 'members'"):
        load_potential(tmp_path / "c")


def test_contract_invariance_no_mutation_grade_and_nve(committee, emt_test):
    atoms = emt_test[3]
    check_invariance(committee, atoms)
    check_no_mutation(committee, atoms)
    check_grade(committee, atoms)
    check_nve_drift(committee, atoms, steps=40, max_drift=5e-4)


class _Killed(Exception):
    pass


class _ShippingEngine:
    """Sends each task through pickle (as Parsl ships it) to the in-process engine, records
    the keys it was given, and with ``kill_after`` dies after that many tasks (kill -9)."""

    def __init__(self, kill_after: int | None = None):
        from seiflow.execution import InProcessSettings

        self.inner, self.kill_after, self.sent = InProcessSettings(progress=False), kill_after, []

    def map(self, fn, items, keys, on_result=None, records=None):
        import pickle

        def task(item):
            if self.kill_after is not None and len(self.sent) >= self.kill_after:
                raise _Killed
            self.sent.append(keys[items.index(item)])
            return fn(pickle.loads(pickle.dumps(item)))

        if self.kill_after is not None:  # no retry, no record: the process is gone
            return [task(item) for item in items]
        return self.inner.map(task, items, keys, on_result, records)


def _same(a: CommitteeModel, b: CommitteeModel, atoms) -> None:
    assert a.force_scale == b.force_scale and a.record == b.record
    for p, q in zip(a.predictions(atoms), b.predictions(atoms)):
        assert p["energy"] == q["energy"]
        assert np.array_equal(p["forces"], q["forces"])
        assert np.array_equal(p["stress"], q["stress"])


def test_members_are_engine_tasks_resumed_one_by_one(committee, emt_train, emt_test,
                                                     tmp_path):
    """Each member's fit is one engine task; a committee fit killed after its first member
    redoes only the other two, and gives the serial fit's numbers exactly."""
    settings = CommitteeSettings(**SETTINGS)
    ckpt = tmp_path / "fit-checkpoint.pt"
    with pytest.raises(_Killed):
        settings.fit(emt_train, progress=False, checkpoint=ckpt, engine=_ShippingEngine(1))
    members = tmp_path / "fit-checkpoint.pt-members"
    assert sorted(p.name for p in members.iterdir()) == ["member-00"]
    engine = _ShippingEngine()
    again = settings.fit(emt_train, progress=False, checkpoint=ckpt, engine=engine)
    assert engine.sent == ["member-01", "member-02"]
    _same(again, committee, emt_test[0])
    assert not members.exists()  # the fit is complete


def test_a_member_fitted_from_other_data_is_refitted(emt_train, tmp_path):
    from seiflow.potentials.committee import MemberJob

    settings = CommitteeSettings(**SETTINGS)
    job = settings.member_jobs(emt_train, None, tmp_path, None)[0]
    job.folder.mkdir()
    (job.folder / "model.json").write_text("{}")
    (job.folder / "fit-key").write_text(job.key)
    assert job.done()
    other = MemberJob(0, job.settings, job.frames[1:], None, job.folder)
    assert other.key != job.key and not other.done()
    seeded = MemberJob(0, job.settings.model_copy(update={"seed": 7}), job.frames, None,
                       job.folder)
    assert not seeded.done()


def test_a_failed_member_is_one_line(emt_train, tmp_path):
    from seiflow.execution.base import TaskRecord

    class Failing:
        def map(self, fn, items, keys, on_result=None, records=None):
            return [TaskRecord(keys[0], "error", 2, "RuntimeError: singular matrix")] + \
                [TaskRecord(k, "done", 1) for k in keys[1:]]

    with pytest.raises(ModelError, match=r"committee member-00 failed: RuntimeError: "
                                         r"singular matrix \(1 of 3 members failed"):
        CommitteeSettings(**SETTINGS).fit(emt_train, progress=False,
                                          checkpoint=tmp_path / "ck", engine=Failing())

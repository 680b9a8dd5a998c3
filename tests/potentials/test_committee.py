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

"""The pretrained CHGNet as a teacher labeler: finite, deterministic labels; the same numbers as
chgnet's own ASE calculator (units and sign of the stress); refusals of what it cannot treat."""

import pickle

import numpy as np
import pytest
from ase import Atoms
from ase.build import bulk
from pydantic import TypeAdapter

from seiflow.reference import LABELER_NAMES, CHGNetLabeler, LabelerError, LabelerSettings
from seiflow.reference.chgnet import shared_pretrained


@pytest.fixture(scope="module")
def labeler():
    return CHGNetLabeler()


def _cells():
    lif = bulk("LiF", "rocksalt", 4.0, cubic=True)
    lif.rattle(0.05, seed=1)
    li2o = bulk("Li2O", "fluorite", 4.6)
    li2o.rattle(0.05, seed=2)
    return lif, li2o


def test_labels_lif_and_li2o(labeler):
    for atoms in _cells():
        labeler.check(atoms)
        label = labeler.label(atoms)
        assert label.ok, label.failure
        assert np.isfinite(label.energy) and label.energy < -3.0 * len(atoms)  # bound solids
        assert label.forces.shape == (len(atoms), 3) and np.all(np.isfinite(label.forces))
        assert np.abs(label.forces).max() > 0.05  # rattled: forces are not ~0
        assert label.stress.shape == (6,) and np.all(np.isfinite(label.stress))
        assert abs(label.forces.sum(axis=0)).max() < 1e-4  # no net force


def test_labels_are_deterministic(labeler):
    lif, _ = _cells()
    one, two = labeler.label(lif), CHGNetLabeler().label(lif)
    assert one.energy == two.energy
    assert np.array_equal(one.forces, two.forces) and np.array_equal(one.stress, two.stress)
    again = pickle.loads(pickle.dumps(labeler))  # how an engine ships it to a worker
    assert again == labeler and again.label(lif).energy == one.energy


def test_same_numbers_as_chgnets_own_calculator(labeler):
    """chgnet's CHGNetCalculator returns the stress as 3×3 GPa × ase.units.GPa (eV/Å³); ours
    is its Voigt form, symmetrised (the float32 strain derivative is symmetric to ~1e-8)."""
    import contextlib
    import io

    from ase.stress import full_3x3_to_voigt_6_stress
    from chgnet.model.dynamics import CHGNetCalculator as Upstream

    _, li2o = _cells()
    label = labeler.label(li2o)
    with contextlib.redirect_stdout(io.StringIO()):
        upstream = Upstream(model=shared_pretrained("0.3.0", "cpu"), use_device="cpu")
    upstream.calculate(li2o.copy(), task="efs")
    ref = upstream.results
    s = np.asarray(ref["stress"]).reshape(3, 3)
    assert abs(label.energy - float(ref["energy"])) < 1e-5
    assert np.abs(label.forces - ref["forces"]).max() < 1e-6
    # equal up to float32 rounding: upstream averages the off-diagonal pairs in float32
    float32_ulp = np.finfo(np.float32).eps * np.abs(s).max()
    assert np.abs(label.stress - full_3x3_to_voigt_6_stress(s)).max() < 4 * float32_ulp
    assert np.abs(label.stress).max() > 0.01  # eV/Å³: a real stress was compared


def test_refuses_elements_outside_chgnet(labeler):
    atoms = bulk("Cu", "fcc", 3.6)
    for z, name in ((95, "Am"), (118, "Og")):
        atoms.numbers[0] = z
        with pytest.raises(LabelerError, match=name):
            labeler.check(atoms)
    with pytest.raises(LabelerError, match="3D cell"):
        labeler.check(Atoms("LiF", positions=[[0, 0, 0], [1.6, 0, 0]]))


def test_a_molecule_in_a_box_has_no_stress(labeler):
    mol = Atoms("LiF", positions=[[6, 6, 6], [7.6, 6, 6]], cell=[12, 12, 12], pbc=False)
    label = labeler.label(mol)
    assert label.ok and label.stress is None
    assert label.forces[0, 0] == pytest.approx(-label.forces[1, 0], abs=1e-4)


def test_config_registry_and_settings_hash():
    assert "chgnet" in LABELER_NAMES
    parsed = TypeAdapter(LabelerSettings).validate_python({"name": "chgnet"})
    assert isinstance(parsed, CHGNetLabeler) and parsed.checkpoint == "0.3.0"
    cpu, auto = CHGNetLabeler(device="cpu"), CHGNetLabeler(device="auto")
    assert cpu.settings_hash() == auto.settings_hash()  # the device is a run-time option
    assert CHGNetLabeler(checkpoint="r2scan").settings_hash() != parsed.settings_hash()
    with pytest.raises(ValueError):
        TypeAdapter(LabelerSettings).validate_python({"name": "chgnet", "checkpoint": "9.9"})


def test_r2scan_checkpoint_labels_differently(labeler):
    lif, _ = _cells()
    pbe, r2scan = labeler.label(lif), CHGNetLabeler(checkpoint="r2scan").label(lif)
    assert r2scan.ok and np.isfinite(r2scan.energy)
    assert abs(r2scan.energy - pbe.energy) > 1e-3  # another functional's energy scale

import subprocess
import sys
import textwrap

import numpy as np
import pytest
from ase.build import bulk, molecule

from seiflow.core.errors import SeiflowError
from seiflow.data.stats import dataset_stats, split_by_group
from seiflow.data.store import LabelStore, Origin, structure_hash
from seiflow.data.labels import Label


def _label(atoms, seed=0):
    rng = np.random.default_rng(seed)
    stress = rng.normal(size=6) * 1e-3 if atoms.pbc.all() else None
    return Label(float(rng.normal()), rng.normal(size=(len(atoms), 3)), stress, wall_time=0.1)


def test_add_roundtrip_with_origin(tmp_path):
    store = LabelStore(tmp_path / "s.db")
    atoms = bulk("LiF", "rocksalt", a=4.03, cubic=True)
    lab = _label(atoms)
    assert not store.is_labelled(atoms, "abc")
    store.add(atoms, lab, "xtb", "abc", Origin(group="lif", builder="test", iteration=2,
                                               grade=3.5))
    assert store.is_labelled(atoms, "abc") and not store.is_labelled(atoms, "other")
    (frame,) = store.frames()
    assert frame.get_potential_energy() == lab.energy
    np.testing.assert_array_equal(frame.get_forces(), lab.forces)
    np.testing.assert_allclose(frame.get_stress(), lab.stress)
    assert frame.info["group"] == "lif" and frame.info["iteration"] == 2
    assert frame.info["grade"] == 3.5 and frame.info["labeler"] == "xtb"


def test_failures_are_recorded_with_reason(tmp_path):
    store = LabelStore(tmp_path / "s.db")
    mol = molecule("H2O")
    store.add(mol, Label(failure="SCF not converged"), "xtb", "abc")
    assert store.is_labelled(mol, "abc")  # a failure is not retried with the same settings
    assert store.frames() == [] and store.failures()[0]["failure"] == "SCF not converged"


def test_structure_hash_sees_geometry_not_info():
    a = molecule("H2O")
    b = a.copy()
    b.info["source"] = "elsewhere"
    assert structure_hash(a) == structure_hash(b)
    b.positions[0, 0] += 1e-3
    assert structure_hash(a) != structure_hash(b)


def test_store_path_must_be_db(tmp_path):
    with pytest.raises(SeiflowError, match=".db"):
        LabelStore(tmp_path / "labels.sqlite")


def test_two_concurrent_writers_never_corrupt(tmp_path):
    db = tmp_path / "shared.db"
    script = textwrap.dedent(f"""
        import sys
        import numpy as np
        from ase.build import bulk
        from seiflow.data.store import LabelStore
        from seiflow.data.labels import Label
        store = LabelStore({str(db)!r})
        w = int(sys.argv[1])
        for k in range(40):
            atoms = bulk("Li", "bcc", a=3.0 + 0.01 * k + 0.5 * w)
            store.add(atoms, Label(-1.0 * k, np.zeros((1, 3)), np.zeros(6)), "t", f"w{{w}}")
    """)
    procs = [subprocess.Popen([sys.executable, "-c", script, str(w)]) for w in (0, 1)]
    assert all(p.wait(timeout=300) == 0 for p in procs)
    store = LabelStore(db)
    frames = store.frames()
    assert len(frames) == 80
    assert sorted(f.get_potential_energy() for f in frames) == sorted(
        [-1.0 * k for k in range(40)] * 2)
    for w in (0, 1):
        assert store.count(settings_hash=f"w{w}") == 40


def test_stats_and_splits():
    frames = []
    for k in range(10):
        a = bulk("LiF", "rocksalt", a=4.0 + 0.01 * k)
        a.info["group"] = "lif" if k < 6 else "strained"
        _label(a, k).attach(a)
        frames.append(_label(a, k).attach(a))
        frames[-1].info["group"] = a.info["group"]
    s = dataset_stats(frames)
    assert s.frames == 10 and s.by_group == {"lif": 6, "strained": 4}
    assert s.elements["Li"] == {"frames": 10, "atoms": 10} and s.with_stress == 10
    groups = [f.info["group"] for f in frames]
    train, test = split_by_group(groups, 0.25, seed=1)
    assert sorted(train + test) == list(range(10))
    assert {groups[i] for i in test} == {"lif", "strained"}  # every group is tested
    train, test = split_by_group(groups, 0.3, seed=1, mode="grouped")
    assert len({groups[i] for i in test}) == 1  # a whole group held out
    with pytest.raises(ValueError):
        split_by_group(groups, 1.5)

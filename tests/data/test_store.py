import os
import socket
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest
from ase.build import bulk, molecule

from seiflow.core.errors import SeiflowError
from seiflow.data.stats import dataset_stats, split_by_group
from seiflow.data.locking import StoreLock, owner_id
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


def test_a_frame_weight_is_kept_with_its_label(tmp_path):
    """A frame's fit weight (info["fit_weight"]) comes back with it, so every later fit of the
    store weighs it the same; weight 1 is not stored; a non-positive weight is refused."""
    from seiflow.data.labels import fit_weight

    store = LabelStore(tmp_path / "s.db")
    heavy, plain = bulk("LiF", "rocksalt", a=4.03, cubic=True), bulk("LiF", "rocksalt", a=4.05)
    heavy.info["fit_weight"] = 5.0
    store.add(heavy, _label(heavy), "xtb", "abc")
    store.add(plain, _label(plain), "xtb", "abc")
    frames = sorted(store.frames(), key=len)
    assert [fit_weight(a) for a in frames] == [1.0, 5.0]
    assert "fit_weight" not in frames[0].info
    for bad in (0.0, -2.0, "heavy", float("nan")):
        heavy.info["fit_weight"] = bad
        with pytest.raises(SeiflowError, match="fit weight must be a positive number"):
            fit_weight(heavy)


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


def _cu(k=0):
    atoms = bulk("Cu", "fcc", a=3.6 + 0.01 * k)
    return atoms, Label(-1.0 - k, np.zeros((1, 3)), np.zeros(6))


def _dead_pid():
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_unique_key_per_structure_and_settings(tmp_path):
    store = LabelStore(tmp_path / "s.db")
    atoms, lab = _cu()
    store.add(atoms, lab, "emt", "h1")
    with pytest.raises(SeiflowError, match="already in") as err:
        store.add(atoms, lab, "emt", "h1")
    assert "\n" not in str(err.value)
    store.add(atoms, lab, "other", "h2")  # another labeler: its own row
    assert store.count() == 2 and store.labelled("h1") == store.labelled("h2") == {
        structure_hash(atoms)}


def test_claim_states_with_a_live_then_dead_owner(tmp_path):
    db = tmp_path / "s.db"
    atoms, lab = _cu()
    key = structure_hash(atoms)
    holder = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(f"""
            import sys, time
            from seiflow.data.store import LabelStore
            print(LabelStore({str(db)!r}).claim({key!r}, "h"), flush=True)
            time.sleep(60)
        """)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "new"
        store = LabelStore(db)
        assert store.claim(key, "h") == "busy"  # claimed by a live process
        assert store.claim(key, "other") == "new"  # another labeler is another key
    finally:
        holder.kill()
        holder.wait()
    assert store.claim(key, "h") == "taken"  # its owner is gone
    assert store.commit_claimed(atoms, lab, "emt", "h") is not None
    assert store.claim(key, "h") == "done"
    store.release_claims()
    assert store.claims() == [] and store.count() == 1


def test_commit_after_another_process_committed_writes_nothing(tmp_path):
    store = LabelStore(tmp_path / "s.db")
    atoms, lab = _cu()
    assert store.claim(structure_hash(atoms), "h") == "new"
    store.add(atoms, lab, "emt", "h")  # e.g. an import, or a worker that took the claim over
    assert store.commit_claimed(atoms, lab, "emt", "h") is None
    assert store.count() == 1


def test_deleted_row_is_labelled_again(tmp_path):
    store = LabelStore(tmp_path / "s.db")
    atoms, lab = _cu()
    row = store.add(atoms, lab, "emt", "h")
    store.db.delete([row])
    assert not store.is_labelled(atoms, "h")
    assert store.claim(structure_hash(atoms), "h") == "taken"
    assert store.commit_claimed(atoms, lab, "emt", "h") is not None and store.count() == 1


def test_store_from_before_the_key_table_is_adopted(tmp_path, caplog):
    import ase.db

    path = tmp_path / "old.db"
    old = ase.db.connect(str(path))
    for k in (0, 1, 1):  # an old run duplicated structure 1
        atoms, lab = _cu(k)
        old.write(lab.attach(atoms), structure_hash=structure_hash(atoms), settings_hash="h",
                  status="ok", labeler="emt")
    store = LabelStore(path)
    assert "1 rows repeat" in caplog.text
    for k in (0, 1):
        assert store.claim(structure_hash(_cu(k)[0]), "h") == "done"
    with pytest.raises(SeiflowError):
        store.add(*_cu(0), "emt", "h")


def test_stale_lock_of_a_dead_process_is_broken_with_a_warning(tmp_path, caplog):
    store = LabelStore(tmp_path / "s.db")
    lock = tmp_path / "s.db.lock"
    lock.write_text(f"{socket.gethostname()}:{_dead_pid()}: 1700000000.0\n")
    t0 = time.perf_counter()
    store.add(*_cu(), "emt", "h")
    assert time.perf_counter() - t0 < 5 and not lock.exists()
    assert "stale lock" in caplog.text and "no longer running" in caplog.text


def test_old_lock_without_owner_is_broken_a_fresh_one_times_out(tmp_path, caplog):
    store = LabelStore(tmp_path / "s.db", lock_timeout_s=0.5)
    lock = tmp_path / "s.db.lock"
    lock.write_text("")  # what ase.utils.Lock leaves: no owner
    os.utime(lock, (time.time() - 3600, time.time() - 3600))
    store.add(*_cu(0), "emt", "h")
    assert "stale lock" in caplog.text and not lock.exists()
    lock.write_text("")  # fresh: may belong to a writer that is working
    t0 = time.perf_counter()
    with pytest.raises(SeiflowError, match="gave up after") as err:
        store.add(*_cu(1), "emt", "h")
    assert time.perf_counter() - t0 < 5 and "\n" not in str(err.value)


def test_a_kill_while_taking_the_lock_never_leaves_an_ownerless_lock(tmp_path, monkeypatch):
    """The owner is in the lock file from the moment the file exists: killed just before the
    lock is taken there is no lock, just after it there is one naming this process (an empty
    one, from a kill between O_EXCL and the write, was only broken after 120 s)."""
    lock = StoreLock(tmp_path / "s.db.lock")
    real_link = os.link

    def killed_before(src, dst):
        raise KeyboardInterrupt

    monkeypatch.setattr(os, "link", killed_before)
    with pytest.raises(KeyboardInterrupt):
        lock.acquire()
    assert list(tmp_path.iterdir()) == []  # no lock, no leftover owner file

    def killed_after(src, dst):
        real_link(src, dst)
        raise KeyboardInterrupt

    monkeypatch.setattr(os, "link", killed_after)
    with pytest.raises(KeyboardInterrupt):
        lock.acquire()
    assert [p.name for p in tmp_path.iterdir()] == ["s.db.lock"]
    assert (tmp_path / "s.db.lock").read_text().split()[0] == owner_id()
    monkeypatch.setattr(os, "link", real_link)


def test_lock_of_a_live_process_is_waited_for_then_one_line(tmp_path):
    store = LabelStore(tmp_path / "s.db", lock_timeout_s=0.5)
    (tmp_path / "s.db.lock").write_text(f"{owner_id()} {time.time()}\n")  # alive: this test
    with pytest.raises(SeiflowError, match=f"locked by pid {os.getpid()}"):
        store.add(*_cu(), "emt", "h")
    assert store.count() == 0

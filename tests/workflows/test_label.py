"""Labelling runs: refusal before work, failures recorded, kill -9 and resume, Parsl parity."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import ase.io
import numpy as np
import pytest
from ase import Atoms
from ase.build import molecule

from seiflow.data.store import LabelStore, structure_hash
from seiflow.execution import InProcessSettings, RecordLog
from seiflow.reference import EMTSettings, LabelerError, XTBSettings
from seiflow.structures.amorphous import AmorphousSpec, pack_amorphous
from seiflow.workflows.label import run_label


@pytest.fixture(scope="module")
def twenty(tmp_path_factory):
    """20 small amorphous Li2CO3 + Li cells in one extxyz file."""
    spec = AmorphousSpec(composition={"Li2CO3": 3, "Li": 4}, seed=5, expansion=1.6)
    frames = [pack_amorphous(spec, i) for i in range(20)]
    path = tmp_path_factory.mktemp("frames") / "twenty.extxyz"
    ase.io.write(path, frames)
    return path, frames


def test_refuses_before_touching_the_store(tmp_path):
    store = LabelStore(tmp_path / "s.db")
    good = molecule("H2O")
    store.add(good, XTBSettings().label(good), "xtb", XTBSettings().settings_hash())
    bad = Atoms("Og", positions=[[0, 0, 0]])
    with pytest.raises(LabelerError, match="Og"):
        run_label([molecule("CH4"), bad], XTBSettings(), store)
    assert store.count() == 1


def test_physics_failures_are_recorded_and_batch_goes_on(tmp_path):
    store = LabelStore(tmp_path / "s.db")
    frames = [molecule(n) for n in ("C6H6", "CH4", "H2O")]
    report = run_label(frames, XTBSettings(max_iterations=3), store)
    assert report.ok + report.failed == 3 and report.failed >= 1
    assert store.count(status="failed") == report.failed
    assert all("SCF" in f["failure"] for f in store.failures())


def _cli_label(path, db, *extra):
    return [sys.executable, "-m", "seiflow", "label", str(path), "--labeler", "xtb",
            "--allow-thin", "--db", str(db), "--no-progress", *extra]


def test_kill_9_midway_then_resume_labels_each_exactly_once(tmp_path, twenty):
    path, frames = twenty
    db = tmp_path / "labels.db"
    proc = subprocess.Popen(_cli_label(path, db), stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, env={**os.environ, "OMP_NUM_THREADS": "1"})
    deadline = time.time() + 300
    done = 0
    while time.time() < deadline and proc.poll() is None:
        if db.exists():
            try:
                done = LabelStore(db).count()
            except Exception:
                done = 0
            if done >= 5:
                break
        time.sleep(0.05)
    assert proc.poll() is None, "finished before it could be killed"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    killed_at = LabelStore(db).count()
    assert 5 <= killed_at < 20

    out = subprocess.run(_cli_label(path, db), capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr
    assert f"{killed_at} already" in " ".join(out.stdout.split())
    store = LabelStore(db)
    rows = list(store.rows())
    assert len(rows) == 20
    assert sorted(r.structure_hash for r in rows) == sorted(structure_hash(a) for a in frames)
    for r in rows:  # no row corrupted: every one reads back complete
        atoms = r.toatoms()
        assert r.status == "ok" and np.isfinite(atoms.get_potential_energy())
        assert atoms.get_forces().shape == (len(atoms), 3) and atoms.get_stress().shape == (6,)


@pytest.mark.slow
def test_parsl_engine_gives_identical_labels(tmp_path, twenty):
    path, frames = twenty
    labeler = XTBSettings(allow_thin=True)
    ref = LabelStore(tmp_path / "inproc.db")
    run_label(frames, labeler, ref)
    from seiflow.execution import ParslSettings

    par = LabelStore(tmp_path / "parsl.db")
    report = run_label(frames, labeler, par,
                       engine=ParslSettings(max_workers=2, run_dir=tmp_path / "runinfo",
                                            progress=False))
    assert report.ok == 20 and all(r.status == "done" for r in report.records)
    a = {f.info["structure_hash"]: f for f in ref.frames()}
    b = {f.info["structure_hash"]: f for f in par.frames()}
    assert a.keys() == b.keys()
    for k in a:
        assert a[k].get_potential_energy() == pytest.approx(b[k].get_potential_energy(),
                                                            abs=1e-8)
        np.testing.assert_allclose(a[k].get_forces(), b[k].get_forces(), atol=1e-8)
        np.testing.assert_allclose(a[k].get_stress(), b[k].get_stress(), atol=1e-10)


def test_the_store_not_the_records_decides_what_is_done(tmp_path):
    """A second labeler into the same store labels everything; a deleted store is refilled."""
    path = tmp_path / "mols.extxyz"
    ase.io.write(path, [molecule(n) for n in ("H2O", "CH4")])
    db = tmp_path / "labels.db"

    def cli(labeler):
        out = subprocess.run([sys.executable, "-m", "seiflow", "label", str(path), "--labeler",
                              labeler, "--db", str(db), "--no-progress"],
                             capture_output=True, text=True, timeout=300)
        assert out.returncode == 0, out.stderr
        return " ".join(out.stdout.split())

    assert "2 labelled" in cli("emt")
    assert "2 labelled" in cli("xtb")  # other settings hash: not done yet
    store = LabelStore(db)
    assert store.count() == 4 and {r.labeler for r in store.rows()} == {"emt", "xtb"}
    assert "2 already" in cli("emt")
    assert Path(str(db) + "-label-summary.records.jsonl").exists()  # the log is still written
    db.unlink()
    assert "2 labelled" in cli("emt")  # the records say done, the store says otherwise
    assert LabelStore(db).count() == 2


def test_records_are_a_log_only(tmp_path):
    frames = [molecule(n) for n in ("H2O", "NH3")]
    records = RecordLog(tmp_path / "rec.jsonl")
    quiet = InProcessSettings(progress=False)
    first = run_label(frames, EMTSettings(), LabelStore(tmp_path / "a.db"), quiet,
                      records=records)
    assert first.ok == 2 and records.done() == {structure_hash(a) for a in frames}
    again = run_label(frames, EMTSettings(), LabelStore(tmp_path / "b.db"), quiet,
                      records=records)
    assert again.ok == 2 and again.already == 0


def test_a_labeler_that_raises_gives_its_claim_back(tmp_path):
    class Broken(EMTSettings):
        def label(self, atoms):
            raise RuntimeError("segfault in the reference code")

    store = LabelStore(tmp_path / "s.db")
    report = run_label([molecule("H2O")], Broken(), store, InProcessSettings(progress=False))
    assert report.records[0].status == "error" and store.count() == 0
    assert store.claims() == []
    assert run_label([molecule("H2O")], EMTSettings(), store,
                     InProcessSettings(progress=False)).ok == 1

"""Run folders have one writer: `md`, `learn`, `resume`, `train --out`, `validate` refuse a
folder a live process holds (one line naming it), break the lock of a dead one with a warning;
an MD folder keeps its structure; `train` keeps a model unless --overwrite; `data export`
never writes into its source; `data split` keeps an imported split unless --force."""

import json
import os
import socket
import subprocess
import sys
import time

import ase.io
import pytest
from ase.build import bulk

from seiflow.data.labels import Label
from seiflow.data.locking import RUN_LOCK, RunLock
from seiflow.data.store import LabelStore, Origin
from tests.fuzz.harness import PROBE_EXIT, install_probes, invoke, problems
from tests.potentials.conftest import emt_frames

HOLD = ("import sys, time\nfrom seiflow.data.locking import RunLock\n"
        "lock = RunLock(sys.argv[1], 'seiflow md (test holder)')\nlock.acquire()\n"
        "print('held', flush=True)\n"
        "time.sleep(60) if sys.argv[2] == 'live' else __import__('os')._exit(0)\n")
MD = ("structure: {structure}\ncalculator: {{name: emt}}\nout_dir: run\n"
      "md: {{steps: {steps}, traj_stride: 5, checkpoint_every: 5}}\n")
COMMANDS = {  # command -> (argv, the folder it writes)
    "build": (["build", "build.yaml", "--out", "run", "--no-progress"], "run"),
    "md": (["md", "md.yaml", "--no-progress"], "run"),
    "learn": (["learn", "learn.yaml", "--no-progress"], "run"),
    "resume": (["resume", "run", "--no-progress"], "run"),
    "train": (["train", "--db", "labels.db", "--out", "run", "--no-progress"], "run"),
    "validate": (["validate", "model", "--phases", "li-bcc", "--out", "run", "--no-progress"],
                 "run"),
}


def _store(path, n=4, seed=1):
    store = LabelStore(path)
    for atoms in emt_frames(n, seed=seed):
        store.add(atoms, Label.from_atoms(atoms), "emt", "h", Origin(group="rattled"))
    return store


@pytest.fixture
def folder(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("SEIFLOW_LOG_DIR", str(tmp_path / "logs"))
    ase.io.write("cu.extxyz", bulk("Cu", "fcc", a=3.61, cubic=True))
    ase.io.write("cu2.extxyz", bulk("Cu", "fcc", a=3.61, cubic=True).repeat((2, 1, 1)))
    (tmp_path / "md.yaml").write_text(MD.format(structure="cu.extxyz", steps=10))
    (tmp_path / "learn.yaml").write_text("run_dir: run\nstructures: {phases: [{name: lif}]}\n")
    (tmp_path / "build.yaml").write_text("phases: [{name: lif}]\nsnapshots: false\n")
    _store(tmp_path / "labels.db")
    return tmp_path


def _holder(folder, mode):
    proc = subprocess.Popen([sys.executable, "-c", HOLD, str(folder), mode],
                            stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "held"
    return proc


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_a_second_live_writer_is_refused_naming_the_holder(folder, monkeypatch, command):
    install_probes(monkeypatch)
    argv, target = COMMANDS[command]
    (folder / target).mkdir()
    (folder / target / "learn-config.yaml").write_text("{}")  # (what resume looks for)
    proc = _holder(folder / target, "live")
    try:
        out = invoke(argv)
    finally:
        proc.kill()
        proc.wait()
    assert not problems(out, must_reject=True), out.stderr
    assert f"pid {proc.pid} on {socket.gethostname()}" in out.stderr
    assert "seiflow md (test holder)" in out.stderr and "is in use by" in out.stderr


def test_the_lock_of_a_dead_process_is_broken_with_a_warning(folder, monkeypatch):
    install_probes(monkeypatch)
    proc = _holder(folder / "run", "dead")
    proc.wait()
    assert (folder / "run" / RUN_LOCK).exists()
    out = invoke(COMMANDS["md"][0])
    assert out.code == PROBE_EXIT, out.stderr  # it went on to the work
    warning = " ".join(out.stderr.split())  # (rich wraps the log line)
    assert "run folder lock" in warning and "removed a stale lock" in warning
    assert f"pid {proc.pid}" in warning and "is no longer running" in warning
    assert not (folder / "run" / RUN_LOCK).exists()  # released after the command


def test_a_lock_held_on_another_host_is_never_presumed_dead(folder, monkeypatch):
    install_probes(monkeypatch)
    (folder / "run").mkdir()
    (folder / "run" / RUN_LOCK).write_text(f"far-away:4242:17 {time.time() - 86400:.3f} "
                                           "seiflow learn\n")
    out = invoke(COMMANDS["learn"][0])
    assert not problems(out, must_reject=True), out.stderr
    assert "pid 4242 on far-away (seiflow learn" in out.stderr
    assert f"delete {os.path.join('run', RUN_LOCK)})" in out.stderr  # how to clear it by hand


def test_lock_is_reentrant_and_released(tmp_path):
    lock = RunLock(tmp_path / "r", "x")
    with lock:
        with lock:
            assert (tmp_path / "r" / RUN_LOCK).exists()
        assert (tmp_path / "r" / RUN_LOCK).exists()
    assert not (tmp_path / "r" / RUN_LOCK).exists()
    (tmp_path / "file").write_text("")
    with pytest.raises(Exception, match="not a folder"):
        RunLock(tmp_path / "file", "x").acquire()


def test_md_folder_keeps_its_structure(folder):
    out = invoke(["md", "md.yaml", "--no-progress"])
    assert out.code == 0, out.stderr
    record = json.loads((folder / "run" / "input-structure.json").read_text())
    assert record["structure"] == "cu.extxyz"
    frames = len(ase.io.read(folder / "run" / "trajectory.extxyz", ":"))

    (folder / "md.yaml").write_text(MD.format(structure="cu2.extxyz", steps=20))
    out = invoke(["md", "md.yaml", "--no-progress"])
    assert not problems(out, must_reject=True), out.stderr
    assert "holds a run started from another structure (cu.extxyz" in out.stderr
    assert len(ase.io.read(folder / "run" / "trajectory.extxyz", ":")) == frames  # untouched

    (folder / "md.yaml").write_text(MD.format(structure="cu.extxyz", steps=20))
    out = invoke(["md", "md.yaml", "--no-progress"])
    assert out.code == 0, out.stderr
    assert "resumed from step 10" in " ".join(out.stdout.split())
    assert len(ase.io.read(folder / "run" / "trajectory.extxyz", ":")) == 5


def test_train_keeps_a_model_unless_overwrite(folder, monkeypatch):
    install_probes(monkeypatch)
    (folder / "m").mkdir()
    (folder / "m" / "model.json").write_text("{}")
    argv = ["train", "--db", "labels.db", "--out", "m", "--no-progress"]
    out = invoke(argv)
    assert not problems(out, must_reject=True), out.stderr
    assert "m already holds a model; use --overwrite" in out.stderr
    assert (folder / "m" / "model.json").exists()
    out = invoke([*argv, "--overwrite"])
    assert out.code == PROBE_EXIT, out.stderr
    assert not (folder / "m" / "model.json").exists()  # a fit killed now leaves no old model
    (folder / "m" / "fit-checkpoint.pt").write_text("")  # a killed fit: the rerun resumes it
    assert invoke(argv).code == PROBE_EXIT


@pytest.mark.parametrize("target, fmt", [("labels.db", "db"), ("./labels.db", "db"),
                                         ("link.db", "db"), ("labels.db", "extxyz")])
def test_export_never_writes_into_its_source(folder, target, fmt):
    os.symlink(folder / "labels.db", folder / "link.db")
    before = (folder / "labels.db").read_bytes()
    out = invoke(["data", "export", "labels.db", target, "--format", fmt])
    assert not problems(out, must_reject=True), out.stderr
    assert "is the store it reads" in out.stderr
    assert (folder / "labels.db").read_bytes() == before
    out = invoke(["data", "export", "labels.db", "copy.db", "--format", "db"])
    assert out.code == 0 and LabelStore("copy.db").count() == 4, out.stderr


def test_split_keeps_an_imported_split_unless_forced(folder):
    frames = emt_frames(4, seed=9)
    ase.io.write(folder / "official.extxyz", frames)
    out = invoke(["data", "import", "official.extxyz", "--db", "new.db", "--split", "test"])
    assert out.code == 0, out.stderr
    out = invoke(["data", "split", "new.db", "--test-fraction", "0.5"])
    assert not problems(out, must_reject=True), out.stderr
    assert "4 frames (4 test) kept the split they were imported with" in out.stderr
    assert [r.get("split") for r in LabelStore("new.db").rows()] == ["test"] * 4
    out = invoke(["data", "split", "new.db", "--test-fraction", "0.5", "--force"])
    assert out.code == 0, out.stderr
    assert "replaced the imported split of 4 frames (4 test)" in " ".join(out.stdout.split())
    assert invoke(["data", "split", "new.db"]).code == 0  # now a split of its own

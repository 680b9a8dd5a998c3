"""`seiflow learn` killed with SIGKILL at random moments and rerun, as real processes: the final
store is the uninterrupted run's (same structure hashes, each once), no claim or lock is left,
and no rerun hangs.

A tiny loop (an 8-atom Cu cell, EMT labels, an MTP level 4, 150 MD steps, three iterations)
takes a few seconds, so a kill can land anywhere: in the build, the labelling, a fit, the MD,
the selection. Kills: SEIFLOW_TEST_KILLS (default 3; the reliability issue asks for 20, see
benchmarks/results/kill_learn.json); SEIFLOW_KILL_RECORD=path writes the counts as JSON.
"""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import ase.io
import numpy as np
import pytest
import yaml
from ase.build import bulk

from seiflow.data.store import LabelStore

KILLS = int(os.environ.get("SEIFLOW_TEST_KILLS", 3))
STALE = "run folder lock"  # in the warning of a rerun that broke the lock of a killed run
KILLS_PER_RUN = 4
RUN_TIMEOUT_S = 300  # one whole run takes ~10 s: past this it hangs
CONFIG = {
    "structures": {"formats": ["extxyz"], "snapshots": False, "calculator": {"name": "emt"},
                   "phases": [{"file": "cu.extxyz"}]},
    "labeler": {"name": "emt"},
    "potential": {"backend": "mtp", "level": 4, "max_iter": 10},
    # tiny rattles: the first MTP extrapolates in the 1200 K MD, so the loop has to learn
    "initial": {"per_structure": 4, "seed": 0, "rattle_A": [0.005, 0.01], "strain": 0.0},
    "test_set": {"per_structure": 2, "seed": 5},
    # 150 steps < one checkpoint interval: a killed trajectory restarts from its seed
    "explore": {"temperatures_K": [1200], "steps": 150, "traj_stride": 10, "timestep_fs": 2.0},
    "gamma_select": 1.1, "gamma_break": 1.6, "test_md": 2,
    "max_select_per_iteration": 3, "max_iterations": 3, "label_budget": 14,
}


def _env():
    return {**os.environ, "OMP_NUM_THREADS": "1"}


def _setup(folder: Path) -> Path:
    folder.mkdir(parents=True)
    ase.io.write(folder / "cu.extxyz", bulk("Cu", "fcc", a=3.61, cubic=True).repeat((2, 1, 1)))
    (folder / "learn.yaml").write_text(yaml.safe_dump({**CONFIG, "run_dir": "run"}))
    return folder


def _learn(folder: Path, **kw) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "seiflow", "learn", "learn.yaml",
                             "--no-progress"], cwd=folder, env=_env(), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, **kw)


def _finish(folder: Path) -> subprocess.CompletedProcess:
    out = subprocess.run([sys.executable, "-m", "seiflow", "learn", "learn.yaml",
                          "--no-progress"], cwd=folder, env=_env(), capture_output=True,
                         text=True, timeout=RUN_TIMEOUT_S)
    assert out.returncode == 0, out.stderr[-3000:]
    return out


def _state(run: Path) -> dict:
    """What must match the uninterrupted run: structure hashes (each once), per group."""
    store = LabelStore(run / "labels.db")
    rows = list(store.rows())
    hashes = [r.structure_hash for r in rows]
    assert len(hashes) == len(set(hashes)), "a structure labelled twice"
    assert store.claims() == []
    assert not (run / ".seiflow.lock").exists()
    reports = sorted(run.glob("iter-*/report.json"))
    return {"hashes": sorted(hashes), "groups": sorted((r.get("group"), r.structure_hash)
                                                        for r in rows),
            "iterations": len(reports),
            "status": yaml.safe_load((run / "learn-summary.yml").read_text())
            .get("status_learning")}


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    folder = _setup(tmp_path_factory.mktemp("ref") / "ref")
    t0 = time.perf_counter()
    _finish(folder)
    return _state(folder / "run"), time.perf_counter() - t0


def _stage(run: Path) -> str:
    """Where a run stood when it was killed (for the record)."""
    its = sorted(p.name for p in run.glob("iter-*")) if run.exists() else []
    if not its:
        return "build/initial labels"
    last = run / its[-1]
    for mark, name in (("report.json", "done"), ("selected.extxyz", "label"),
                       ("explore", "explore"), ("model/model.json", "explore"),
                       ("", "fit")):
        if not mark or (last / mark).exists():
            return f"{its[-1]} {name}"
    return its[-1]


def _holds_lock(folder: Path, proc: subprocess.Popen, limit_s: float = 120.0) -> None:
    """Wait until ``proc`` holds the run folder's lock (its imports done), or has ended."""
    lock, deadline = folder / "run" / ".seiflow.lock", time.time() + limit_s
    while time.time() < deadline and proc.poll() is None:
        try:
            if f":{proc.pid}:" in lock.read_text():
                return
        except OSError:
            pass
        time.sleep(0.02)


def _kill_at_random(folder: Path, rng, ref_wall: float, counts: dict) -> bool:
    """Start (or rerun) the run in ``folder`` and kill it at a random moment of its work
    (after its imports: up to 0.8 x the uninterrupted run's time later); False if it finished
    first."""
    proc = _learn(folder)
    _holds_lock(folder, proc)
    try:
        proc.wait(timeout=rng.uniform(0.0, 0.8 * ref_wall))
    except subprocess.TimeoutExpired:
        stage = _stage(folder / "run")
        proc.send_signal(signal.SIGKILL)
        _, err = proc.communicate(timeout=30)
        counts["stale_locks_broken"] += STALE in err
        counts["kills"] += 1
        counts["stages"][stage] = counts["stages"].get(stage, 0) + 1
        return True
    _, err = proc.communicate()
    assert proc.returncode == 0, err[-3000:]
    counts["stale_locks_broken"] += STALE in err
    counts["finished_before_kill"] += 1
    return False


def test_kill_9_at_random_moments_then_rerun_gives_the_same_store(reference, tmp_path):
    """Up to KILLS_PER_RUN kills on one run folder, then a rerun to the end, compared with
    the uninterrupted run; then a fresh folder (so kills land early in a run as often as
    late), until KILLS kills."""
    ref, ref_wall = reference
    rng = np.random.default_rng(20261201)
    counts = {"kills": 0, "finished_before_kill": 0, "runs_checked": 0, "stale_locks_broken": 0,
              "stages": {}}
    t0 = time.perf_counter()
    while counts["kills"] < KILLS:
        folder = _setup(tmp_path / f"run-{counts['runs_checked']}")
        for _ in range(min(KILLS_PER_RUN, KILLS - counts["kills"])):
            if not _kill_at_random(folder, rng, ref_wall, counts):
                break
        err = _finish(folder).stderr  # no hang: RUN_TIMEOUT_S
        counts["stale_locks_broken"] += STALE in err
        assert _state(folder / "run") == ref
        counts["runs_checked"] += 1
    counts.update(seconds=round(time.perf_counter() - t0, 1),
                  reference_run_s=round(ref_wall, 1), labels=len(ref["hashes"]),
                  iterations=ref["iterations"], status=ref["status"])
    if os.environ.get("SEIFLOW_KILL_RECORD"):
        Path(os.environ["SEIFLOW_KILL_RECORD"]).write_text(json.dumps(counts, indent=1) + "\n")

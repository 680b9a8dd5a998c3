"""The active-learning loop end to end on a tiny system (xTB labels, MTP level 4), a real
kill -9 in the middle and `seiflow resume`, and config errors caught before any work."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from seiflow.core.config import parse_config
from seiflow.core.errors import ConfigError
from seiflow.data.store import LabelStore
from seiflow.workflows.learn import LearnConfig, run_learn

TINY = {
    "structures": {
        "formats": ["extxyz"], "snapshots": False,
        "calculator": {"name": "xtb"},
        "amorphous": [{"name": "carb", "composition": {"Li2CO3": 2}, "count": 1, "seed": 3,
                       "compress": {"pressure_kbar": 50, "fmax": 0.2, "max_steps": 10}}],
    },
    "labeler": {"name": "xtb", "allow_thin": True},
    "potential": {"backend": "mtp", "level": 4, "max_iter": 15},
    "initial": {"per_structure": 6, "seed": 0},
    "test_set": {"per_structure": 3, "seed": 99},
    "explore": {"temperatures_K": [300, 900], "steps": 600, "traj_stride": 20},
    "test_md": 4, "max_select_per_iteration": 6, "max_iterations": 4, "label_budget": 60,
}


def _check_run(run: Path) -> list[dict]:
    reports = [json.loads(p.read_text()) for p in sorted(run.glob("iter-*/report.json"))]
    assert [r["iteration"] for r in reports] == list(range(len(reports)))
    store = LabelStore(run / "labels.db")
    hashes = [r.structure_hash for r in store.rows()]
    assert len(hashes) == len(set(hashes))  # nothing labelled twice
    assert reports[-1]["labels_total"] == store.count()
    for r in reports:
        assert r["finished"] + r["broken"] == 2
        assert r["test_errors"]["forces"]["n"] == 3 * 12 * 3
        assert r["test_md_errors"]["forces"]["n"] == 4 * 12 * 3
    return reports


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
    run = tmp_path_factory.mktemp("learn") / "run"
    report = run_learn(parse_config({**TINY, "run_dir": str(run)}, LearnConfig), progress=False)
    return run, report


def test_loop_runs_to_a_verdict(uninterrupted):
    run, report = uninterrupted
    reports = _check_run(run)
    assert report.status in ("converged", "label budget reached", "iteration limit reached")
    if report.converged:
        assert reports[-1]["broken"] == 0 and reports[-1]["labels_added"] == 0
    assert reports[0]["broken"] > 0 and reports[0]["labels_added"] > 0  # it had to learn
    for name in ("report.md", "learning-curves.png", "gamma-histograms.png"):
        assert (run / name).stat().st_size > 500


def test_kill_and_resume_reaches_the_same_state(uninterrupted, tmp_path):
    ref_run, ref = uninterrupted
    cfg = tmp_path / "learn.yaml"
    cfg.write_text(yaml.safe_dump({**TINY, "run_dir": str(tmp_path / "run")}))
    cmd = [sys.executable, "-m", "seiflow", "learn", str(cfg), "--no-progress"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    run = tmp_path / "run"
    deadline = time.time() + 400
    while time.time() < deadline and proc.poll() is None:
        if list(run.glob("iter-0*/explore/*/checkpoint.extxyz")):
            break
        time.sleep(0.05)
    assert proc.poll() is None, "the run ended before it could be killed"
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    assert not (run / "report.md").exists() or "running" in (run / "report.md").read_text()

    out = subprocess.run([sys.executable, "-m", "seiflow", "resume", str(run), "--no-progress"],
                         capture_output=True, text=True, timeout=900)
    assert out.returncode == 0, out.stderr[-2000:]
    reports = _check_run(run)
    ref_reports = _check_run(ref_run)
    # the deterministic part is identical: same test set, same first model
    a = json.loads((run / "iter-00/model/model.json").read_text())
    b = json.loads((ref_run / "iter-00/model/model.json").read_text())
    assert a["training"]["loss"] == b["training"]["loss"]
    assert reports[0]["test_errors"] == ref_reports[0]["test_errors"]
    assert ref.status.split()[0] in out.stdout or "reached" in out.stdout


@pytest.mark.parametrize("change, message", [
    ({"gamma_select": 12.0}, "gamma_select (12.0) must be below gamma_break"),
    ({"explore": {"stepz": 10}}, "stepz"),
    ({"structures": {"formats": ["extxyz"]}}, "nothing to build"),
])
def test_bad_config_fails_before_any_work(tmp_path, change, message):
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(")", r"\)")):
        parse_config({**TINY, **change, "run_dir": str(tmp_path / "r")}, LearnConfig)
    assert not (tmp_path / "r").exists()

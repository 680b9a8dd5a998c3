"""The active-learning loop end to end on a tiny system (an EMT Cu3Al packing compressed and
grown to 2 x the cutoff, MTP level 4), the held-out evaluation of the final model, and config
errors caught before any work. Kills and resumes: test_learn_kills.py."""

import json
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
        "calculator": {"name": "emt"},
        # packed, squeezed and relaxed with EMT; grown to 2 x the 3 Å cutoff in every direction
        "amorphous": [{"name": "cual", "composition": {"Cu": 3, "Al": 1}, "count": 1, "seed": 3,
                       "compress": {"pressure_kbar": 50, "fmax": 0.05, "max_steps": 20}}],
    },
    "labeler": {"name": "emt"},
    "potential": {"backend": "mtp", "level": 4, "cutoff": 3.0, "max_iter": 15},
    "initial": {"per_structure": 6, "seed": 0, "rattle_A": [0.01, 0.03], "strain": 0.01},
    "test_set": {"per_structure": 3, "seed": 99},
    "explore": {"temperatures_K": [300, 1500], "steps": 400, "traj_stride": 20},
    "test_md": 4, "max_select_per_iteration": 6, "max_iterations": 4, "label_budget": 60,
}


def _check_run(run: Path) -> list[dict]:
    reports = [json.loads(p.read_text()) for p in sorted(run.glob("iter-*/report.json"))]
    assert [r["iteration"] for r in reports] == list(range(len(reports)))
    store = LabelStore(run / "labels.db")
    hashes = [r.structure_hash for r in store.rows()]
    assert len(hashes) == len(set(hashes))  # nothing labelled twice
    assert reports[-1]["labels_total"] == store.count()
    built = yaml.safe_load((run / "structures" / "build-summary.yml").read_text())["outputs"]
    n_atoms = built[0]["natoms"]
    for r in reports:
        assert r["finished"] + r["broken"] == 2
        assert r["test_errors"]["forces"]["n"] == 3 * n_atoms * 3
        assert r["test_md_errors"]["forces"]["n"] == 4 * n_atoms * 3
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
    for name in ("report.md", "learning-curves.png", "gamma-histograms.png",
                 "evaluation/parity-test-rattled.png", "evaluation/per-frame.csv"):
        assert (run / name).stat().st_size > 500
    assert "evaluation/parity-test-md.png" in (run / "report.md").read_text()
    # max_iter 15 stops every fit at its iteration limit: the final model is flagged, not hidden
    assert report.fit == {"stop": "iteration limit", "converged": False}
    assert "DID NOT CONVERGE" in (run / "report.md").read_text()
    summary = yaml.safe_load((run / "learn-summary.yml").read_text())
    assert summary["final_fit"]["converged"] is False
    built = yaml.safe_load((run / "structures" / "build-summary.yml").read_text())["outputs"]
    assert min(built[0]["widths_A"]) >= 2 * TINY["potential"]["cutoff"]


def test_rows_and_models_record_where_they_came_from(uninterrupted):
    """Provenance: each active-learning label names its iteration, trajectory and γ; each
    starting label its structure; each model its store rows, reference and seiflow version."""
    run, _ = uninterrupted
    store = LabelStore(run / "labels.db")
    active = list(store.rows(group="active"))
    assert active
    for row in active:
        assert row.get("trajectory") and row.get("grade") > TINY.get("gamma_select", 2.0)
        assert row.get("iteration") is not None
    assert {row.get("builder") for row in store.rows(group="initial")} == {"cual-000"}
    model = json.loads((run / "iter-01" / "model" / "model.json").read_text())
    record = model.get("record", model)
    ids = {row.id for row in store.rows()}
    assert set(record["data"]["train_ids"]) <= ids and record["data"]["train_ids"]
    assert record["reference"]["labeler"] == "emt" and record["seiflow_version"]


@pytest.mark.parametrize("change, message", [
    ({"gamma_select": 12.0}, "gamma_select (12.0) must be below gamma_break"),
    ({"explore": {"stepz": 10}}, "stepz"),
    ({"structures": {"formats": ["extxyz"]}}, "nothing to build"),
])
def test_bad_config_fails_before_any_work(tmp_path, change, message):
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(")", r"\)")):
        parse_config({**TINY, **change, "run_dir": str(tmp_path / "r")}, LearnConfig)
    assert not (tmp_path / "r").exists()

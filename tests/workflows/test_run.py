"""The run folder object (seiflow/workflows/run.py): a learn run's layout under the names run
folders on disk already have, the config and structure a folder belongs to, and the typed
iteration record that reads and writes report.json with the same keys."""

import json

import ase.io
import pytest
from ase.build import bulk

from seiflow.core.errors import SeiflowError
from seiflow.workflows.run import IterationRecord, Run, RunFolder

# iter-NN/report.json as the loop has always written it (keys in this order)
REPORT = {
    "iteration": 1, "train_structures": 9, "test_structures": 2, "labels_added": 0,
    "labels_total": 12, "test_errors": {"energy": {"rmse": 1.2}},
    "test_md_errors": {"energy": {"rmse": 0.5}},
    "trajectories": [{"name": "lif-nvt-600K", "status": "finished", "steps": 150,
                      "max_gamma": 1.4, "candidates": 0, "wall_s": 3.2}],
    "finished": 1, "broken": 0, "max_gamma": 1.4, "candidates": 0, "candidate_gammas": [],
    "selected": 0, "converged": True,
    "stage_wall_s": {"fit": 1.0, "explore": 2.0, "select": 0.0, "label": 0.0},
}


def test_iteration_record_round_trip_keeps_the_keys():
    record = IterationRecord.from_dict(REPORT)
    assert record.converged and record.labels_total == 12 and record.extra == {}
    assert list(record.to_dict()) == list(REPORT) and record.to_dict() == REPORT
    newer = {**REPORT, "something_new": [1]}  # a key this version does not know is kept
    assert IterationRecord.from_dict(newer).to_dict() == newer


def test_layout_names(tmp_path):
    run = Run(tmp_path)
    it = run.iteration(3)
    assert it.path == tmp_path / "iter-03" and it.model == tmp_path / "iter-03" / "model"
    assert it.report.name == "report.json" and it.selected.name == "selected.extxyz"
    assert it.explore("a").relative_to(tmp_path).as_posix() == "iter-03/explore/a"
    assert it.fit_checkpoint.name == "fit-checkpoint.pt"
    assert it.explore_records.name == "explore.records.jsonl"
    assert (run.labels_db.name, run.config_file.name, run.summary_file.name) == \
        ("labels.db", "learn-config.yaml", "learn-summary.yml")
    assert run.label_records("iter-00").name == "label-iter-00.records.jsonl"
    assert (run.initial_sets.name, run.test_md.name, run.report_md.name) == \
        ("initial-sets.json", "test-md.extxyz", "report.md")
    assert run.structures == tmp_path / "structures" and run.evaluation.name == "evaluation"


def test_records_models_and_config(tmp_path):
    run = Run(tmp_path / "run")
    with pytest.raises(SeiflowError, match="not an active-learning run"):
        Run.existing(run.root)
    run.claim_config({"seed": 0, "max_iterations": 2})
    run.claim_config({"seed": 0, "max_iterations": 5})  # a limit may change
    with pytest.raises(SeiflowError, match="another config"):
        run.claim_config({"seed": 1, "max_iterations": 5})
    assert Run.is_run(run.root) and Run.existing(run.root).root == run.root
    with pytest.raises(SeiflowError, match="no fitted model"):
        run.final_model()
    it = run.iteration(0)
    assert it.record() is None
    it.model.mkdir(parents=True)
    (it.model / "model.json").write_text("{}")
    assert run.final_model() == it.model
    it.write_record(IterationRecord.from_dict({**REPORT, "iteration": 0}))
    assert json.loads(it.report.read_text())["iteration"] == 0
    assert it.record() == IterationRecord.from_dict({**REPORT, "iteration": 0})


def test_a_folder_keeps_its_structure(tmp_path):
    ase.io.write(tmp_path / "a.extxyz", bulk("Cu", "fcc", a=3.61, cubic=True))
    ase.io.write(tmp_path / "b.extxyz", bulk("Cu", "fcc", a=3.61, cubic=True).repeat(2))
    folder = RunFolder(tmp_path / "md")
    folder.claim_structure(tmp_path / "a.extxyz")
    folder.claim_structure(tmp_path / "a.extxyz")  # the same one: resumes
    assert json.loads((folder.root / "input-structure.json").read_text())["structure_hash"]
    with pytest.raises(SeiflowError, match="another structure"):
        folder.claim_structure(tmp_path / "b.extxyz")

"""The loop's report.md table: a held-out set that is empty (``test_set: {per_structure: 0}``,
or no MD frames yet) is a "-" in its column, not a KeyError."""

from seiflow.report.learning import markdown_report

META = {"run_dir": "run", "labeler": "emt", "potential": "mtp", "gamma_select": 2.0,
        "gamma_break": 10.0, "status": "converged", "labels_total": 7, "test_structures": 2,
        "fit": "The model's fit converged (tol)."}


def _row(test_errors, md_errors):
    return {"iteration": 0, "labels_added": 3, "labels_total": 7, "finished": 2, "broken": 0,
            "max_gamma": 1.5, "stage_wall_s": {"fit": 1, "explore": 2, "select": 0, "label": 3},
            "test_errors": test_errors, "test_md_errors": md_errors}


def _table_row(tmp_path, row):
    text = markdown_report([row], META, tmp_path / "report.md").read_text()
    return next(line for line in text.splitlines() if line.startswith("| 0 |"))


def test_empty_held_out_sets_are_dashes(tmp_path):
    err = {"energy": {"rmse": 1.234}, "forces": {"rmse": 0.0456}}
    assert "| 1.23 / - | 0.0456 / - |" in _table_row(tmp_path, _row(err, None))
    assert "| - / 1.23 | - / 0.0456 |" in _table_row(tmp_path, _row({}, err))
    assert "| - / - | - / - |" in _table_row(tmp_path, _row({}, {}))

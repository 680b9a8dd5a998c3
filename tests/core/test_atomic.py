"""Atomic writes (seiflow/core/atomic.py): the target is whole or untouched, the temporary is
this process's own and never left behind by a failed writer."""

import json
import os

import pytest

from seiflow.core.atomic import atomic_path, atomic_write, temporary_path, write_json


def test_write_and_replace(tmp_path):
    path = tmp_path / "sub" / "report.json"
    write_json(path, {"a": 1})
    assert json.loads(path.read_text()) == {"a": 1}
    assert path.read_text() == json.dumps({"a": 1}, indent=1)
    atomic_write(path, "é")
    assert path.read_text(encoding="utf-8") == "é"
    assert [p.name for p in path.parent.iterdir()] == ["report.json"]


def test_temporary_is_per_process(tmp_path):
    tmp = temporary_path(tmp_path / "learn-summary.yml")
    assert tmp.parent == tmp_path and tmp.name == f"learn-summary.yml.{os.getpid()}.tmp"


def test_a_failed_writer_leaves_the_old_file(tmp_path):
    path = tmp_path / "state.json"
    path.write_text("old")
    with pytest.raises(RuntimeError), atomic_path(path) as tmp:
        tmp.write_text("half")
        raise RuntimeError("killed")
    assert path.read_text() == "old" and [p.name for p in tmp_path.iterdir()] == ["state.json"]

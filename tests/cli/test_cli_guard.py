"""The boundary of every command (seiflow.cli.guard): one `error: ...` line, exit 2 for bad
input, 1 for an internal error with its traceback in the error log, 130 for Ctrl-C; `--db`
URLs kept as given. In-process through seiflow.cli.app.run (what main() runs), plus a real
process for the entry point and for SIGINT."""

import contextlib
import io
import os
import signal
import subprocess
import sys
import time
from types import SimpleNamespace

import pytest
import yaml
from pydantic import BaseModel

from seiflow.cli import guard
from seiflow.cli.app import run
from seiflow.core.errors import SeiflowError


def seiflow(*argv):
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = run([str(a) for a in argv])
    return code, out.getvalue(), err.getvalue()


def one_error_line(err: str) -> str:
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    assert "Traceback" not in err
    return lines[0]


@pytest.fixture
def logs(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("SEIFLOW_LOG_DIR", str(tmp_path / "logs"))
    return tmp_path / "logs" / "seiflow-error.log"


def test_bad_input_is_one_line_and_exit_2(logs, tmp_path):
    (tmp_path / "latin1.yaml").write_bytes("out_dir: runs/été\nphases: []\n".encode("latin-1"))
    code, _, err = seiflow("build", "latin1.yaml")
    line = one_error_line(err)
    assert code == 2 and "not UTF-8" in line and "line 1" in line
    code, _, err = seiflow("build", "missing.yaml")
    assert code == 2 and "config file not found" in one_error_line(err)
    (tmp_path / "types.yaml").write_text("out_dir: 5\nphases: {name: 3}\nformats: extxyz\n")
    code, _, err = seiflow("build", "types.yaml")
    assert code == 2 and "phases" in one_error_line(err)
    code, _, err = seiflow("train", "--level", "abc")
    assert code == 2 and "--level" in one_error_line(err) and "--help" in err
    code, _, err = seiflow("no-such-command")
    assert code == 2 and "No such command" in one_error_line(err)
    assert not logs.exists()  # nothing unexpected happened: no traceback to keep


def test_internal_error_is_one_line_exit_1_with_the_traceback_in_the_log(logs, monkeypatch):
    def broken(*args, **kwargs):
        raise ZeroDivisionError("a bug")

    monkeypatch.setattr("seiflow.cli.build.run_build", broken)
    monkeypatch.setattr("seiflow.cli.build.load_config",
                        lambda *a: SimpleNamespace(phases=[], out_dir=logs.parent / "out"))
    code, _, err = seiflow("build", "any.yaml")
    line = one_error_line(err)
    assert code == 1 and "internal error: ZeroDivisionError: a bug" in line
    assert str(logs) in line
    text = logs.read_text()
    assert "Traceback (most recent call last)" in text and "seiflow build any.yaml" in text
    assert "ZeroDivisionError: a bug" in text


def test_an_error_writing_yaml_is_internal_not_bad_input(logs, monkeypatch):
    """Reading YAML fails on the user's file (exit 2); writing it fails on seiflow's data."""
    def broken(*args, **kwargs):
        yaml.safe_dump({"x": object()})

    monkeypatch.setattr("seiflow.cli.build.run_build", broken)
    monkeypatch.setattr("seiflow.cli.build.load_config",
                        lambda *a: SimpleNamespace(phases=[], out_dir=logs.parent / "out"))
    code, _, err = seiflow("build", "any.yaml")
    assert code == 1 and "internal error: RepresenterError" in one_error_line(err)


def test_error_log_lands_in_the_working_directory_by_default(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("SEIFLOW_LOG_DIR", raising=False)
    assert guard.error_log_path() == tmp_path / "seiflow-error.log"
    monkeypatch.setattr(guard.os, "access", lambda *a: False)  # a read-only directory
    assert guard.error_log_path().parent != tmp_path


@pytest.mark.parametrize("exc, code, text", [
    (SeiflowError("a [bold]user[/bold] mistake [/]"), 2, "a [bold]user[/bold] mistake [/]"),
    (FileNotFoundError(2, "No such file or directory", "x.extxyz"), 2, "x.extxyz"),
    (UnicodeDecodeError("utf-8", b"\xff", 0, 1, "invalid start byte"), 2, "not UTF-8"),
    (PermissionError(13, "Permission denied", "/root/x"), 2, "Permission denied: /root/x"),
    (KeyError("boom"), 1, "internal error: KeyError"),
    (MemoryError(), 1, "internal error: MemoryError"),
])
def test_exception_classes(logs, monkeypatch, exc, code, text):
    def raiser():
        raise exc

    monkeypatch.setattr("seiflow.cli.phases.list_phases", raiser)
    got, _, err = seiflow("phases")
    assert got == code and text in one_error_line(err)


def test_a_validation_error_outside_config_loading_is_bad_input(logs, monkeypatch):
    class Settings(BaseModel):
        steps: int

    monkeypatch.setattr("seiflow.cli.phases.list_phases", lambda: Settings(steps="many"))
    code, _, err = seiflow("phases")
    assert code == 2 and "invalid Settings: steps:" in one_error_line(err)


def test_ctrl_c_says_whether_a_rerun_resumes(logs, monkeypatch):
    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr("seiflow.cli.phases.list_phases", interrupted)
    code, _, err = seiflow("phases")
    assert code == 130 and err.strip() == "interrupted"
    monkeypatch.setattr("seiflow.cli.data._inputs", interrupted)
    code, _, err = seiflow("data", "import", "x.extxyz", "--db", "s.db")
    assert code == 130 and err.strip() == "interrupted; rerun the same command to resume"


def test_db_urls_are_not_mangled_into_paths(logs, monkeypatch, tmp_path):
    from ase.build import bulk
    from ase.calculators.singlepoint import SinglePointCalculator

    seen = []

    class Store:
        def __init__(self, url, *args, **kwargs):
            seen.append(url)
            if "://" in url:
                raise SeiflowError("stop here")

        def frames(self, **filters):
            atoms = bulk("Cu")
            atoms.calc = SinglePointCalculator(atoms, energy=-1.0)
            return [atoms]

    url = "postgresql://user@host/db"
    monkeypatch.setattr("seiflow.cli.data.LabelStore", Store)
    monkeypatch.setattr("seiflow.cli.label.LabelStore", Store)
    (tmp_path / "labels.db").write_bytes(b"")
    (tmp_path / "cu.xyz").write_text("1\n\nCu 0 0 0\n")
    for argv in (["data", "stats", url], ["data", "split", url], ["data", "export", url, "o.xyz"],
                 ["data", "export", "labels.db", url, "--format", "db"],
                 ["label", "cu.xyz", "--labeler", "emt", "--db", url, "--no-progress"]):
        seen.clear()
        code, _, err = seiflow(*argv)
        assert code == 2 and "stop here" in one_error_line(err)
        assert seen[-1] == url, argv
    code, _, err = seiflow("data", "stats", "missing.db")
    assert code == 2 and "label store not found: missing.db" in one_error_line(err)


def test_an_unreachable_postgresql_store_is_one_line(logs):
    code, _, err = seiflow("data", "stats", "postgresql://nobody@127.0.0.1:1/none")
    line = one_error_line(err)
    assert code == 2 and "cannot connect to the PostgreSQL label store" in line


def test_the_entry_point_in_a_real_process(tmp_path):
    (tmp_path / "bad.yaml").write_bytes(b"phases:\n  - {name: li-bcc}\n\xff\xfe\n")
    env = {**os.environ, "SEIFLOW_LOG_DIR": str(tmp_path)}
    r = subprocess.run([sys.executable, "-m", "seiflow", "build", "bad.yaml"], cwd=tmp_path,
                       capture_output=True, text=True, timeout=120, env=env)
    assert r.returncode == 2 and "not UTF-8" in one_error_line(r.stderr)


def test_sigint_during_md_exits_130_with_one_line(tmp_path):
    from ase.build import bulk
    import ase.io

    ase.io.write(tmp_path / "cu.extxyz", bulk("Cu", "fcc", a=3.61, cubic=True) * (3, 3, 3))
    (tmp_path / "md.yaml").write_text(yaml.safe_dump({
        "structure": "cu.extxyz", "calculator": {"name": "emt"}, "out_dir": "run",
        "md": {"steps": 10_000_000, "traj_stride": 10, "checkpoint_every": 100}}))
    env = {**os.environ, "SEIFLOW_LOG_DIR": str(tmp_path)}
    proc = subprocess.Popen([sys.executable, "-m", "seiflow", "md", "md.yaml", "--no-progress"],
                            cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=env)
    deadline = time.time() + 120
    while not (tmp_path / "run" / "trajectory.extxyz").exists() and time.time() < deadline:
        time.sleep(0.2)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "Traceback" not in err
    assert err.strip().splitlines()[-1] == "interrupted; rerun the same command to resume"

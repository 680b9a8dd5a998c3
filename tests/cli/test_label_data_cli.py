"""`seiflow label` and `seiflow data` as a user runs them."""

import subprocess
import sys
from pathlib import Path

import ase.io
import pytest
from ase.build import molecule

MLEARN = Path(__file__).resolve().parents[3] / "shared/data/mlearn-Li/training.json"


def run(*args):
    return subprocess.run([sys.executable, "-m", "seiflow", *args], capture_output=True,
                          text=True, timeout=600)


def test_label_molecules_then_stats(tmp_path):
    path = tmp_path / "mols.extxyz"
    ase.io.write(path, [molecule(n) for n in ("H2O", "CH4", "CO2")])
    db = tmp_path / "labels.db"
    out = run("label", str(path), "--db", str(db), "--group", "mols", "--no-progress")
    assert out.returncode == 0, out.stderr
    assert "3 labelled" in out.stdout
    again = run("label", str(path), "--db", str(db), "--no-progress")
    assert "3 already" in " ".join(again.stdout.split())
    stats = run("data", "stats", str(db), "--png", str(tmp_path / "h.png"))
    assert stats.returncode == 0, stats.stderr
    assert "mols" in stats.stdout and "eV/atom" in stats.stdout and (tmp_path / "h.png").exists()
    assert (tmp_path / "labels.db-label-summary.yml").exists()


@pytest.mark.parametrize("args,needle", [
    (["--labeler", "gpw"], "did you mean 'gpaw'"),
    (["--labeler", "xtb"], "thin"),
])
def test_label_bad_input_is_one_line(tmp_path, args, needle):
    from ase.build import bulk

    path = tmp_path / "lif.extxyz"
    ase.io.write(path, bulk("LiF", "rocksalt", a=4.03))
    out = run("label", str(path), "--db", str(tmp_path / "x.db"), *args)
    assert out.returncode == 2 and needle in " ".join(out.stderr.split())
    assert "Traceback" not in out.stderr


def test_label_rejects_non_structure_and_missing_binary(tmp_path):
    junk = tmp_path / "notes.txt"
    junk.write_text("this is not a structure\n")
    out = run("label", str(junk), "--db", str(tmp_path / "x.db"))
    assert out.returncode == 2 and "notes.txt" in out.stderr and "Traceback" not in out.stderr
    settings = tmp_path / "cp2k.yaml"
    settings.write_text("command: cp2k_shell_missing\n")
    mol = tmp_path / "h2o.xyz"
    ase.io.write(mol, molecule("H2O"))
    out = run("label", str(mol), "--labeler", "cp2k", "--settings", str(settings),
              "--db", str(tmp_path / "y.db"))
    assert out.returncode == 2 and "cp2k_shell_missing" in out.stderr
    assert not (tmp_path / "y.db").exists() or "0 rows" in run("data", "stats",
                                                                str(tmp_path / "y.db")).stdout


@pytest.mark.skipif(not MLEARN.exists(), reason="shared mlearn data not present")
def test_import_mlearn_split_and_export(tmp_path):
    db = tmp_path / "li.db"
    out = run("data", "import", str(MLEARN), "--db", str(db))
    assert out.returncode == 0 and "imported 241" in out.stdout, out.stderr
    again = run("data", "import", str(MLEARN), "--db", str(db)).stdout
    assert "241 already there" in " ".join(again.split())
    out = run("data", "split", str(db), "--test-fraction", "0.1", "--seed", "1")
    assert out.returncode == 0 and "train" in out.stdout
    for fmt, target in (("cfg", "train.cfg"), ("deepmd", "deepmd"), ("extxyz", "all.extxyz")):
        extra = ["--split", "train"] if fmt == "cfg" else []
        out = run("data", "export", str(db), str(tmp_path / target), "--format", fmt, *extra)
        assert out.returncode == 0, out.stderr
        assert (tmp_path / target).exists()
    from seiflow.data.formats import read_cfg

    train = read_cfg(tmp_path / "train.cfg", ["Li"])
    assert 200 < len(train) < 241

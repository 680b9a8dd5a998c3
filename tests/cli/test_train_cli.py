"""`seiflow train`, `evaluate`, `grade` as a user runs them (real subprocesses)."""

import json
import subprocess
import sys

import ase.io
from ase.build import bulk

from seiflow.data.labels import Label
from seiflow.data.store import LabelStore, Origin
from tests.potentials.conftest import emt_frames


def _seiflow(*args, cwd):
    return subprocess.run([sys.executable, "-m", "seiflow", *args], cwd=cwd,
                          capture_output=True, text=True, timeout=600)


def test_train_evaluate_grade(tmp_path):
    store = LabelStore(tmp_path / "labels.db")
    for atoms in emt_frames(12, seed=4):
        store.add(atoms, Label.from_atoms(atoms), "emt", "h", Origin(group="rattled"))
    cfg = tmp_path / "train.yaml"
    cfg.write_text("db: labels.db\nout: model\npotential:\n  level: 6\n  max_iter: 8\n"
                   "split:\n  test_fraction: 0.25\n")
    r = _seiflow("train", str(cfg), "--no-progress", "--workers", "2", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    record = json.loads((tmp_path / "model" / "model.json").read_text())
    assert record["settings"]["workers"] == 2
    assert not (tmp_path / "model" / "fit-checkpoint.pt").exists()  # removed when complete
    errors = json.loads((tmp_path / "model" / "errors.json").read_text())
    assert errors["test"]["all"]["forces"]["n"] == 3 * 32 * 3
    assert (tmp_path / "model" / "parity-test.png").stat().st_size > 10_000
    assert "RMSE" in r.stdout

    r = _seiflow("evaluate", "model", "--db", "labels.db", "--split", "test", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert "forces" in r.stdout

    good = emt_frames(1, seed=4)[0]
    bad = good.copy()
    bad.set_cell(bad.cell * 0.8, scale_atoms=True)
    ase.io.write(tmp_path / "s.extxyz", [good, bad])
    r = _seiflow("grade", "model", "s.extxyz", "--out", "graded.extxyz", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    graded = ase.io.read(tmp_path / "graded.extxyz", index=":")
    assert graded[0].arrays["gamma"].max() < 2 < graded[1].arrays["gamma"].max()

    li = bulk("Li", "bcc", 3.44, cubic=True)
    li.info["source"] = "li.extxyz"
    ase.io.write(tmp_path / "li.extxyz", li)
    r = _seiflow("grade", "model", "li.extxyz", cwd=tmp_path)
    assert r.returncode == 2 and "li.extxyz contains Li" in r.stderr
    assert "Traceback" not in r.stderr

    r = _seiflow("train", "--db", "labels.db", "--level", "7", cwd=tmp_path)
    assert r.returncode == 2 and "even number" in r.stderr


def test_train_refuses_a_store_mixing_reference_methods(tmp_path):
    store = LabelStore(tmp_path / "mixed.db")
    frames = emt_frames(6, seed=5)
    for k, atoms in enumerate(frames):
        store.add(atoms, Label.from_atoms(atoms), "emt" if k < 3 else "other",
                  "h1" if k < 3 else "h2", Origin(group="rattled"))
    r = _seiflow("train", "--db", "mixed.db", "--level", "2", "--no-progress", cwd=tmp_path)
    assert r.returncode == 2 and "mixes labels from 2 reference settings" in r.stderr
    r = _seiflow("train", "--db", "mixed.db", "--level", "2", "--max-iter", "1",
                 "--settings-hash", "h1", "--no-progress", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    model = json.loads((tmp_path / "model" / "model.json").read_text())
    assert len(model["data"]["train_ids"]) + len(model["data"]["test_ids"]) == 3


def test_train_a_mace_committee_and_grade_with_it(tmp_path):
    store = LabelStore(tmp_path / "labels.db")
    for atoms in emt_frames(8, seed=4):
        store.add(atoms, Label.from_atoms(atoms), "emt", "h", Origin(group="rattled"))
    cfg = tmp_path / "train.yaml"
    cfg.write_text("db: labels.db\nout: model\npotential:\n  backend: mace\n"
                   "  hidden_irreps: 8x0e+8x1o\n  max_ell: 1\n  correlation: 2\n"
                   "  radial_mlp: [8]\n  mlp_irreps: 4x0e\n  batch_size: 4\n  device: cpu\n"
                   "split:\n  test_fraction: 0.25\n")
    r = _seiflow("train", str(cfg), "--epochs", "2", "--committee", "2", "--no-progress",
                 cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    meta = json.loads((tmp_path / "model" / "model.json").read_text())
    assert meta["backend"] == "committee" and meta["settings"]["member"]["epochs"] == 2
    assert json.loads((tmp_path / "model" / "member-01" / "model.json").read_text())[
        "backend"] == "mace"
    errors = json.loads((tmp_path / "model" / "errors.json").read_text())
    assert errors["test"]["all"]["forces"]["n"] == 2 * 32 * 3
    good = emt_frames(1, seed=4)[0]
    ase.io.write(tmp_path / "s.extxyz", [good])
    r = _seiflow("grade", "model", "s.extxyz", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert "max γ" in r.stdout

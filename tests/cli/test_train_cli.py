"""`seiflow train`, `evaluate`, `grade` as a user runs them (real subprocesses), and their
options in-process (CliRunner)."""

import json
import subprocess
import sys

import ase.io
import numpy as np
import yaml
from ase.build import bulk
from ase.calculators.singlepoint import SinglePointCalculator
from typer.testing import CliRunner

from seiflow.cli.app import app
from seiflow.core.errors import SeiflowError
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
    r = _seiflow("train", str(cfg), "--no-progress", "--workers", "2", "--optimizer", "varpro",
                 "--weighting", "mlip", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    record = json.loads((tmp_path / "model" / "model.json").read_text())
    assert record["settings"]["workers"] == 2
    assert (record["settings"]["optimizer"], record["settings"]["weighting"]) == \
        ("varpro", "mlip")
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
                 "--preset", "small", "--device", "cpu", "--max-time", "600",
                 "--weights", "50", "50", "0", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    meta = json.loads((tmp_path / "model" / "model.json").read_text())
    member = meta["settings"]["member"]
    assert meta["backend"] == "committee" and member["epochs"] == 2
    assert member["num_bessel"] == 6 and member["hidden_irreps"] == "8x0e+8x1o"  # preset, config
    assert member["max_time"] == 600 and member["device"] == "cpu"
    assert member["weights"]["stress"] == 0 == member["stage_two_weights"]["stress"]
    assert json.loads((tmp_path / "model" / "member-01" / "model.json").read_text())[
        "backend"] == "mace"
    errors = json.loads((tmp_path / "model" / "errors.json").read_text())
    assert errors["test"]["all"]["forces"]["n"] == 2 * 32 * 3
    good = emt_frames(1, seed=4)[0]
    ase.io.write(tmp_path / "s.extxyz", [good])
    r = _seiflow("grade", "model", "s.extxyz", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert "max γ" in r.stdout


# --- in-process (CliRunner): fit options, per-frame evaluation, refusals --------------------

def _store(path, frames, labeler="emt", settings_hash="h"):
    store = LabelStore(path)
    for atoms in frames:
        store.add(atoms, Label.from_atoms(atoms), labeler, settings_hash,
                  Origin(group="rattled"))
    return store


def _cli(*args):
    return CliRunner().invoke(app, [str(a) for a in args])


def _refused(result, text):
    assert isinstance(result.exception, SeiflowError), result.output
    assert text in str(result.exception), str(result.exception)


def _inputs(model):
    return yaml.safe_load((model / "train-summary.yml").read_text())["inputs"]["potential"]


def test_train_options_reach_the_fit_and_evaluate_writes_per_frame_errors(tmp_path):
    db, model = tmp_path / "labels.db", tmp_path / "model"
    _store(db, emt_frames(8, seed=4))
    r = _cli("train", "--db", db, "--out", model, "--preset", "small", "--level", "2",
             "--max-iter", "3", "--max-time", "60", "--weights", "1", "0.02", "0.001",
             "--device", "cpu", "--no-progress")
    assert r.exit_code == 0, r.output
    pot = _inputs(model)
    assert pot["level"] == 2 and pot["max_time"] == 60  # --level wins over the preset's 8
    assert pot["weights"] == {"energy": 1.0, "forces": 0.02, "stress": 0.001}
    record = json.loads((model / "model.json").read_text())
    assert record["reference"] == {"labeler": "emt", "settings_hash": "h"}

    r = _cli("evaluate", model, "--db", db, "--out", tmp_path / "ev", "--no-progress")
    assert r.exit_code == 0, r.output
    rows = json.loads((tmp_path / "ev" / "per-frame.json").read_text())
    assert sorted(row["id"] for row in rows) == list(range(1, 9))
    assert all(row["max_gamma"] > 0 and row["stress_rmse_GPa"] is not None for row in rows)
    assert len((tmp_path / "ev" / "per-frame.csv").read_text().splitlines()) == 9
    assert "worst frames by |ΔE|/atom" in r.output and "worst frames by max |ΔF|" in r.output
    top = max(rows, key=lambda row: row["max_force_error_eV_per_A"])
    assert f"│ {top['id']} " in r.output.split("worst frames by max |ΔF|")[1]

    (tmp_path / "engine.yaml").write_text("retries: 0\n")
    r = _cli("train", "--db", db, "--out", tmp_path / "c", "--committee", "2", "--preset",
             "small", "--level", "2", "--max-iter", "2", "--max-time", "30", "--weights", "1",
             "0.01", "0", "--engine", "inprocess", "--engine-config", tmp_path / "engine.yaml",
             "--no-progress")
    assert r.exit_code == 0, r.output
    member = _inputs(tmp_path / "c")["member"]
    assert member["level"] == 2 and member["max_time"] == 30
    assert member["weights"]["stress"] == 0
    summary = yaml.safe_load((tmp_path / "c" / "train-summary.yml").read_text())
    assert summary["inputs"]["engine"]["name"] == "inprocess"
    assert summary["inputs"]["engine"]["retries"] == 0
    assert len(json.loads((tmp_path / "c" / "model.json").read_text())["members"]) == 2
    _refused(_cli("train", "--db", db, "--out", tmp_path / "x", "--committee", "2",
                  "--engine", "slurm"), "slurm")
    _refused(_cli("train", "--db", db, "--out", tmp_path / "x", "--device", "cuda"),
             "an MTP fits on CPU")
    _refused(_cli("train", "--db", db, "--out", tmp_path / "x", "--backend", "chgnet",
                  "--preset", "small"),
             "--preset is for mtp and mace")


def test_evaluate_refuses_labels_of_another_reference(tmp_path):
    frames = emt_frames(6, seed=5)
    db, other, model = tmp_path / "labels.db", tmp_path / "other.db", tmp_path / "model"
    _store(db, frames)
    _store(other, frames, "xtb", "h2")
    r = _cli("train", "--db", db, "--out", model, "--level", "2", "--max-iter", "1",
             "--no-progress")
    assert r.exit_code == 0, r.output
    _refused(_cli("evaluate", model, "--db", other, "--no-progress"),
             "was trained on emt labels (settings h")
    r = _cli("evaluate", model, "--db", other, "--any-reference", "--no-progress")
    assert r.exit_code == 0, r.output
    record = json.loads((model / "model.json").read_text())
    del record["reference"]  # as a model from before the record was kept
    (model / "model.json").write_text(json.dumps(record))
    r = _cli("evaluate", model, "--db", other, "--no-progress")
    assert r.exit_code == 0 and "records no reference" in " ".join(r.output.split())


def test_evaluate_refusal_is_one_line_with_exit_code_2(tmp_path):
    frames = emt_frames(4, seed=6)
    _store(tmp_path / "labels.db", frames)
    _store(tmp_path / "other.db", frames, "xtb", "h2")
    r = _cli("train", "--db", tmp_path / "labels.db", "--out", tmp_path / "model", "--level",
             "2", "--max-iter", "1", "--no-progress")
    assert r.exit_code == 0, r.output
    r = _seiflow("evaluate", "model", "--db", "other.db", cwd=tmp_path)
    assert r.returncode == 2 and "--any-reference" in r.stderr
    assert "Traceback" not in r.stderr


def test_train_refuses_unusable_labels_before_fitting(tmp_path):
    frames = emt_frames(6, seed=7)
    no_stress = []
    for atoms in frames:
        res = {k: v for k, v in atoms.calc.results.items() if k != "stress"}
        copy = atoms.copy()
        copy.info.update(atoms.info)
        copy.calc = SinglePointCalculator(copy, **res)
        no_stress.append(copy)
    _store(tmp_path / "ns.db", no_stress)
    _refused(_cli("train", "--db", tmp_path / "ns.db", "--out", tmp_path / "x",
                  "--level", "2", "--no-progress"),
             "set --weights E F 0 (stress weight 0) or label stresses")
    r = _cli("train", "--db", tmp_path / "ns.db", "--out", tmp_path / "m", "--level", "2",
             "--max-iter", "1", "--weights", "1", "0.01", "0", "--no-progress")
    assert r.exit_code == 0, r.output

    forces = frames[2].calc.results["forces"].copy()
    forces[3, 1] = np.nan
    bad = frames[2].copy()
    bad.calc = SinglePointCalculator(bad, energy=frames[2].calc.results["energy"],
                                     forces=forces)
    store = _store(tmp_path / "nan.db", frames[:2])
    row = store.add(bad, Label.from_atoms(bad), "emt", "h", Origin(group="rattled"))
    _refused(_cli("train", "--db", tmp_path / "nan.db", "--out", tmp_path / "x",
                  "--level", "2", "--no-progress"),
             f"rows {row} (forces)")

    ni = frames[5].copy()
    ni.numbers[0] = 28
    ni.calc = SinglePointCalculator(ni, **frames[5].calc.results)
    store = _store(tmp_path / "ni.db", frames[:5] + [ni])
    store.set_split([1, 2, 3, 4], "train")
    store.set_split([5, 6], "test")
    _refused(_cli("train", "--db", tmp_path / "ni.db", "--out", tmp_path / "x",
                  "--level", "2", "--no-progress"),
             "contain Ni, which no training frame has (rows 6)")

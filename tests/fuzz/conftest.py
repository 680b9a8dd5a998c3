"""Fixtures of the fuzz suite: a tiny trained model (for `grade`, `validate`, `md`), a label
store that must never change, and a working directory with the probes installed."""

from __future__ import annotations

import shutil
from pathlib import Path

import ase.io
import pytest

from tests.fuzz.corpus import base_frames
from tests.fuzz.harness import install_probes

EXAMPLE_DATA = Path(__file__).resolve().parents[2] / "examples" / "data"


@pytest.fixture(scope="session")
def fuzz_assets(tmp_path_factory):
    """A store of 4 EMT-labelled Cu/Al frames, a level-2 MTP fitted on it (about 2 s), and a
    valid structure file."""
    from seiflow.data.labels import Label
    from seiflow.data.store import LabelStore, Origin
    from seiflow.workflows.train import TrainConfig, run_train

    root = tmp_path_factory.mktemp("fuzz-assets")
    store = LabelStore(root / "labels.db")
    frames = base_frames(4, seed=3)
    for atoms in frames:
        store.add(atoms, Label.from_atoms(atoms), "emt", "fuzz", Origin(group="rattled"))
    cfg = TrainConfig(db=str(root / "labels.db"), out=root / "model",
                      potential={"backend": "mtp", "level": 2, "max_iter": 1},
                      split={"test_fraction": 0.25})
    run_train(cfg, progress=False)
    ase.io.write(root / "cu.extxyz", frames[0])
    return root


@pytest.fixture
def fuzz_dir(tmp_path, monkeypatch, fuzz_assets):
    """A working directory holding labels.db (a copy), model/, cu.extxyz and the examples'
    structure files at their relative paths (examples/data/); error logs go to logs/."""
    shutil.copy(fuzz_assets / "labels.db", tmp_path / "labels.db")
    shutil.copy(fuzz_assets / "cu.extxyz", tmp_path / "cu.extxyz")
    shutil.copytree(fuzz_assets / "model", tmp_path / "model")
    shutil.copytree(EXAMPLE_DATA, tmp_path / "examples" / "data")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("SEIFLOW_LOG_DIR", str(tmp_path / "logs"))
    return tmp_path


@pytest.fixture
def probed_dir(fuzz_dir, monkeypatch):
    """fuzz_dir, with the work of every config-consuming command replaced by the probe."""
    install_probes(monkeypatch)
    return fuzz_dir

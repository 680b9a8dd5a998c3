"""Physics settings are hashed, launch settings (binary and MPI launcher, device, scratch, logs)
are not: running the same labels under `mpirun -n 16` or on a GPU never relabels a store. CP2K
and VASP keep their files in their own scratch folders and remove them."""

import os
import shutil
import tempfile
from pathlib import Path
from typing import ClassVar

import numpy as np
import pytest
from ase import Atoms
from ase.build import bulk

from seiflow.reference import (
    LABELERS,
    CalculatorLabeler,
    CP2KSettings,
    LabelerError,
    VASPSettings,
)
from seiflow.testing.labeler import check_settings_hash_ignores_launch

# a different value for every launch field any labeler has (each must leave the hash alone)
LAUNCH_VALUES = {"command": "mpirun -n 16 {old}", "device": "cuda", "allow_thin": True,
                 "scratch": "/scratch/somebody", "keep_files": True, "txt": "gpaw.log"}
# one physics change per labeler (each must change the hash)
PHYSICS = {"xtb": {"method": "GFN2-xTB"}, "gpaw": {"ecut": 600.0}, "cp2k": {"cutoff": 500.0},
           "vasp": {"encut": 600.0}, "chgnet": {"checkpoint": "r2scan"},
           "sevennet": {"model": "7net-0_22May2024"}}


def _name(cls) -> str:
    return cls.model_fields["name"].default


@pytest.mark.parametrize("cls", LABELERS, ids=_name)
def test_settings_hash_ignores_launch_options(cls):
    default = cls()
    assert set(cls.LAUNCH_FIELDS) <= set(LAUNCH_VALUES), "give the new launch field a value"
    changed = {f: LAUNCH_VALUES[f].format(old=getattr(default, f))
               if isinstance(LAUNCH_VALUES[f], str) else LAUNCH_VALUES[f]
               for f in cls.LAUNCH_FIELDS}
    launched = cls(**changed)
    assert launched.launch() != default.launch() or not changed
    check_settings_hash_ignores_launch(default, changed)
    assert launched.physics() == default.physics()


@pytest.mark.parametrize("cls", [c for c in LABELERS if _name(c) in PHYSICS], ids=_name)
def test_settings_hash_follows_physics(cls):
    assert cls(**PHYSICS[_name(cls)]).settings_hash() != cls().settings_hash()


def test_remote_binaries_are_launch_settings():
    for cls in (CP2KSettings, VASPSettings):
        assert {"command", "scratch", "keep_files"} <= cls.LAUNCH_FIELDS


def test_a_launch_field_must_be_a_field():
    with pytest.raises(TypeError, match="no field"):
        class Typo(CalculatorLabeler):
            LAUNCH_FIELDS: ClassVar[frozenset[str]] = frozenset({"comand"})
            command: str = "x"


def test_vasp_runs_in_its_own_folder_and_removes_it(tmp_path):
    vasp = VASPSettings(scratch=str(tmp_path))
    calc = vasp.calculator(bulk("LiF", "rocksalt", a=4.03))
    folder = Path(calc.directory)
    assert folder.parent == tmp_path and folder.is_dir()
    vasp.release(calc)
    assert not folder.exists()
    kept = VASPSettings(scratch=str(tmp_path), keep_files=True)
    calc = kept.calculator(bulk("LiF", "rocksalt", a=4.03))
    kept.release(calc)
    assert Path(calc.directory).is_dir()


NO_CP2K = shutil.which("cp2k_shell") is None


@pytest.fixture
def short_scratch():
    """cp2k_shell refuses long paths: a short scratch folder under /tmp."""
    folder = tempfile.mkdtemp(prefix="sf", dir="/tmp")
    yield Path(folder)
    shutil.rmtree(folder, ignore_errors=True)


@pytest.mark.skipif(NO_CP2K, reason="CP2K not installed")
def test_cp2k_calculator_folder_is_removed(tmp_path, monkeypatch, short_scratch):
    monkeypatch.chdir(tmp_path)
    cp2k = CP2KSettings(scratch=str(short_scratch))
    calc = cp2k.calculator(bulk("Li", "bcc", 3.44))  # starts the shell, computes nothing
    folder = Path(calc.label).parent
    assert folder.parent == short_scratch and folder.is_dir()
    cp2k.release(calc)
    assert not folder.exists() and calc._shell is None
    assert os.listdir(tmp_path) == []
    with pytest.raises(LabelerError, match="too long"):
        CP2KSettings(scratch=str(tmp_path / ("x" * 80))).calculator(bulk("Li", "bcc", 3.44))


@pytest.mark.slow
@pytest.mark.skipif(NO_CP2K, reason="CP2K not installed")
def test_cp2k_label_leaves_no_files_behind(tmp_path, monkeypatch, short_scratch):
    """One small CP2K label (H2): nothing in the working directory, no folder left in the
    scratch, and the same energy under another launch command (seconds idle, ~1 min loaded)."""
    monkeypatch.chdir(tmp_path)
    h2 = Atoms("H2", positions=[[2.5, 2.5, 2.5], [3.25, 2.5, 2.5]], cell=[5, 5, 5], pbc=False)
    cp2k = CP2KSettings(cutoff=120, rel_cutoff=30, scratch=str(short_scratch))
    label = cp2k.label(h2)
    assert label.ok, label.failure
    assert np.isfinite(label.energy) and label.stress is None
    assert os.listdir(tmp_path) == [], f"CP2K wrote {os.listdir(tmp_path)} into the cwd"
    assert os.listdir(short_scratch) == [], f"left: {os.listdir(short_scratch)}"
    other = CP2KSettings(cutoff=120, rel_cutoff=30, scratch=str(short_scratch),
                         command="env OMP_NUM_THREADS=1 cp2k_shell")
    assert other.settings_hash() == cp2k.settings_hash()
    assert other.label(h2).energy == pytest.approx(label.energy, abs=1e-6)

"""One fingerprint helper (seiflow/core/fingerprint.py) behind every stored key. The values
below were computed with the hashing code each module had before the helper replaced it: label
stores, MD and fit checkpoints, validation results and built structures on users' disks key on
them, so they must never change."""

from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from ase import Atoms
from ase.calculators.singlepoint import SinglePointCalculator

from seiflow.core.fingerprint import Fingerprint, canonical_json, fingerprint, json_fingerprint

XYZ = """2
Lattice="4.0 0.0 0.0 0.0 4.0 0.0 0.0 0.0 4.0" Properties=species:S:1:pos:R:3 pbc="T T T"
Li 0.0 0.0 0.0
F 2.0 2.0 2.0
"""


def _atoms(shift=0.0):
    a = Atoms("LiF", positions=[[0, 0, 0], [2.0 + shift, 0.1, 0.2]], cell=[4.0, 4.1, 4.2],
              pbc=True)
    a.calc = SinglePointCalculator(a, energy=-3.25 + shift, forces=np.zeros((2, 3)))
    return a


def _model_folder(path: Path) -> Path:
    (path / "sub").mkdir(parents=True)
    (path / "model.json").write_text('{"backend": "mtp"}')
    (path / "sub" / "weights.bin").write_bytes(bytes(range(32)))
    return path


def test_helper():
    assert fingerprint("ab", b"c") == fingerprint("abc") == Fingerprint("a").update("bc").hex()
    assert len(fingerprint("x", length=None)) == 64 and len(fingerprint("x")) == 16
    assert canonical_json({"b": 1, "a": [1.5]}) == '{"a": [1.5], "b": 1}'
    assert json_fingerprint({"b": 1, "a": 2}) == json_fingerprint({"a": 2, "b": 1})
    arr = np.arange(6.0).reshape(2, 3)
    assert fingerprint(arr.T) == fingerprint(np.ascontiguousarray(arr.T).tobytes())


def test_labeler_settings_hashes():
    from seiflow.reference.gpaw import GPAWSettings
    from seiflow.reference.sevennet import SevenNetLabeler
    from seiflow.reference.xtb import XTBSettings
    assert SevenNetLabeler().settings_hash() == "42c54688357c41d5"
    assert XTBSettings().settings_hash() == "4a10e7641dbeba79"
    assert GPAWSettings().settings_hash() == "92baa1151b4b2056"


def test_md_keys_and_validation_identities():
    from seiflow.md.runner import MDSettings
    from seiflow.workflows.properties.spec import digest, settings_identity
    assert MDSettings(steps=100).key() == "ddf1910e8b411fd2"
    assert MDSettings(steps=100, ensemble="npt", temperature_K=700, seed=3).key() == \
        "a5aae19f0658bc72"
    assert digest("a", "b c", "") == "9ffaa0f83922d4eb"
    assert settings_identity("mtp:abc", MDSettings(steps=100)) == "5db01fd92905b6a3"


def test_build_keys(tmp_path, monkeypatch):
    from seiflow.workflows.build import BuildConfig, _tasks
    monkeypatch.chdir(tmp_path)
    Path("x.extxyz").write_text(XYZ)
    cfg = BuildConfig(phases=[{"name": "lif"}, {"file": "x.extxyz", "min_width": 6.0}])
    tasks = _tasks(cfg)
    assert tasks[1].settings.endswith(
        "8d598a35892823e2381e41495e50f4b29313fce29580c2262080f6a6c9d0e721")
    assert [t.key for t in tasks] == ["f6b1ec9e904e7276", "b17cff7fdabe6a4b"]


def test_structure_hash_and_fit_keys():
    from seiflow.data.store import structure_hash
    from seiflow.potentials.mtp.fit import _fit_key
    assert structure_hash(_atoms()) == "a765864948bb96bd7a739afa"
    key = _fit_key({"level": 6, "max_iter": 3, "cutoff": 4.0},
                   SimpleNamespace(parameters=np.arange(5.0)), [_atoms(), _atoms(0.1)])
    assert key == "69ddd7b34bb5d78e"


def test_model_and_file_digests(tmp_path):
    from seiflow.cli.data import _content_hash
    from seiflow.workflows.validate import model_digest
    model = _model_folder(tmp_path / "model")
    assert model_digest(model) == "ed657545ae54d3a7"
    assert _content_hash(model) == "be4846b18259"
    assert _content_hash(model / "sub" / "weights.bin") == "630dcd2966c4"


def test_sevennet_arch_key():
    pytest.importorskip("sevenn")
    from seiflow.potentials.sevennet.model import _arch_key
    assert _arch_key({"a": 1, "shift": 2.0, "b": [1, 2], "scale": 3}) == \
        "27f8eb7572d178c9a8ef7c8de78f7ca8a164c5c93213ee235477b6872c63034f"


def test_mace_fit_key():
    pytest.importorskip("mace")
    from seiflow.potentials.mace.fit import _fit_key
    from seiflow.potentials.mace.settings import MACESettings
    configs = [SimpleNamespace(positions=np.eye(3) * (i + 1), properties={"energy": -1.5 * i},
                               weight=1.0) for i in range(2)]
    assert _fit_key(configs, MACESettings(), "scratch") == "1ba5b3fcfdd651c0"
    configs[1].weight = 2.0  # a frame weight is part of what a checkpoint must match
    assert _fit_key(configs, MACESettings(), "scratch") != "1ba5b3fcfdd651c0"

"""`seiflow md-batched`: replicas of a trained MACE in one batch, resumed by rerunning; an MTP
(its torch version, potentials/mtp/torch_model.py) runs the same way; the error for a model that
has no torch module (a committee)."""

import csv
import subprocess
import sys

import ase.io
import yaml

from seiflow.potentials.committee import CommitteeSettings
from seiflow.potentials.mace.settings import MACESettings
from seiflow.potentials.mtp.settings import MTPSettings
from tests.potentials.conftest import emt_frames


def _seiflow(*args, cwd):
    return subprocess.run([sys.executable, "-m", "seiflow", *args], cwd=cwd,
                          capture_output=True, text=True, timeout=600)


def test_md_batched_runs_and_resumes(tmp_path):
    frames = emt_frames(4, seed=3)
    MACESettings.small(device="cpu", epochs=2).fit(frames, progress=False).save(tmp_path / "m")
    ase.io.write(tmp_path / "start.extxyz", frames[:2])
    cfg = {"structures": ["start.extxyz"], "copies": 2, "potential": "m", "out_dir": "run",
           "md": {"ensemble": "nvt", "temperature_K": 300, "steps": 10, "traj_stride": 5,
                  "checkpoint_every": 5, "device": "auto"}}
    (tmp_path / "md.yaml").write_text(yaml.safe_dump(cfg))
    r = _seiflow("md-batched", "md.yaml", "--no-progress", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert "4 replicas (128 atoms) on cpu" in " ".join(r.stdout.split())
    rows = list(csv.DictReader(open(tmp_path / "run" / "thermo.csv")))
    assert {row["replica"] for row in rows} == {"0", "1", "2", "3"}
    assert max(int(row["step"]) for row in rows) == 10
    cfg["md"]["steps"] = 20
    (tmp_path / "md.yaml").write_text(yaml.safe_dump(cfg))
    r = _seiflow("md-batched", "md.yaml", "--no-progress", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert "resumed from step 10" in " ".join(r.stdout.split())
    assert (tmp_path / "run" / "md-batched-summary.yml").exists()

    MTPSettings(level=4, max_iter=3).fit(frames, progress=False).save(tmp_path / "mtp")
    cfg.update(potential="mtp", out_dir="run-mtp")
    (tmp_path / "md.yaml").write_text(yaml.safe_dump(cfg))
    r = _seiflow("md-batched", "md.yaml", "--no-progress", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    rows = list(csv.DictReader(open(tmp_path / "run-mtp" / "thermo.csv")))
    assert max(int(row["step"]) for row in rows) == 20

    CommitteeSettings(member=MTPSettings(level=2, max_iter=2), size=2).fit(
        frames, progress=False).save(tmp_path / "committee")
    cfg.update(potential="committee", out_dir="run-committee")
    (tmp_path / "md.yaml").write_text(yaml.safe_dump(cfg))
    r = _seiflow("md-batched", "md.yaml", cwd=tmp_path)
    assert r.returncode == 2 and "needs a torch model" in r.stderr
    assert "Traceback" not in r.stderr

"""The active-learning loop driven by a committee's force disagreement instead of the MaxVol
grade (EMT labels on a Cu/Al cell, two MTP members: fast), selection by the first member's
MaxVol rows."""

import json

import ase.io
import numpy as np
import pytest
from ase.build import bulk

from seiflow.core.config import parse_config
from seiflow.potentials.registry import load_potential
from seiflow.core.errors import SeiflowError
from seiflow.workflows.learn import LearnConfig, resume, run_learn


def test_committee_drives_the_loop(tmp_path):
    cell = bulk("Cu", "fcc", 3.61, cubic=True).repeat(2)
    cell.numbers[np.arange(0, 32, 4)] = 13
    ase.io.write(tmp_path / "cual.extxyz", cell)
    cfg = {
        "run_dir": str(tmp_path / "run"),
        "structures": {"formats": ["extxyz"], "snapshots": False,
                       "phases": [{"file": str(tmp_path / "cual.extxyz")}]},
        "labeler": {"name": "emt"},
        "potential": {"backend": "committee", "size": 2, "subsample": 0.8,
                      "force_scale_eV_per_A": 0.02,
                      "member": {"backend": "mtp", "level": 4, "max_iter": 10}},
        "initial": {"per_structure": 6, "rattle_A": [0.02, 0.06], "seed": 0},
        "test_set": {"per_structure": 2, "seed": 5},
        "explore": {"temperatures_K": [300, 900], "steps": 150, "traj_stride": 10},
        "test_md": 0, "max_select_per_iteration": 4, "max_iterations": 2,
        "label_budget": 40,
    }
    report = run_learn(parse_config(cfg, LearnConfig), progress=False)
    its = report.iterations
    assert its[0].candidates > 0 and its[0].labels_added > 0  # the committee disagreed
    model = load_potential(tmp_path / "run" / "iter-00" / "model")
    assert model.backend == "committee" and len(model.members) == 2
    # the recorded grades are the committee's: force spread / 0.02 eV/Å
    traj = next(t for t in its[0].trajectories if t["candidates"])
    frames = ase.io.read(tmp_path / "run" / "iter-00" / "explore" / traj["name"] /
                         "candidates.extxyz", index=":")
    for frame in frames[:3]:
        assert frame.info["gamma"] > 2
        assert model.grade(frame).max() == pytest.approx(frame.info["gamma"], rel=1e-6)
    selected = ase.io.read(tmp_path / "run" / "iter-00" / "selected.extxyz", index=":")
    assert 0 < len(selected) <= 4
    summary = json.loads((tmp_path / "run" / "iter-00" / "report.json").read_text())
    assert summary["selected"] == len(selected)
    assert "committee of 2" in (tmp_path / "run" / "report.md").read_text()

    # a run that stopped at its limit continues when the limit is raised, nothing else may change
    more = resume(tmp_path / "run", progress=False, max_iterations=3)
    assert len(more.iterations) == (len(its) if report.converged else 3)
    assert more.iterations[:len(its)] == its
    with pytest.raises(SeiflowError, match="another config"):
        run_learn(parse_config({**cfg, "seed": 1}, LearnConfig), progress=False)

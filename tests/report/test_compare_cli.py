"""`seiflow analyze msd|rdf|arrhenius --compare`: several runs overlaid in one figure, named
after their folders or --labels; bad input is one line and exit 2."""

import json
import subprocess
import sys

import ase.io
import numpy as np
import pytest
from ase import Atoms
from ase.build import bulk
from ase.units import kB

from seiflow.core.errors import SeiflowError
from seiflow.workflows.compare import compare_arrhenius, compare_rdf, run_labels
from tests.walkers import li_walkers

BOX, DT = 12.0, 10.0  # Å, fs between frames


def _walk(step: float, seed: int, n_li=40, n_f=10, n_frames=200) -> list[Atoms]:
    return li_walkers(step, n_li, n_f, n_frames, BOX, DT, seed)


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("compare")
    for k, (name, step) in enumerate((("run-300K", 0.03), ("run-600K", 0.06),
                                      ("run-900K", 0.1))):
        (root / name).mkdir()
        ase.io.write(root / name / "trajectory.extxyz", _walk(step, k))
    salt = bulk("NaCl", "rocksalt", a=5.64, cubic=True) * (3, 3, 3)
    for name, rattle in (("cold", 0.02), ("hot", 0.15)):
        frames = [salt.copy() for _ in range(2)]
        for j, a in enumerate(frames):
            a.rattle(rattle, seed=j)
        ase.io.write(root / f"{name}.extxyz", frames)
    return root


def _seiflow_many(commands, cwd):
    procs = [subprocess.Popen([sys.executable, "-m", "seiflow", "analyze", *args], cwd=cwd,
                              text=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
             for args in commands]
    out = []
    for p, args in zip(procs, commands):
        stdout, stderr = p.communicate(timeout=300)
        out.append(subprocess.CompletedProcess(args, p.returncode, stdout, stderr))
    return out


def test_msd_compare_cli_writes_one_figure_of_all_runs(runs):
    trajs = [f"run-{T}K/trajectory.extxyz" for T in (300, 600, 900)]
    ok, bad_labels, one = _seiflow_many([
        ["msd", "--compare", *trajs, "--species", "Li", "--out", "m"],
        ["msd", "--compare", *trajs, "--species", "Li", "--labels", "a,b", "--out", "x"],
        ["msd", "--compare", trajs[0], "--species", "Li", "--out", "y"],
    ], cwd=runs)
    assert ok.returncode == 0, ok.stderr
    assert sorted(p.name for p in (runs / "m").glob("*.png")) == ["msd-compare.png"]
    assert (runs / "m" / "msd-compare.png").stat().st_size > 20_000
    data = json.loads((runs / "m" / "msd-compare.json").read_text())
    assert data["runs"] == ["run-300K", "run-600K", "run-900K"]
    D = [r["D_cm2_s"] for r in data["results"]]
    assert D[0] < D[1] < D[2]
    assert "run-600K" in ok.stdout and "Å²/ps" in ok.stdout
    for r, message in ((bad_labels, "--labels gives 2 name(s) for 3 inputs"),
                       (one, "--compare needs at least 2 inputs")):
        assert r.returncode == 2, r.stdout + r.stderr
        assert message in r.stderr and "Traceback" not in r.stderr
        assert len(r.stderr.strip().splitlines()) == 1, r.stderr


def test_arrhenius_and_rdf_compare_cli(runs):
    law = {name: (ea, 1e-3) for name, ea in (("MTP", 0.30), ("MACE", 0.40))}
    series = [",".join(f"{T}:{d0 * np.exp(-ea / (kB * T)):.6e}" for T in (500, 700, 900))
              for ea, d0 in law.values()]
    arr, rdf_run = _seiflow_many([
        ["arrhenius", "--compare", *series, "--labels", "MTP,MACE", "--out", "a"],
        ["rdf", "--compare", "cold.extxyz", "hot.extxyz", "--pair", "Na-Cl", "--pair",
         "Cl-Cl", "--r-max", "7.5", "--out", "r"],
    ], cwd=runs)
    assert arr.returncode == 0, arr.stderr
    a = json.loads((runs / "a" / "arrhenius-compare.json").read_text())
    assert a["series"] == ["MTP", "MACE"]
    for r, (ea, _) in zip(a["results"], law.values()):
        assert r["Ea_eV"] == pytest.approx(ea, abs=1e-4)
    assert (runs / "a" / "arrhenius-compare.png").stat().st_size > 20_000
    assert rdf_run.returncode == 0, rdf_run.stderr
    r = json.loads((runs / "r" / "rdf-compare.json").read_text())
    assert r["runs"] == ["cold", "hot"] and len(r["results"]) == 4
    na_cl = [x for x in r["results"] if x["pair"] == "Na-Cl"]
    assert [x["cn_first_shell"] for x in na_cl] == pytest.approx([6.0, 6.0], abs=0.1)
    assert sorted(p.name for p in (runs / "r").glob("*.png")) == ["rdf-compare.png"]


def test_compare_bad_inputs_in_process(runs, tmp_path):
    assert run_labels(["a/x.extxyz", "b/y.extxyz"]) == ["x", "y"]
    assert run_labels(["a/t.extxyz", "b/t.extxyz"]) == ["a", "b"]
    assert run_labels(["a/t.extxyz", "a/t.extxyz"], "one, two") == ["one", "two"]
    with pytest.raises(SeiflowError, match="repeats a name"):
        run_labels(["a", "b"], "x,x")
    with pytest.raises(SeiflowError, match="series 'b'.*at least 2"):
        compare_arrhenius(["500:1e-5,600:2e-5", "500:1e-5"], tmp_path, "a,b")
    with pytest.raises(SeiflowError, match="no 'Li' atoms"):
        compare_rdf([runs / "cold.extxyz", runs / "hot.extxyz"], ["Li-Cl"], 7.5, 100, tmp_path)

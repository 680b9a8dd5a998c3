"""`seiflow md` and `seiflow analyze` as a user runs them (real subprocesses): EMT Cu MD -> g(r)
with CN 12, a synthetic random walk with a known D -> MSD, D, conductivity, synthetic Arrhenius
points with a known Ea, and one-line errors for bad inputs."""

import json
import subprocess
import sys

import ase.io
import numpy as np
import pytest
import yaml
from ase import Atoms
from ase.build import bulk
from ase.units import kB
from scipy.constants import elementary_charge, k as boltzmann

from seiflow.core.errors import SeiflowError
from seiflow.workflows.transport import (
    analyze_diffusion, analyze_msd, analyze_rdf, trajectory_temperature,
)
from tests.walkers import li_walkers

N_LI, N_F, N_FRAMES = 100, 20, 600
STEP, DT, BOX = 0.1, 10.0, 15.0  # Gaussian step per axis (Å), time per frame (fs), box (Å)
D_TRUE = STEP**2 / (2 * DT) * 1000.0  # Å²/ps (0.5 Å²/ps = 5e-5 cm²/s)
EA_TRUE = 0.35  # eV


def _seiflow(*args, cwd):
    return subprocess.run([sys.executable, "-m", "seiflow", *args], cwd=cwd,
                          capture_output=True, text=True, timeout=300)


def _seiflow_many(commands, cwd):
    """Run independent commands concurrently (interpreter start-up dominates their time)."""
    procs = [subprocess.Popen([sys.executable, "-m", "seiflow", *args], cwd=cwd, text=True,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE)
             for args in commands]
    out = []
    for p, args in zip(procs, commands):
        stdout, stderr = p.communicate(timeout=300)
        out.append(subprocess.CompletedProcess(args, p.returncode, stdout, stderr))
    return out


def _fails(r, message):
    assert r.returncode == 2, r.stdout + r.stderr
    assert message in r.stderr, r.stderr
    assert "Traceback" not in r.stderr


def _walk_frames(n_frames=N_FRAMES, seed=7) -> list[Atoms]:
    """Li random walkers (known D) among fixed F atoms, wrapped into a cubic box."""
    return li_walkers(STEP, N_LI, N_F, n_frames, BOX, DT, seed)


@pytest.fixture(scope="module")
def walk(tmp_path_factory):
    folder = tmp_path_factory.mktemp("walk")
    frames = _walk_frames()
    ase.io.write(folder / "walk.extxyz", frames)
    ase.io.write(folder / "short.extxyz", frames[:60])
    broken = frames[:20]
    broken[10] = broken[10][:-1]  # one atom fewer: cannot be unwrapped
    ase.io.write(folder / "broken.extxyz", broken)
    return folder


def test_md_heating_ramp_and_its_refusal_for_nve(tmp_path):
    ase.io.write(tmp_path / "cu.extxyz", bulk("Cu", "fcc", a=3.61, cubic=True) * (2, 2, 2))
    md = ("structure: cu.extxyz\ncalculator: {{name: emt}}\nout_dir: {out}\n"
          "md: {{ensemble: {ens}, temperature_K: 100, temperature_end_K: 400, timestep_fs: 2.0, "
          "steps: 40, traj_stride: 10, checkpoint_every: 20}}\n")
    (tmp_path / "ramp.yaml").write_text(md.format(out="run", ens="nvt"))
    r = _seiflow("md", "ramp.yaml", "--no-progress", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert "T = 100 → 400 K (ramp)" in r.stdout
    summary = yaml.safe_load((tmp_path / "run" / "md-summary.yml").read_text())
    assert summary["temperature_ramp_K"] == [100.0, 400.0] and summary["temperature_K"] is None
    frames = ase.io.read(tmp_path / "run" / "trajectory.extxyz", index=":")
    assert [f.info["target_K"] for f in frames] == [100.0, 175.0, 250.0, 325.0, 400.0]
    (tmp_path / "nve.yaml").write_text(md.format(out="nve", ens="nve"))
    r = _seiflow("md", "nve.yaml", "--no-progress", cwd=tmp_path)
    assert r.returncode != 0 and "needs a thermostat" in r.stderr
    assert "Traceback" not in r.stderr


def test_md_then_rdf_of_cold_fcc_copper(tmp_path):
    ase.io.write(tmp_path / "cu.extxyz", bulk("Cu", "fcc", a=3.61, cubic=True) * (3, 3, 3))
    (tmp_path / "md.yaml").write_text(
        "structure: cu.extxyz\ncalculator: {name: emt}\nout_dir: run\n"
        "md: {ensemble: langevin, temperature_K: 50, timestep_fs: 2.0, steps: 200, "
        "traj_stride: 10, checkpoint_every: 100, friction_per_fs: 0.02}\n")
    r = _seiflow("md", "md.yaml", "--no-progress", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert "200 steps" in r.stdout
    summary = yaml.safe_load((tmp_path / "run" / "md-summary.yml").read_text())
    assert summary["status"] == "ok" and summary["temperature_K"] == 50.0
    assert 20 < summary["mean_kinetic_temperature_K"] < 80
    frames = ase.io.read(tmp_path / "run" / "trajectory.extxyz", index=":")
    assert len(frames) == 21 and frames[-1].info["step"] == 200
    assert (tmp_path / "run" / "thermo.png").stat().st_size > 10_000  # the thermo log, drawn
    assert not (tmp_path / "run" / "gamma.png").exists()  # EMT grades nothing
    assert len((tmp_path / "run" / "thermo.csv").read_text().splitlines()) == 22

    r = _seiflow("analyze", "rdf", "run/trajectory.extxyz", "--pair", "Cu-Cu", "--r-max", "5",
                 "--nbins", "250", "--out", "rdf", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    res = json.loads((tmp_path / "rdf" / "rdf.json").read_text())["results"][0]
    assert res["pair"] == "Cu-Cu" and res["n_frames"] == 21
    assert res["cn_first_shell"] == pytest.approx(12.0, abs=0.3)
    assert 2.6 < res["first_minimum_A"] < 3.5
    assert res["peaks_A"][0] == pytest.approx(3.61 / np.sqrt(2), abs=0.1)
    assert (tmp_path / "rdf" / res["plot"]).stat().st_size > 20_000
    assert "Cu-Cu" in r.stdout and "12.0" in r.stdout

    # in-process (no interpreter start-up): a species the trajectory lacks, the temperature
    # that `seiflow md` recorded, a non-positive --temperature
    traj = tmp_path / "run" / "trajectory.extxyz"
    with pytest.raises(SeiflowError, match="no 'Li' atoms"):
        analyze_rdf([traj], ["Cu-Li"], 5.0, 100, tmp_path / "rdf2")
    assert trajectory_temperature(traj, frames) == (50.0, str(tmp_path / "run" / "md-summary.yml"))
    with pytest.raises(SeiflowError, match="temperature must be a positive"):
        trajectory_temperature(traj, frames, 0.0)


def test_msd_diffusion_conductivity_arrhenius_of_random_walk(walk):
    r, rd, rc = _seiflow_many([
        ["analyze", "msd", "walk.extxyz", "--species", "Li", "--out", "m"],
        ["analyze", "diffusion", "walk.extxyz", "--species", "Li", "--temperature", "500",
         "--out", "d"],
        ["analyze", "conductivity", "walk.extxyz", "--species", "Li", "--z", "1",
         "--temperature", "500", "--out", "c"],
    ], cwd=walk)
    assert r.returncode == 0, r.stderr
    m = json.loads((walk / "m" / "msd.json").read_text())["results"][0]
    assert m["D_A2_ps"] == pytest.approx(D_TRUE, rel=0.10)
    assert m["D_cm2_s"] == pytest.approx(m["D_A2_ps"] * 1e-4)
    assert 0 < m["D_sigma_A2_ps"] < 0.1 * D_TRUE and m["n_points"] >= 10
    assert m["window_fs"][0] < m["window_fs"][1] and len(m["t_ps"]) == len(m["msd_A2"])
    assert (walk / "m" / m["plot"]).stat().st_size > 20_000
    assert "Å²/ps" in r.stdout

    assert rd.returncode == 0, rd.stderr
    d = json.loads((walk / "d" / "diffusion.json").read_text())["results"][0]
    assert d["T_K"] == 500 and d["D_cm2_s"] == pytest.approx(m["D_cm2_s"])

    assert rc.returncode == 0, rc.stderr
    c = json.loads((walk / "c" / "conductivity.json").read_text())
    assert c["n_carriers"] == N_LI and c["volume_A3"] == pytest.approx(BOX**3)
    hand = (N_LI / (BOX**3 * 1e-30) * elementary_charge**2 * c["D_cm2_s"] * 1e-4
            / (boltzmann * 500.0))  # S/m
    assert c["sigma_S_m"] == pytest.approx(hand, rel=1e-9)
    assert c["sigma_mS_cm"] == pytest.approx(10 * hand, rel=1e-9)
    assert "Haven" in c["caveat"] and "Haven" in rc.stdout

    # Arrhenius: the measured point at 500 K plus synthetic T:D:sigma points of the same law
    d0 = D_TRUE * 1e-4 * np.exp(EA_TRUE / (kB * 500.0))  # cm²/s
    rng = np.random.default_rng(3)
    points = []
    for T in (400.0, 600.0, 700.0, 800.0, 900.0):
        D = d0 * np.exp(-EA_TRUE / (kB * T)) * (1 + 0.03 * rng.standard_normal())
        points.append(f"{T}:{D:.6e}:{0.03 * D:.3e}")
    r = _seiflow("analyze", "arrhenius", "d/diffusion.json", *points, "--out", "a", cwd=walk)
    assert r.returncode == 0, r.stderr
    a = json.loads((walk / "a" / "arrhenius.json").read_text())
    assert a["n_points"] == 6 and a["weighted"]
    assert abs(a["Ea_eV"] - EA_TRUE) < max(3 * a["Ea_sigma_eV"], 0.05 * EA_TRUE)
    x = a["extrapolation"]
    assert x["T_K"] == 300 and x["ci_low_cm2_s"] < x["D_cm2_s"] < x["ci_high_cm2_s"]
    assert x["ci_low_cm2_s"] < d0 * np.exp(-EA_TRUE / (kB * 300.0)) < x["ci_high_cm2_s"]
    assert (walk / "a" / "arrhenius.png").stat().st_size > 20_000
    assert "Ea =" in r.stdout and "eV" in r.stdout


BAD_INPUTS = [
    (["msd", "broken.extxyz", "--species", "Li"], "cannot unwrap"),
    (["arrhenius", "500:1e-5", "0:1e-6"], "temperature must be a positive"),
    (["conductivity", "missing.extxyz", "--species", "Li"], "trajectory file not found"),
]


def test_bad_inputs_are_one_line_errors(walk):
    results = _seiflow_many([["analyze", *args] for args, _ in BAD_INPUTS], cwd=walk)
    for r, (_, message) in zip(results, BAD_INPUTS):
        _fails(r, message)
    # the same path (SeiflowError -> one line, exit 2) in-process, sparing interpreter starts
    with pytest.raises(SeiflowError, match="fewer than 10"):
        analyze_diffusion([walk / "short.extxyz"], "Li", walk / "e", temperature_K=300.0)
    with pytest.raises(SeiflowError, match="unknown element 'Lj'"):
        analyze_msd([walk / "walk.extxyz"], "Lj", walk / "e")

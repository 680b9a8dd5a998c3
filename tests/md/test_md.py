"""MD physics: NVE energy conservation, canonical NVT temperature statistics, drift under an
applied field with Langevin friction (mobility qE/(mγ)), and kill/restart."""

import os
import signal
import subprocess
import sys
import textwrap
import time

import ase.io
import numpy as np
import pytest
from ase import Atoms, units
from ase.build import bulk
from ase.calculators.calculator import Calculator, all_changes
from ase.calculators.emt import EMT
from ase.calculators.lj import LennardJones

from seiflow.core.errors import SeiflowError
from seiflow.md import FieldCalculator, MDSettings, run_md
from seiflow.md.thermo import read_thermo


def test_nve_conserves_energy_emt(tmp_path):
    atoms = bulk("Cu", "fcc", a=3.61, cubic=True) * (3, 3, 3)
    s = MDSettings(ensemble="nve", temperature_K=600, timestep_fs=2.0, steps=1000,
                   traj_stride=10, checkpoint_every=500, seed=1)
    res = run_md(atoms, EMT(), s, tmp_path, progress=False)
    frames = ase.io.read(res.trajectory, index=":")
    etot = np.array([f.info["epot_eV"] + f.get_kinetic_energy() for f in frames])
    drift = abs(np.polyfit([f.info["time_fs"] for f in frames], etot, 1)[0]) * 1000  # eV/ps
    assert len(frames) == 101 and res.steps_done == 1000
    assert np.ptp(etot) / len(atoms) < 2e-4  # eV/atom
    assert drift / len(atoms) < 1e-5  # eV/atom/ps
    # and the atoms really moved: a test that can fail
    assert np.ptp([f.get_kinetic_energy() for f in frames]) > 0.1


@pytest.mark.slow
def test_nvt_nose_hoover_temperature_is_canonical(tmp_path):
    atoms = bulk("Cu", "fcc", a=3.61, cubic=True) * (3, 3, 3)  # 108 atoms
    T0 = 300.0
    # 12.5 ps; the first 5 ps are equilibration (seeds 3-5: mean within 1 %, spread within 6 %)
    s = MDSettings(ensemble="nvt", temperature_K=T0, timestep_fs=5.0, steps=2500,
                   tdamp_fs=50, traj_stride=10, checkpoint_every=2500, seed=3)
    res = run_md(atoms, EMT(), s, tmp_path, progress=False)
    temps = np.array([f.get_temperature() for f in ase.io.read(res.trajectory, index="100:")])
    n = len(atoms)
    expected_sd = T0 * np.sqrt(2.0 / (3 * n))  # canonical kinetic-temperature fluctuation
    assert temps.mean() == pytest.approx(T0, rel=0.03)
    assert temps.std() == pytest.approx(expected_sd, rel=0.25)


class _Free(Calculator):
    """Non-interacting particles: zero energy, forces and stress (no neighbour search)."""

    implemented_properties = ["energy", "free_energy", "forces", "stress"]

    def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes):
        super().calculate(atoms, properties, system_changes)
        self.results = {"energy": 0.0, "free_energy": 0.0,
                        "forces": np.zeros((len(self.atoms), 3)), "stress": np.zeros(6)}


def test_thermo_pressure_of_an_ideal_gas(tmp_path):
    """Free particles: the logged pressure is the kinetic part alone, N k T / V."""
    rng = np.random.default_rng(1)
    atoms = Atoms("Ar200", positions=rng.random((200, 3)) * 30, cell=[30, 30, 30], pbc=True)
    run_md(atoms, _Free(), MDSettings(ensemble="nve", temperature_K=500, timestep_fs=1.0,
                                      steps=20, traj_stride=10, checkpoint_every=20),
           tmp_path, progress=False)
    t = read_thermo(tmp_path / "thermo.csv")
    expected = 200 * units.kB * t["T_K"] / 27000.0 / units.GPa
    assert np.allclose(t["pressure_GPa"], expected, rtol=1e-6) and expected.min() > 0


def test_field_drift_matches_mobility(tmp_path):
    """N free Li+ ions (no interactions) under E and Langevin friction γ drift at qE/(mγ)."""
    n = 400
    rng = np.random.default_rng(0)
    atoms = Atoms(f"Li{n}", positions=rng.random((n, 3)) * 50, cell=[50, 50, 50], pbc=True)
    E = np.array([0.0, 0.0, 0.05])  # V/Å
    calc = FieldCalculator(_Free(), E, {"Li": 1.0})
    gamma = 0.02  # 1/fs
    s = MDSettings(ensemble="langevin", temperature_K=300, friction_per_fs=gamma,
                   timestep_fs=1.0, steps=4000, traj_stride=50, checkpoint_every=4000, seed=5)
    res = run_md(atoms, calc, s, tmp_path, progress=False)
    frames = ase.io.read(res.trajectory, index=":")
    frac = np.array([f.get_scaled_positions() for f in frames])
    step = np.diff(frac, axis=0)
    step -= np.round(step)  # frames are 50 fs apart: moves are far below half the box
    disp = np.concatenate([np.zeros((1, n, 3)), np.cumsum(step, axis=0)]) * 50.0
    t = np.array([f.info["time_fs"] for f in frames])
    late = t > 1000  # after the 1/γ = 50 fs transient
    vz = np.polyfit(t[late], disp[late, :, 2].mean(axis=1), 1)[0]  # Å/fs
    mass = atoms.get_masses()[0] * units._amu
    v_expected = 1.0 * units._e * 0.05e10 / (mass * gamma * 1e15) * 1e10 / 1e15  # Å/fs
    assert vz == pytest.approx(v_expected, rel=0.05)
    vx = np.polyfit(t[late], disp[late, :, 0].mean(axis=1), 1)[0]
    assert abs(vx) < 0.1 * v_expected  # no drift across the field


def test_kill_and_restart_continues_to_the_end(tmp_path):
    out = tmp_path / "md"
    script = textwrap.dedent(f"""
        from ase.build import bulk
        from ase.calculators.emt import EMT
        from seiflow.md import MDSettings, run_md
        atoms = bulk("Cu", "fcc", a=3.61, cubic=True) * (2, 2, 2)
        s = MDSettings(ensemble="nve", temperature_K=300, timestep_fs=2.0, steps=1500,
                       traj_stride=20, checkpoint_every=100, seed=2)
        run_md(atoms, EMT(), s, {str(out)!r}, progress=False)
    """)
    proc = subprocess.Popen([sys.executable, "-c", script])
    ckpt = out / "checkpoint.extxyz"
    deadline = time.time() + 120
    while time.time() < deadline and proc.poll() is None:
        if ckpt.exists() and ase.io.read(ckpt).info["step"] >= 500:
            break
        time.sleep(0.1)
    assert proc.poll() is None, "finished before the kill"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    killed_at = ase.io.read(ckpt).info["step"]
    assert 500 <= killed_at < 1500
    s = MDSettings(ensemble="nve", temperature_K=300, timestep_fs=2.0, steps=1500,
                   traj_stride=20, checkpoint_every=100, seed=2)
    res = run_md(bulk("Cu", "fcc", a=3.61, cubic=True) * (2, 2, 2), EMT(), s, out,
                 progress=False)
    assert res.restarted_from == killed_at and res.steps_done == 1500
    steps = [f.info["step"] for f in ase.io.read(res.trajectory, index=":")]
    assert steps == list(range(0, 1501, 20))  # every frame exactly once
    with pytest.raises(SeiflowError, match="other settings"):
        run_md(bulk("Cu", "fcc", a=3.61, cubic=True), EMT(),
               s.model_copy(update={"timestep_fs": 1.0}), out, progress=False)


@pytest.mark.parametrize("ensemble", ["nve", "nvt", "npt", "langevin"])
def test_restart_from_a_checkpoint_is_bit_identical(tmp_path, ensemble):
    """Stopping at a checkpoint and continuing gives the uninterrupted run's trajectory: the
    thermostat, barostat and noise generator are checkpointed with full-precision atoms."""
    atoms = bulk("Cu", "fcc", a=3.61, cubic=True) * (2, 2, 2)
    atoms.rattle(0.05, seed=1)
    kw = dict(ensemble=ensemble, temperature_K=600, pressure_bar=1e4, timestep_fs=2.0,
              tdamp_fs=40, pdamp_fs=200, friction_per_fs=0.02, traj_stride=10,
              checkpoint_every=40, seed=4)
    whole = run_md(atoms, EMT(), MDSettings(steps=120, **kw), tmp_path / "a", progress=False)
    run_md(atoms, EMT(), MDSettings(steps=40, **kw), tmp_path / "b", progress=False)
    split = run_md(atoms, EMT(), MDSettings(steps=120, **kw), tmp_path / "b", progress=False)
    assert split.restarted_from == 40
    assert np.abs(split.atoms.positions - whole.atoms.positions).max() < 1e-10
    assert np.abs(split.atoms.get_momenta() - whole.atoms.get_momenta()).max() < 1e-10
    assert np.abs(split.atoms.cell.array - whole.atoms.cell.array).max() < 1e-10
    a, b = (ase.io.read(r.trajectory, index=":") for r in (whole, split))
    assert [f.info["step"] for f in b] == [f.info["step"] for f in a]
    # and the run really moved away from its start (a test that can fail)
    assert np.abs(whole.atoms.positions - atoms.positions).max() > 0.05


def test_bad_settings():
    with pytest.raises(ValueError):
        MDSettings(steps=10, temperature_K=0)
    with pytest.raises(ValueError, match="multiple"):
        MDSettings(steps=10, traj_stride=7, checkpoint_every=10)


def test_exploding_md_stops_with_a_clear_error(tmp_path):
    """A repulsive wall hit with a huge time step blows up: one line, checkpoint kept finite."""
    atoms = bulk("Cu", "fcc", a=2.0, cubic=True) * (2, 2, 2)  # far too compressed for LJ
    atoms.rattle(0.2, seed=1)
    s = MDSettings(ensemble="nve", temperature_K=3000, timestep_fs=20.0, steps=400,
                   traj_stride=10, checkpoint_every=10, seed=1)
    with np.errstate(all="ignore"), pytest.raises(SeiflowError, match="MD became unstable"):
        run_md(atoms, LennardJones(sigma=2.3, epsilon=1.0, rc=4.0), s, tmp_path,
               progress=False)
    ckpt = tmp_path / "checkpoint.extxyz"
    assert not ckpt.exists() or np.isfinite(ase.io.read(ckpt).positions).all()


class _StrictLJ(LennardJones):
    """LJ that refuses non-finite positions, as a neighbour-list library does (vesin);
    ``fail_after``: calls after which it fails on any state (a bug)."""

    calls, fail_after = 0, None

    def calculate(self, atoms=None, properties=("energy",), system_changes=()):
        if not np.isfinite(atoms.positions).all():
            raise RuntimeError("point 0 has non-finite coordinate along axis 0: -nan")
        self.calls += 1
        if self.fail_after is not None and self.calls > self.fail_after:
            raise RuntimeError("a calculator bug")
        super().calculate(atoms, properties, system_changes)


def test_a_calculator_failing_on_a_blown_up_state_is_the_md_instability(tmp_path):
    """Between two frames the state goes non-finite and the calculator raises on it: the run
    ends with the instability's line, not the calculator's; a calculator that fails on a
    finite state keeps its own error."""
    atoms = bulk("Cu", "fcc", a=2.0, cubic=True) * (2, 2, 2)
    atoms.rattle(0.2, seed=1)
    s = MDSettings(ensemble="nve", temperature_K=3000, timestep_fs=20.0, steps=400,
                   traj_stride=200, checkpoint_every=200, seed=1)
    with np.errstate(all="ignore"), pytest.raises(SeiflowError, match="MD became unstable"):
        run_md(atoms, _StrictLJ(sigma=2.3, epsilon=1.0, rc=4.0), s, tmp_path / "a",
               progress=False)
    broken = _StrictLJ(sigma=2.3, epsilon=1.0, rc=4.0)
    calm = bulk("Cu", "fcc", a=3.61, cubic=True)
    broken.fail_after = 5  # mid-run, on a finite state
    with pytest.raises(RuntimeError, match="a calculator bug"):
        run_md(calm, broken, MDSettings(steps=10, traj_stride=10, checkpoint_every=10),
               tmp_path / "b", progress=False)


def test_thermo_log_follows_the_trajectory_and_a_restart(tmp_path):
    """thermo.csv: one row per frame, temperatures and energies those of the frames, the
    conserved quantity of NVT flat, the pressure that of the stress; a restart drops the rows
    after its checkpoint, as it drops the frames."""
    atoms = bulk("Cu", "fcc", a=3.61, cubic=True) * (2, 2, 2)
    kw = dict(ensemble="nvt", temperature_K=500, timestep_fs=2.0, tdamp_fs=50, traj_stride=10,
              checkpoint_every=40, seed=2)
    res = run_md(atoms, EMT(), MDSettings(steps=100, **kw), tmp_path, progress=False)
    t = read_thermo(tmp_path / "thermo.csv")
    frames = ase.io.read(res.trajectory, index=":")
    assert list(t["step"]) == [f.info["step"] for f in frames]
    assert np.allclose(t["T_K"], [f.get_temperature() for f in frames], rtol=1e-8)
    assert np.allclose(t["Epot_eV"], [f.info["epot_eV"] for f in frames], rtol=1e-8)
    assert np.ptp(t["conserved_eV"]) < 0.1 * np.ptp(t["Etot_eV"])  # NVT: conserved, E_tot not
    assert np.allclose(t["volume_A3"], atoms.get_volume())
    assert np.isfinite(t["pressure_GPa"]).all()
    # a second leg from the last checkpoint (step 100): rows 0..100 kept once, then 110..160
    run_md(atoms, EMT(), MDSettings(steps=160, **kw), tmp_path, progress=False)
    assert list(read_thermo(tmp_path / "thermo.csv")["step"]) == list(range(0, 161, 10))

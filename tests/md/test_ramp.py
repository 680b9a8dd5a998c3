"""Temperature ramps (``temperature_end_K``): the kinetic temperature of a Langevin ramp follows
the moving target; a ramp killed and resumed gives the uninterrupted run's frames; NVE and
batched MD refuse one; the keys of settings without a ramp are those they always had."""

import ase.io
import numpy as np
import pytest
from ase.build import bulk
from ase.calculators.emt import EMT

from seiflow.md import MDSettings, run_md
from seiflow.md.thermo import read_thermo


def _cu(n=3):
    return bulk("Cu", "fcc", a=3.61, cubic=True) * (n, n, n)


@pytest.mark.slow
def test_langevin_ramp_kinetic_temperature_follows_the_target(tmp_path):
    """100 → 600 K over 10 ps on 108 Cu atoms (EMT), friction 0.02/fs: the kinetic energy
    relaxes in 1/(2γ) = 25 fs, so the lag behind a 50 K/ps ramp is ~1 K, far below the
    statistical error of a window's mean (σ_T = T·√(2/3N) per frame, 25 frames a window)."""
    s = MDSettings(ensemble="langevin", temperature_K=100, temperature_end_K=600,
                   timestep_fs=4.0, steps=2500, friction_per_fs=0.02, traj_stride=10,
                   checkpoint_every=2500, seed=3)
    res = run_md(_cu(), EMT(), s, tmp_path, progress=False)
    frames = ase.io.read(res.trajectory, index=":")
    step = np.array([f.info["step"] for f in frames])
    target = np.array([f.info["target_K"] for f in frames])
    t_kin = np.array([f.get_temperature() for f in frames])
    assert np.allclose(target, 100 + 500 * step / 2500, rtol=0, atol=1e-9)
    thermo = read_thermo(tmp_path / "thermo.csv")
    assert np.allclose(thermo["target_K"], target) and np.allclose(thermo["T_K"], t_kin)
    n_atoms = len(frames[0])
    for window in (slice(5, 30), slice(-25, None)):  # the first (after 0.2 ps) and last 1 ps
        dev = t_kin[window] - target[window]
        sigma = np.sqrt(2 / (3 * n_atoms)) * target[window].mean() / np.sqrt(dev.size)
        print(f"window {window}: <T_kin - target> = {dev.mean():.1f} K, σ = {sigma:.1f} K")
        assert abs(dev.mean()) < 4 * sigma
    assert t_kin[-25:].mean() - t_kin[5:30].mean() > 400  # it really heated


class _Killed(Exception):
    pass


def _kill_at(step_to_die):
    def observer(atoms, step):
        if step == step_to_die:
            raise _Killed
    return observer


@pytest.mark.parametrize("ensemble", ["nvt", "npt", "langevin"])
def test_a_resumed_ramp_is_the_uninterrupted_one(tmp_path, ensemble):
    """Killed after its checkpoint of step 40 (frames up to step 60 written), resumed: the
    same frames, targets and thermo rows as a run never stopped, bit for bit."""
    atoms = bulk("Cu", "fcc", a=3.61, cubic=True) * (2, 2, 2)
    atoms.rattle(0.05, seed=1)
    s = MDSettings(ensemble=ensemble, temperature_K=900, temperature_end_K=300, steps=120,
                   pressure_bar=1e4, timestep_fs=2.0, tdamp_fs=40, pdamp_fs=200,
                   friction_per_fs=0.02, traj_stride=10, checkpoint_every=40, seed=4)
    whole = run_md(atoms, EMT(), s, tmp_path / "a", progress=False)
    with pytest.raises(_Killed):
        run_md(atoms, EMT(), s, tmp_path / "b", progress=False, observers=[(_kill_at(60), 10)])
    split = run_md(atoms, EMT(), s, tmp_path / "b", progress=False)
    assert split.restarted_from == 40 and split.steps_done == 120
    a, b = (ase.io.read(r.trajectory, index=":") for r in (whole, split))
    assert [f.info["step"] for f in b] == list(range(0, 121, 10))
    for fa, fb in zip(a, b, strict=True):
        assert fa.info["target_K"] == fb.info["target_K"]
        assert np.array_equal(fa.positions, fb.positions)
        assert np.array_equal(fa.get_momenta(), fb.get_momenta())
        assert np.array_equal(fa.cell.array, fb.cell.array)
    thermo_a, thermo_b = ((tmp_path / d / "thermo.csv").read_text() for d in "ab")
    assert thermo_a == thermo_b
    assert a[-1].info["target_K"] == 300.0 and a[6].info["target_K"] == 600.0
    # the targets moved the run: a constant-temperature run differs (a test that can fail)
    flat = run_md(atoms, EMT(), s.model_copy(update={"temperature_end_K": None}),
                  tmp_path / "c", progress=False)
    assert np.abs(flat.atoms.positions - whole.atoms.positions).max() > 1e-6


def test_ramp_settings_and_keys():
    with pytest.raises(ValueError, match="needs a thermostat"):
        MDSettings(steps=10, ensemble="nve", temperature_end_K=600)
    from seiflow.md.batched import BatchedMDSettings
    with pytest.raises(ValueError, match="one temperature"):
        BatchedMDSettings(steps=10, temperature_end_K=600)
    flat = MDSettings(steps=100)
    assert "temperature_end_K" not in flat.model_dump() and flat.target_K(50) == 300.0
    assert flat.key() == MDSettings(steps=200).key()  # a restart may extend a constant run
    ramp = MDSettings(steps=100, temperature_end_K=600)
    assert ramp.target_K(0) == 300.0 and ramp.target_K(50) == 450.0 and ramp.target_K(100) == 600
    assert ramp.key() != flat.key()
    assert ramp.key() != MDSettings(steps=200, temperature_end_K=600).key()  # rate is keyed
    assert MDSettings(steps=10, ensemble="nve").target_K(5) is None

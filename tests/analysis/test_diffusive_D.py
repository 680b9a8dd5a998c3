"""diffusive_D on synthetic MSDs: a random walk of known D gives D back; ballistic, caged and
sub-diffusive motion give no D and say why."""

import numpy as np
import pytest

from seiflow.analysis.diffusion import diffusive_D
from seiflow.analysis.msd import MSDResult, msd

DT_FS = 10.0


def _random_walk(D_A2_ps: float, n_atoms=60, n_frames=2000, seed=0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    sigma = np.sqrt(2 * D_A2_ps * 1e-3 * DT_FS)  # Å per axis and step
    return np.cumsum(rng.normal(0.0, sigma, (n_frames, n_atoms, 3)), axis=0)


def _msd(positions: np.ndarray) -> MSDResult:
    n_frames, n_atoms, _ = positions.shape
    return msd(positions, np.arange(n_frames) * DT_FS, np.ones(n_atoms, bool),
               masses=np.ones(n_atoms), n_blocks=5)


def test_random_walk_gives_its_D_back():
    D = 0.5  # Å²/ps = 5e-5 cm²/s
    fit, reason = diffusive_D(_msd(_random_walk(D)))
    assert reason == "" and fit is not None
    # centre-of-mass removal takes 1/N of the tracer motion away
    assert fit.D_A2_ps == pytest.approx(D * (1 - 1 / 60), rel=0.08)
    assert fit.D_cm2_s == pytest.approx(fit.D_A2_ps * 1e-4)
    assert abs(fit.D_A2_ps - D * (1 - 1 / 60)) < 4 * fit.D_sigma_A2_ps
    assert abs(fit.loglog_slope - 1) < 0.1


def test_ballistic_motion_is_not_diffusive():
    rng = np.random.default_rng(1)
    v = rng.normal(0.0, 0.01, (60, 3))  # Å/fs
    positions = np.arange(2000)[:, None, None] * DT_FS * v[None]
    fit, reason = diffusive_D(_msd(positions))
    assert fit is None and reason.startswith("not diffusive")
    assert "slope" in reason


def test_caged_vibration_is_not_diffusive():
    rng = np.random.default_rng(2)
    sites = rng.uniform(0, 10, (60, 3))
    positions = sites[None] + rng.normal(0.0, 0.2, (2000, 60, 3))
    fit, reason = diffusive_D(_msd(positions))
    assert fit is None and reason.startswith("not diffusive")


def _power_law_msd(exponent: float) -> MSDResult:
    t = np.arange(1001) * DT_FS
    m = 0.01 * t**exponent
    xyz = np.repeat(m[:, None] / 3, 3, axis=1)
    blocks = np.stack([xyz[:201]] * 5)
    return MSDResult(t_fs=t, msd=m, msd_xyz=xyz, block_t_fs=t[:201], block_msd_xyz=blocks,
                     charge_msd=None, charge_msd_uncorrelated=None, n_selected=1, n_atoms=1,
                     n_frames=2001, dt_fs=DT_FS, com_removed=False, n_origins=None)


def test_window_with_a_fitted_slope_far_from_one_is_not_diffusive():
    # a loose window search accepts t^0.75, the slope check does not
    fit, reason = diffusive_D(_power_law_msd(0.75), slope_tol=0.3, max_slope_deviation=0.2)
    assert fit is None and "log-log slope 0.75" in reason
    fit, reason = diffusive_D(_power_law_msd(1.0), slope_tol=0.3, max_slope_deviation=0.2)
    assert reason == "" and fit.loglog_slope == pytest.approx(1.0)
    assert fit.D_A2_ps == pytest.approx(0.01 / 6 * 1000)  # MSD = 6 D t, Å²/fs → Å²/ps

"""Unwrapping, MSD and diffusion coefficients of synthetic random walks with a known D."""

import numpy as np
import pytest
from ase import Atoms

from seiflow.analysis import diffusion_coefficient, msd, select_species, unwrap
from seiflow.analysis.msd import UnwrapError
from seiflow.core.errors import SeiflowError

N_ATOMS, N_FRAMES = 500, 2000
STEP, DT = 0.1, 10.0  # Gaussian step per axis (Å) and time per frame (fs)
D_TRUE = STEP**2 / (2 * DT) * 1000.0  # Å²/ps (0.5 Å²/ps = 5e-5 cm²/s)
BOX = 15.0  # Å


def random_walk(rng, n_atoms=N_ATOMS, n_frames=N_FRAMES, step=STEP) -> np.ndarray:
    start = rng.random((n_atoms, 3)) * BOX
    steps = rng.normal(0.0, step, (n_frames - 1, n_atoms, 3))
    return np.concatenate([start[None], start + np.cumsum(steps, axis=0)])


def wrapped_frames(true_pos: np.ndarray, cells: np.ndarray) -> list[Atoms]:
    """Frames whose fractional coordinates follow the true displacements converted with each
    frame's own cell, wrapped into the cell (as an NPT code writes them)."""
    ds = np.diff(true_pos, axis=0) @ np.linalg.inv(cells[1:])  # (nf-1, n, 3) fractional steps
    s0 = true_pos[0] @ np.linalg.inv(cells[0])
    s = np.concatenate([s0[None], s0 + np.cumsum(ds, axis=0)])
    symbols = f"Li{true_pos.shape[1]}"
    return [Atoms(symbols, scaled_positions=sk % 1.0, cell=h, pbc=True) for sk, h in zip(s, cells)]


@pytest.fixture(scope="module")
def walk():
    return random_walk(np.random.default_rng(42))


@pytest.fixture(scope="module")
def times():
    return np.arange(N_FRAMES) * DT


def tracer_D(positions, times, frame0):
    res = msd(positions, times, select_species(frame0, "Li"), masses=frame0.get_masses())
    return diffusion_coefficient(res)


def test_unwrap_and_recover_D_fixed_cell(walk, times):
    frames = wrapped_frames(walk, np.repeat(np.eye(3)[None] * BOX, N_FRAMES, axis=0))
    assert frames[-1].positions.min() >= 0 and frames[-1].positions.max() < BOX  # really wrapped
    pos = unwrap(frames)
    assert np.allclose(pos - pos[0], walk - walk[0], atol=1e-8)
    d = tracer_D(pos, times, frames[0])
    assert d.D_A2_ps == pytest.approx(D_TRUE, rel=0.05)
    assert abs(d.D_A2_ps - D_TRUE) < 4 * d.D_sigma_A2_ps + 0.01 * D_TRUE
    assert 0 < d.D_sigma_A2_ps < 0.05 * D_TRUE
    assert d.D_cm2_s == pytest.approx(d.D_A2_ps * 1e-4)
    assert d.n_points >= 10 and d.loglog_slope == pytest.approx(1.0, abs=0.05)


def test_unwrap_and_recover_D_npt_like_triclinic_cell(walk, times):
    rng = np.random.default_rng(5)
    h0 = np.array([[BOX, 0, 0], [1.5, BOX, 0], [-1.0, 0.8, BOX]])
    strain = 1 + 0.01 * np.sin(np.arange(N_FRAMES) / 50) + rng.normal(0, 0.002, N_FRAMES)
    cells = h0[None] * strain[:, None, None]
    frames = wrapped_frames(walk, cells)
    pos = unwrap(frames)
    assert np.allclose(np.diff(pos, axis=0), np.diff(walk, axis=0), atol=1e-8)
    d = tracer_D(pos, times, frames[0])
    assert d.D_A2_ps == pytest.approx(D_TRUE, rel=0.05)


def test_uniform_drift_is_removed_by_com_subtraction(walk, times):
    drift = np.array([0.03, -0.02, 0.05])[None, None, :] * np.arange(N_FRAMES)[:, None, None]
    box = np.repeat(np.eye(3)[None] * BOX, N_FRAMES, axis=0)
    frames = wrapped_frames(walk + drift, box)
    pos = unwrap(frames)
    mask, masses = select_species(frames[0], "Li"), frames[0].get_masses()
    with_drift = msd(pos, times, mask, masses=masses)
    without = msd(walk, times, mask, masses=masses)
    assert np.allclose(with_drift.msd, without.msd, rtol=1e-8, atol=1e-8)
    assert with_drift.com_removed
    kept = msd(pos, times, mask, masses=None)  # the drift is really there when not removed
    assert kept.msd[-1] > 10 * without.msd[-1]


def test_ballistic_start_is_skipped():
    # persistent random walk: AR(1) velocities, correlation time tau = 1 / (1 - phi) frames
    rng = np.random.default_rng(11)
    phi, sigma, n = 0.8, 0.02, 300
    v = np.empty((N_FRAMES, n, 3))
    v[0] = rng.normal(0, sigma / np.sqrt(1 - phi**2), (n, 3))
    for k in range(1, N_FRAMES):
        v[k] = phi * v[k - 1] + rng.normal(0, sigma, (n, 3))
    pos = np.cumsum(v, axis=0)
    d_true = sigma**2 / (1 - phi) ** 2 / (2 * DT) * 1000.0  # Å²/ps
    res = msd(pos, np.arange(N_FRAMES) * DT, np.ones(n, bool), masses=np.ones(n))
    d = diffusion_coefficient(res)
    tau_fs = DT / (1 - phi)
    assert d.window_fs[0] > 5 * tau_fs  # slope is still > 1.25 at 5 tau
    assert d.D_A2_ps == pytest.approx(d_true, rel=0.05)


def test_collective_charge_msd():
    rng = np.random.default_rng(3)
    walk = random_walk(rng, n_atoms=200, n_frames=1000)
    t = np.arange(1000) * DT
    # independent ions: collective == uncorrelated (Haven ratio 1)
    q = np.where(np.arange(200) % 2 == 0, 1.0, -1.0)
    res = msd(walk, t, q > 0, masses=np.ones(200), charges=q)
    ratio = res.charge_msd[1:11] / res.charge_msd_uncorrelated[1:11]
    assert ratio.mean() == pytest.approx(1.0, abs=0.1)
    # tightly bound ion pairs moving together carry no current
    pairs = np.concatenate([walk[:, :100], walk[:, :100] + 1.0], axis=1)
    res = msd(pairs, t, q > 0, masses=np.ones(200), charges=np.repeat([1.0, -1.0], 100))
    assert np.abs(res.charge_msd).max() < 1e-8 * res.charge_msd_uncorrelated[-1]
    assert res.msd[-1] > 10.0


def test_fft_origins_match_explicit_origins():
    rng = np.random.default_rng(0)
    pos = random_walk(rng, n_atoms=7, n_frames=60)
    t, sel = np.arange(60) * DT, np.arange(7) < 4
    q, masses = rng.normal(size=7), rng.random(7) + 1.0
    for m in (None, masses):
        fast = msd(pos, t, sel, max_lag=40, masses=m, charges=q)
        slow = msd(pos, t, sel, max_lag=40, n_origins=59, masses=m, charges=q)
        assert np.allclose(fast.msd, slow.msd, rtol=1e-9, atol=1e-12)
        assert np.allclose(fast.charge_msd, slow.charge_msd, rtol=1e-9, atol=1e-12)
        assert np.allclose(fast.block_msd, slow.block_msd, rtol=1e-9, atol=1e-12)
    by_hand = np.mean(np.sum((pos[5:, sel] - pos[:-5, sel]) ** 2, axis=-1))
    assert fast.t_fs[-1] == pytest.approx(400.0)
    assert msd(pos, t, sel, masses=None).msd[5] == pytest.approx(by_hand)


def test_trajectory_that_cannot_be_unwrapped():
    box = np.eye(3) * 10.0
    a = Atoms("Li2", positions=[[1, 1, 1], [5, 5, 5]], cell=box, pbc=True)
    b = a.copy()
    b.positions[1, 0] += 4.5  # 0.45 of the cell in one frame: ambiguous
    with pytest.raises(UnwrapError, match="too far apart to unwrap"):
        unwrap([a, b])
    with pytest.raises(UnwrapError, match="frame 1 has 3 atoms"):
        unwrap([a, Atoms("Li3", positions=np.zeros((3, 3)), cell=box, pbc=True)])
    with pytest.raises(UnwrapError, match="species or order"):
        unwrap([a, Atoms("LiNa", positions=a.positions, cell=box, pbc=True)])


def test_fit_window_shorter_than_10_points(walk, times):
    res = msd(walk[:, :50], times, np.ones(50, bool), masses=np.ones(50))
    with pytest.raises(SeiflowError, match="fewer than 10"):
        diffusion_coefficient(res, window=(0.0, 5 * DT))
    short = msd(walk[:60, :50], times[:60], np.ones(50, bool), masses=np.ones(50))
    with pytest.raises(SeiflowError, match="fewer than 10"):
        diffusion_coefficient(short)  # blocks of 12 frames: at most 6 lags to fit

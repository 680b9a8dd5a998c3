"""Self-diffusion coefficient from the Einstein relation MSD(t) = 2 dim D t.

Data in, data out: takes an ``MSDResult`` (Å², fs) and reports D in Å²/ps and cm²/s.

The fit window is where the MSD is diffusive: the local log–log slope d ln MSD / d ln t lies
within ``1 ± slope_tol`` (this skips the ballistic start, slope 2, and caging, slope < 1). The
search is limited to lags that every block of the MSD has (half a block, so the noisy tail of the
full MSD is never used). D is the slope of a straight line (with intercept) through the full MSD
in the window; its uncertainty is the standard error of the D of the blocks fitted over the same
window: ``sigma = std(D_blocks, ddof=1) / sqrt(n_blocks)``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from seiflow.analysis.msd import MSDResult
from seiflow.core.errors import SeiflowError

A2_PS_TO_CM2_S = 1e-4  # 1 Å²/ps = 1e-16 cm² / 1e-12 s
MIN_POINTS = 10


@dataclass
class DiffusionResult:
    """Tracer diffusion coefficient and how it was obtained."""

    D_A2_ps: float  # Å²/ps
    D_sigma_A2_ps: float  # standard error from block averaging, Å²/ps
    D_cm2_s: float  # cm²/s
    D_sigma_cm2_s: float  # cm²/s
    window_fs: tuple[float, float]  # lag-time window of the fit, fs
    n_points: int  # MSD points in the window
    loglog_slope: float  # slope of ln MSD vs ln t in the window (1 when diffusive)
    msd_slope_A2_ps: float  # slope of MSD vs t in the window, Å²/ps
    dim: int
    axes: tuple[int, ...]
    block_D_A2_ps: np.ndarray  # D of each block, Å²/ps


def _local_slope(t: np.ndarray, m: np.ndarray, ratio: float) -> np.ndarray:
    """d ln m / d ln t as a central difference over t/ratio .. t*ratio (nan where out of range)."""
    lt, lm = np.log(t), np.log(m)
    h = np.log(ratio)
    alpha = (np.interp(lt + h, lt, lm) - np.interp(lt - h, lt, lm)) / (2 * h)
    alpha[(lt - h < lt[0]) | (lt + h > lt[-1])] = np.nan
    return alpha


def diffusive_window(msd_result: MSDResult, axes: tuple[int, ...] = (0, 1, 2),
                     slope_tol: float = 0.1, ratio: float = 1.3) -> tuple[float, float]:
    """Lag-time window (fs) where the MSD's log–log slope is within 1 ± ``slope_tol``.

    The longest run of consecutive lags inside the block lag range is taken.
    """
    t, m = msd_result.t_fs, msd_result.msd_xyz[:, list(axes)].sum(axis=1)
    keep = (t > 0) & (m > 0)
    t, m = t[keep], m[keep]
    if len(t) < 3:
        raise SeiflowError("the MSD has fewer than 3 positive points; no diffusive window")
    alpha = _local_slope(t, m, ratio)
    good = (np.abs(alpha - 1.0) <= slope_tol) & (t <= msd_result.block_t_fs[-1])
    if not good.any():
        raise SeiflowError(
            f"no diffusive window: the MSD's log-log slope is never within 1 ± {slope_tol} "
            f"(range {np.nanmin(alpha):.2f}..{np.nanmax(alpha):.2f}); run longer (the motion "
            "is not diffusive yet), or give a window (Python: window=)"
        )
    edges = np.diff(np.concatenate([[0], good.astype(int), [0]]))
    starts, stops = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)
    best = int(np.argmax(stops - starts))
    if stops[best] - starts[best] < 2:  # one lag is no window: say so, not "start < end"
        raise SeiflowError(
            f"no diffusive window: the MSD's log-log slope is within 1 ± {slope_tol} at "
            f"isolated lags only ({', '.join(f'{x:g}' for x in t[good][:5])} fs); run longer")
    return float(t[starts[best]]), float(t[stops[best] - 1])


def _fit_D(t: np.ndarray, m: np.ndarray, dim: int) -> float:
    slope = np.polyfit(t, m, 1)[0]  # Å²/fs
    return float(slope / (2 * dim) * 1000.0)  # Å²/ps


def diffusion_coefficient(msd_result: MSDResult, dim: int = 3,
                          window: tuple[float, float] | None = None,
                          axes: tuple[int, ...] | None = None,
                          slope_tol: float = 0.1) -> DiffusionResult:
    """D from MSD = 2·dim·D·t over a diffusive window (auto-detected unless ``window`` in fs).

    ``axes`` are the Cartesian axes summed into the MSD (default all three for dim=3; give them
    for dim 1 or 2, e.g. ``axes=(0, 1)`` for in-plane diffusion in a slab).
    Raises ``SeiflowError`` when the window holds fewer than 10 MSD points.
    """
    if dim not in (1, 2, 3):
        raise SeiflowError(f"dim must be 1, 2 or 3, got {dim}")
    if axes is None:
        if dim != 3:
            raise SeiflowError(f"dim={dim} needs axes=..., the Cartesian axes to use (0=x 1=y 2=z)")
        axes = (0, 1, 2)
    axes = tuple(int(a) for a in axes)
    if len(axes) != dim or len(set(axes)) != dim or not set(axes) <= {0, 1, 2}:
        raise SeiflowError(f"axes must be {dim} distinct values out of 0, 1, 2; got {axes}")
    t_lim = float(msd_result.block_t_fs[-1])
    if window is None:
        window = diffusive_window(msd_result, axes, slope_tol)
    t0, t1 = float(window[0]), float(window[1])
    if not 0 <= t0 < t1:
        raise SeiflowError(f"window must be (start, end) in fs with 0 <= start < end; got {window}")
    if t1 > t_lim * (1 + 1e-9):
        raise SeiflowError(f"window ends at {t1:g} fs, after the longest block lag ({t_lim:g} fs);"
                           " shorten the window or use fewer blocks in msd()")
    t = msd_result.t_fs
    m = msd_result.msd_xyz[:, list(axes)].sum(axis=1)
    inside = (t >= t0) & (t <= t1)
    n = int(inside.sum())
    if n < MIN_POINTS:
        raise SeiflowError(f"the fit window {t0:g}-{t1:g} fs holds {n} MSD points, fewer than "
                           f"{MIN_POINTS}; run longer, save frames more often or widen the window")
    D = _fit_D(t[inside], m[inside], dim)
    pos = inside & (m > 0) & (t > 0)
    loglog = float(np.polyfit(np.log(t[pos]), np.log(m[pos]), 1)[0]) if pos.sum() >= 2 else np.nan
    bt = msd_result.block_t_fs
    b_in = (bt >= t0) & (bt <= t1)
    blocks = np.array([_fit_D(bt[b_in], b[b_in][:, list(axes)].sum(axis=1), dim)
                       for b in msd_result.block_msd_xyz])
    sigma = float(blocks.std(ddof=1) / np.sqrt(len(blocks)))
    to_cm2 = A2_PS_TO_CM2_S
    return DiffusionResult(
        D_A2_ps=D, D_sigma_A2_ps=sigma, D_cm2_s=D * to_cm2, D_sigma_cm2_s=sigma * to_cm2,
        window_fs=(t0, t1), n_points=n, loglog_slope=loglog, msd_slope_A2_ps=D * 2 * dim,
        dim=dim, axes=axes, block_D_A2_ps=blocks,
    )


def diffusive_D(msd_result: MSDResult, slope_tol: float = 0.1,
                max_slope_deviation: float = 0.2) -> tuple[DiffusionResult | None, str]:
    """D (3-D) over the automatic diffusive window, or None and the reason the MSD is not
    diffusive: no window where the local log–log slope is within 1 ± ``slope_tol``, or a window
    whose fitted log–log slope is farther than ``max_slope_deviation`` from 1 (ballistic runs
    give 2, caged or sub-diffusive ones < 1). The reason is one line; "" when diffusive."""
    try:
        result = diffusion_coefficient(msd_result, slope_tol=slope_tol)
    except SeiflowError as exc:
        return None, f"not diffusive: {exc}"
    slope = result.loglog_slope
    if not np.isfinite(slope) or abs(slope - 1.0) > max_slope_deviation:
        t0, t1 = result.window_fs
        return None, (f"not diffusive: MSD log-log slope {slope:.2f} in {t0:g}-{t1:g} fs "
                      f"(diffusive: 1 ± {max_slope_deviation:g})")
    if result.D_A2_ps <= 0:
        return None, f"not diffusive: D = {result.D_A2_ps:.3g} Å²/ps is not positive"
    return result, ""

"""Transport and structure plots (matplotlib, Agg backend): g(r) with the running coordination
number, log–log MSD with the fitted diffusive window, Arrhenius plots, the MD thermo log and
the γ trace of a graded MD run.

Data in, PNG out. The report layer sits below ``analysis``, so these functions take plain arrays
(or any object with the listed attributes) rather than importing the analysis result classes.
Units: r in Å, lag time in ps (input in fs), MSD in Å², D in Å²/ps or cm²/s, T in K, Ea in eV.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from seiflow.report.figures import save_figure  # noqa: E402
from seiflow.report.learning import gamma_thresholds  # noqa: E402


def panel_grid(n: int, width: float = 4.4, height: float = 3.4):
    """A figure with ``n`` panels on a grid of at most 3 columns (unused cells removed);
    returns (fig, list of the ``n`` axes)."""
    ncol = min(max(n, 1), 3)
    nrow = -(-max(n, 1) // ncol)
    fig, grid = plt.subplots(nrow, ncol, figsize=(width * ncol, height * nrow), dpi=110,
                             squeeze=False)
    flat = list(grid.ravel())
    for ax in flat[n:]:
        fig.delaxes(ax)
    return fig, flat[:max(n, 1)]


def mark_first_shell(ax, twin, r_min: float, cn_min: float, color: str = "0.3") -> None:
    """The first minimum of g(r) as a labelled vertical threshold line, with the first-shell
    coordination number printed beside the running CN there."""
    ax.axvline(r_min, color=color, lw=0.9, ls=":", label=f"first minimum {r_min:.2f} Å")
    twin.plot([r_min], [cn_min], "o", color=color, ms=5)
    twin.annotate(f"CN = {cn_min:.2f}\nr_min = {r_min:.2f} Å", (r_min, cn_min),
                  textcoords="offset points", xytext=(6, -22), fontsize=8, color=color,
                  bbox={"fc": "white", "alpha": 0.8, "lw": 0})


def rdf_panel(ax, res, mark: tuple[float, float] | None, color: str = "C0",
              label: str | None = None):
    """g(r) of one pair on ``ax`` and its running CN on a twin axis (dashed); the first minimum
    marked when ``mark`` = (r_min in Å, CN at r_min). Returns the twin axis."""
    twin = ax.twinx()
    ax.plot(res.r, res.g, color=color, lw=1.3, label=label or "g(r)", gid="g")
    twin.plot(np.asarray(res.edges)[1:], res.cn, color=color, lw=1.0, ls="--", gid="cn",
              label="running CN")
    if mark is not None:
        mark_first_shell(ax, twin, *mark)
    ax.set_xlim(0, float(np.asarray(res.edges)[-1]))
    ax.set_ylim(bottom=0)
    twin.set_ylim(bottom=0)
    ax.set_xlabel("r (Å)")
    ax.set_ylabel("g(r)")
    twin.set_ylabel("running coordination number (atoms)")
    ax.set_title(f"{res.pair[0]}–{res.pair[1]}", fontsize=10)
    return twin


def joint_legend(ax, twin, **kwargs) -> None:
    """One legend on ``ax`` for the lines of ``ax`` and its twin axis."""
    h1, l1 = ax.get_legend_handles_labels()
    h2, l2 = twin.get_legend_handles_labels()
    ax.legend(h1 + h2, l1 + l2, fontsize=7, loc=kwargs.pop("loc", "upper right"), **kwargs)


def rdf_figure(results: Sequence, minima: Sequence[tuple[float, float] | None] | None = None,
               title: str = ""):
    """One panel per species pair (grid), g(r) with the running CN on a twin axis (dashed)
    and the first-shell CN printed at the first minimum (a labelled threshold line).

    ``results``: objects with ``pair`` (A, B), ``r`` (bin centres, Å), ``edges`` (bin edges, Å),
    ``g`` (g(r)) and ``cn`` (running CN at ``edges[1:]``, atoms), e.g. ``analysis.RDFResult``.
    ``minima``: per result, the first minimum (r_min in Å, CN at r_min) to mark, or None.
    """
    minima = list(minima) if minima is not None else [None] * len(results)
    fig, axes = panel_grid(len(results))
    for ax, res, mark in zip(axes, results, minima):
        twin = rdf_panel(ax, res, mark)
        joint_legend(ax, twin)
    fig.suptitle(title or "radial distribution function", fontsize=10)
    fig.tight_layout()
    return fig


def rdf_plot(results: Sequence, path: Path,
             minima: Sequence[tuple[float, float] | None] | None = None,
             title: str = "") -> Path:
    """``rdf_figure`` written as a PNG at ``path``."""
    return save_figure(rdf_figure(results, minima, title), path)


def msd_plot(t_fs: np.ndarray, msd: np.ndarray, window_fs: tuple[float, float], D: float,
             path: Path, blocks: tuple[np.ndarray, np.ndarray] | None = None, dim: int = 3,
             title: str = "") -> Path:
    """Log–log MSD (Å²) against lag time (ps), the fit window shaded, the Einstein fit drawn.

    ``t_fs``: lag times (fs); ``msd``: MSD (Å²) summed over ``dim`` axes; ``window_fs``: the fit
    window (fs); ``D``: fitted diffusion coefficient (Å²/ps). The fitted line has slope 2·dim·D
    and passes through the centroid of the window's points (the least-squares line of the fit).
    ``blocks``: optional (block lag times in fs, block MSDs in Å² of shape (n_blocks, nlag)),
    drawn thin and grey.
    """
    t, m = np.asarray(t_fs, float), np.asarray(msd, float)
    fig, ax = plt.subplots(figsize=(6.4, 4.2), dpi=110)
    if blocks is not None:
        bt, bm = np.asarray(blocks[0], float), np.asarray(blocks[1], float)
        for k, row in enumerate(bm):
            ok = (bt > 0) & (row > 0)
            ax.loglog(bt[ok] / 1000, row[ok], color="0.7", lw=0.7,
                      label="blocks" if k == 0 else None)
    ok = (t > 0) & (m > 0)
    ax.loglog(t[ok] / 1000, m[ok], color="C0", lw=1.4, label="MSD")
    t0, t1 = window_fs
    ax.axvspan(t0 / 1000, t1 / 1000, color="C2", alpha=0.15, label="fit window")
    inside = (t >= t0) & (t <= t1)
    if inside.any():
        slope = 2 * dim * D / 1000.0  # Å²/fs
        icpt = m[inside].mean() - slope * t[inside].mean()
        tl = t[inside]
        ax.loglog(tl / 1000, slope * tl + icpt, color="C3", lw=1.2, ls="--",
                  label=f"fit: D = {D:.4g} Å²/ps = {D * 1e-4:.3g} cm²/s")
    if ok.any():  # pure diffusion, MSD = 2·dim·D·t, over all lags (slope 1 in log–log)
        ref = t[ok] / 1000
        ax.loglog(ref, (2 * dim * D) * ref, color="0.4", lw=0.6, ls=":",
                  label=f"{2 * dim}·D·t (slope 1)")
    ax.set_xlabel("lag time t (ps)")
    ax.set_ylabel("MSD (Å²)")
    ax.legend(fontsize=8)
    ax.set_title(title or "mean-squared displacement", fontsize=10)
    return save_figure(fig, path)


def arrhenius_plot(T_K: np.ndarray, D: np.ndarray, D_sigma: np.ndarray | None,
                   fit_line_T: np.ndarray, fit_D: np.ndarray, ci_low: np.ndarray,
                   ci_high: np.ndarray, Ea: float, Ea_sigma: float, path: Path,
                   unit: str = "cm²/s", confidence: float = 0.95, title: str = "",
                   extrapolated: tuple[float, float, float, float] | None = None) -> Path:
    """ln D against 1000/T (1/K) with error bars, the fitted line and its confidence band.

    ``T_K`` (K), ``D`` and ``D_sigma`` (``unit``) are the data points; ``fit_line_T`` (K) with
    ``fit_D``, ``ci_low``, ``ci_high`` (``unit``) the fit and its ``confidence`` band (may span an
    extrapolation); ``Ea``, ``Ea_sigma`` in eV (the title shows Ea ± σ after ``title``).
    ``extrapolated``: optional (T in K, D, CI low, CI high) of an extrapolated value to mark.
    """
    T, d = np.asarray(T_K, float), np.asarray(D, float)
    x = 1000.0 / T
    fig, ax = plt.subplots(figsize=(6.4, 4.2), dpi=110)
    yerr = None if D_sigma is None else np.asarray(D_sigma, float) / d  # σ of ln D
    ax.errorbar(x, np.log(d), yerr=yerr, fmt="o", color="C0", capsize=3, label="data")
    xl = 1000.0 / np.asarray(fit_line_T, float)
    ax.plot(xl, np.log(fit_D), color="C3", lw=1.2, label="Arrhenius fit")
    lo, hi = np.log(np.asarray(ci_low, float)), np.log(np.asarray(ci_high, float))
    ax.fill_between(xl, lo, hi, color="C3", alpha=0.15,
                    label=f"{confidence:.0%} confidence band")
    if extrapolated is not None:
        Tx, Dx, lo_x, hi_x = extrapolated
        err = [[np.log(Dx) - np.log(lo_x)], [np.log(hi_x) - np.log(Dx)]]
        ax.errorbar([1000.0 / Tx], [np.log(Dx)], yerr=err, fmt="s", color="C1", capsize=3,
                    label=f"D({Tx:g} K) = {Dx:.3g} {unit}")
    ax.set_xlabel("1000 / T (1/K)")
    ax.set_ylabel(f"ln (D / ({unit}))")
    ax.legend(fontsize=8)
    sig = "n/a" if not np.isfinite(Ea_sigma) else f"{Ea_sigma:.3f}"
    head = f"{title}: " if title else ""
    ax.set_title(f"{head}Ea = {Ea:.3f} ± {sig} eV", fontsize=10)
    return save_figure(fig, path)


def thermo_plot(columns: dict[str, np.ndarray], path: Path, title: str = "") -> Path:
    """Temperature (K, with the thermostat's target dashed), potential and conserved energy
    (eV, from their first value), pressure (GPa) and volume (Å³) against time (ps): one panel
    each, one line per replica.
    ``columns``: a thermo.csv as arrays (``seiflow.md.thermo.read_thermo``); energies are
    shown per replica relative to their first value. Panels without data are left out."""
    panels = [("T_K", "T (K)"), ("Epot_eV", "ΔE_pot (eV)"), ("conserved_eV", "Δ conserved (eV)"),
              ("pressure_GPa", "P (GPa)"), ("volume_A3", "V (Å³)")]
    panels = [(k, label) for k, label in panels if np.isfinite(columns[k]).any()]
    fig, axes = plt.subplots(len(panels), 1, figsize=(6.4, 1.6 * len(panels) + 0.6), dpi=110,
                             sharex=True)
    axes = np.atleast_1d(axes)
    replicas = np.unique(columns["replica"])
    for ax, (key, label) in zip(axes, panels):
        for r in replicas:
            sel = columns["replica"] == r
            t_ps, y = columns["time_fs"][sel] / 1000.0, columns[key][sel]
            if key in ("Epot_eV", "conserved_eV"):
                y = y - y[0]
            ax.plot(t_ps, y, lw=0.9, color=f"C{int(r) % 10}")
        first = columns["replica"] == replicas[0]
        if key == "T_K" and np.isfinite(columns["target_K"][first]).any():  # a ramp's target
            ax.plot(columns["time_fs"][first] / 1000.0, columns["target_K"][first], "k--",
                    lw=0.8, label="target")
            ax.legend(fontsize=7, loc="best")
        ax.set_ylabel(label, fontsize=8)
        ax.tick_params(labelsize=8)
    axes[-1].set_xlabel("time (ps)")
    axes[0].set_title(title or "MD thermo log", fontsize=10)
    return save_figure(fig, path)


def gamma_trace_plot(time_fs: np.ndarray, gamma: np.ndarray, path: Path, select: float,
                     brk: float | None = None, title: str = "") -> Path:
    """The largest extrapolation grade γ of each MD frame against time (ps), log γ axis, with
    γ_select and γ_break (None: none) as labelled horizontal lines."""
    t_ps, g = np.asarray(time_fs, float) / 1000.0, np.asarray(gamma, float)
    fig, ax = plt.subplots(figsize=(6.4, 3.4), dpi=110)
    ax.plot(t_ps, g, lw=0.9, marker=".", ms=3, color="C0", label="max γ of the frame")
    gamma_thresholds(ax, select, brk, axis="y")
    ax.set_yscale("log")
    top = max([g.max() if g.size else 1.0, select, brk or 0.0])
    ax.set_ylim(min(g.min() if g.size else 1.0, 1.0) * 0.8, top * 1.5)
    ax.set_xlabel("time (ps)")
    ax.set_ylabel("max γ (extrapolation grade)")
    ax.legend(fontsize=7, loc="lower right", framealpha=0.9)
    ax.set_title(title or "extrapolation grade along the trajectory", fontsize=10)
    return save_figure(fig, path)

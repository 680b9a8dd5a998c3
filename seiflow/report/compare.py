"""Overlays of several runs in one figure (several temperatures, several models): g(r) per
species pair, MSD against lag time, Arrhenius lines. Same axes and units as the single-run
figures of report/transport.py; one colour per run, the legend names the runs.

Data in, Figure out (``*_figure``); ``save_figure`` writes the PNG. Units: r in Å, lag time in
ps (input in fs), MSD in Å², D in cm²/s, T in K, Ea in eV.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from seiflow.report.figures import plt
from seiflow.report.transport import panel_grid


def _check_runs(runs: Mapping) -> None:
    if not runs:
        raise ValueError("nothing to compare: no runs given")


def rdf_compare_figure(runs: Mapping[str, Sequence], minima: Mapping[str, Sequence] | None = None,
                       title: str = ""):
    """One panel per species pair, one colour per run: g(r) (solid, left axis) and running
    CN (dashed, twin right axis), the first minimum of each run marked with its CN.

    ``runs``: {run label: [RDF results, one per pair, same pairs in the same order]} (objects
    with ``pair``, ``r``, ``edges``, ``g``, ``cn`` as in ``rdf_figure``); ``minima``: {run
    label: [(r_min in Å, CN) or None per pair]}."""
    _check_runs(runs)
    pairs = [tuple(res.pair) for res in next(iter(runs.values()))]
    for label, results in runs.items():
        if [tuple(r.pair) for r in results] != pairs:
            raise ValueError(f"run {label!r} has pairs {[r.pair for r in results]}, the first "
                             f"run {pairs}: compare the same pairs")
    fig, axes = panel_grid(len(pairs), width=5.0, height=3.8)
    for k, (ax, pair) in enumerate(zip(axes, pairs)):
        twin = ax.twinx()
        for j, (label, results) in enumerate(runs.items()):
            res, color = results[k], f"C{j % 10}"
            ax.plot(res.r, res.g, color=color, lw=1.3, label=label, gid="g")
            twin.plot(np.asarray(res.edges)[1:], res.cn, color=color, lw=0.9, ls="--", gid="cn")
            mark = (minima or {}).get(label, [None] * len(pairs))[k]
            if mark is not None:
                ax.axvline(mark[0], color=color, lw=0.7, ls=":")
                twin.plot([mark[0]], [mark[1]], "o", color=color, ms=4)
                twin.annotate(f"CN {mark[1]:.2f}", (mark[0], mark[1]), textcoords="offset points",
                              xytext=(5, -10 - 9 * j), fontsize=7, color=color)
        ax.set_xlim(0, max(float(np.asarray(r[k].edges)[-1]) for r in runs.values()))
        ax.set_ylim(bottom=0)
        twin.set_ylim(bottom=0)
        ax.set_xlabel("r (Å)")
        ax.set_ylabel("g(r), solid")
        twin.set_ylabel("running CN (atoms), dashed")
        ax.set_title(f"{pair[0]}–{pair[1]}", fontsize=10)
        ax.legend(fontsize=7, loc="upper right", title="run (dotted: first minimum)",
                  title_fontsize=7)
    fig.suptitle(title or "radial distribution functions compared", fontsize=10)
    fig.tight_layout()
    return fig


def msd_compare_figure(runs: Mapping[str, dict], species: str = "", title: str = ""):
    """Log–log MSD (Å²) against lag time (ps), one line per run, each run's D in the legend,
    its fit window drawn as a thicker stretch of the same line.

    ``runs``: {run label: {"t_fs", "msd_A2", "window_fs": (t0, t1), "D_cm2_s",
    "D_sigma_cm2_s" (or None)}}."""
    _check_runs(runs)
    fig, ax = plt.subplots(figsize=(6.6, 4.4), dpi=110)
    for j, (label, r) in enumerate(runs.items()):
        t, m = np.asarray(r["t_fs"], float), np.asarray(r["msd_A2"], float)
        ok = (t > 0) & (m > 0)
        sigma = r.get("D_sigma_cm2_s")
        d_text = f"D = {r['D_cm2_s']:.3g}" + ("" if sigma is None else f" ± {sigma:.1g}")
        ax.loglog(t[ok] / 1000, m[ok], color=f"C{j % 10}", lw=1.2, gid="msd",
                  label=f"{label}: {d_text} cm²/s")
        t0, t1 = r["window_fs"]
        win = ok & (t >= t0) & (t <= t1)
        ax.loglog(t[win] / 1000, m[win], color=f"C{j % 10}", lw=3.0, alpha=0.35, gid="window")
    ax.set_xlabel("lag time t (ps)")
    ax.set_ylabel(f"{species} MSD (Å²)".strip())
    ax.legend(fontsize=8, title="run (thick: fit window)", title_fontsize=8)
    ax.set_title(title or f"{species} mean-squared displacement compared".strip(), fontsize=10)
    fig.tight_layout()
    return fig


def arrhenius_compare_figure(series: Mapping[str, dict], unit: str = "cm²/s", title: str = ""):
    """ln D against 1000/T (1/K), one colour per series: its points with error bars and its
    own Arrhenius line, Ea ± σ in the legend.

    ``series``: {label: {"T_K", "D", "D_sigma" (or None), "line_T_K", "line_D", "Ea_eV",
    "Ea_sigma_eV"}} (D in ``unit``)."""
    _check_runs(series)
    fig, ax = plt.subplots(figsize=(6.6, 4.4), dpi=110)
    for j, (label, s) in enumerate(series.items()):
        color = f"C{j % 10}"
        T, d = np.asarray(s["T_K"], float), np.asarray(s["D"], float)
        sig = s.get("D_sigma")
        yerr = None if sig is None else np.asarray(sig, float) / d
        ax.errorbar(1000.0 / T, np.log(d), yerr=yerr, fmt="o", color=color, capsize=3, gid="data")
        err = s["Ea_sigma_eV"]
        err_text = "n/a" if err is None or not np.isfinite(err) else f"{err:.3f}"
        ax.plot(1000.0 / np.asarray(s["line_T_K"], float), np.log(s["line_D"]), color=color,
                lw=1.2, gid="fit", label=f"{label}: Ea = {s['Ea_eV']:.3f} ± {err_text} eV")
    ax.set_xlabel("1000 / T (1/K)")
    ax.set_ylabel(f"ln (D / ({unit}))")
    ax.legend(fontsize=8, title="series: Arrhenius fit", title_fontsize=8)
    ax.set_title(title or "Arrhenius plots compared", fontsize=10)
    fig.tight_layout()
    return fig

"""Figures of a reactive interface (matplotlib, Agg backend): profiles against time as heat
maps with the reaction fronts, cluster statistics, phase-label fractions, and Li crossings.

Data in, PNG out: plain arrays (the report layer sits below ``analysis``). Units: heights Å,
times ps, number densities atoms/Å³, counts atoms.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402

from seiflow.report.figures import save_figure  # noqa: E402


def _time_edges(times_ps: np.ndarray) -> np.ndarray:
    """Cell edges around each frame time for pcolormesh (a single frame gets 1 ps)."""
    t = np.asarray(times_ps, float)
    if t.size == 1:
        return np.array([t[0] - 0.5, t[0] + 0.5])
    mid = 0.5 * (t[1:] + t[:-1])
    return np.concatenate([[2 * t[0] - mid[0]], mid, [2 * t[-1] - mid[-1]]])


def profile_heatmaps(times_ps: np.ndarray, edges_A: np.ndarray, density: np.ndarray,
                     species: Sequence[str], path: Path, axis: str = "z",
                     fronts: Mapping[str, np.ndarray] | None = None, title: str = "") -> Path:
    """One heat map per species: number density (atoms/Å³, colour) against time (ps, x) and
    height along ``axis`` (Å, y); ``density`` is (nframes, nspecies, nbins). ``fronts``: front
    positions (Å, per frame) to draw, wrapped into the cell."""
    density = np.asarray(density, float)
    ns = len(species)
    fig, axes = plt.subplots(1, ns, figsize=(3.9 * ns + 0.6, 3.8), dpi=110, squeeze=False,
                             sharey=True, layout="constrained")
    te, edges = _time_edges(times_ps), np.asarray(edges_A, float)
    period = edges[-1] - edges[0]
    for k, (ax, name) in enumerate(zip(axes[0], species)):
        mesh = ax.pcolormesh(te, edges, density[:, k].T, cmap="viridis", shading="flat")
        bar = fig.colorbar(mesh, ax=ax, fraction=0.06, pad=0.02)
        bar.set_label(f"{name} (atoms/Å³)", fontsize=8)
        bar.ax.tick_params(labelsize=7)
        for n, (label, pos) in enumerate((fronts or {}).items()):
            y = edges[0] + np.mod(np.asarray(pos, float) - edges[0], period)
            ax.plot(times_ps, y, ".", ms=3, color=f"C{(n + 1) % 10}", label=f"front {label}")
        ax.set_xlabel("time (ps)")
        ax.set_title(name, fontsize=9)
        if fronts:
            ax.legend(fontsize=7, loc="upper right")
    axes[0][0].set_ylabel(f"height along {axis} (Å)")
    fig.suptitle(title or "number-density profiles", fontsize=10)
    return save_figure(fig, path)


def cluster_plot(times_ps: np.ndarray, n_clusters: np.ndarray, largest_fraction: np.ndarray,
                 percolates: np.ndarray, last_sizes: np.ndarray, path: Path,
                 species: str = "In", title: str = "") -> Path:
    """Clusters (>= 2 atoms) and the largest cluster's share of the ``species`` atoms against
    time (ps), frames whose largest cluster percolates marked; the last frame's size histogram."""
    t = np.asarray(times_ps, float)
    frac = np.asarray(largest_fraction, float)
    perc = np.asarray(percolates, bool).reshape(len(t), -1).any(axis=1)
    fig, (a1, a3) = plt.subplots(1, 2, figsize=(10, 3.8), dpi=110)
    a1.plot(t, n_clusters, color="C0", lw=1.2, label="clusters (≥ 2 atoms)")
    a1.set_xlabel("time (ps)")
    a1.set_ylabel("clusters", color="C0")
    a2 = a1.twinx()
    a2.plot(t, frac, color="C3", lw=1.2, label="largest cluster")
    if perc.any():
        a2.plot(t[perc], frac[perc], "s", ms=4, color="C3", mfc="none",
                label="largest cluster percolates")
    a2.set_ylabel(f"largest cluster / all {species}", color="C3")
    a2.set_ylim(0, 1.05)
    a2.legend(fontsize=7, loc="center right")
    sizes = np.asarray(last_sizes, int)
    if sizes.size:
        a3.hist(sizes, bins=np.arange(0.5, sizes.max() + 1.5, max(1, sizes.max() // 40)),
                color="C2")
    a3.set_xlabel(f"cluster size ({species} atoms), last frame")
    a3.set_ylabel("clusters")
    a3.set_yscale("log" if sizes.size and sizes.max() > 20 else "linear")
    for axis in (a1.yaxis, a3.xaxis) + ((a3.yaxis,) if a3.get_yscale() == "linear" else ()):
        axis.set_major_locator(MaxNLocator(integer=True))  # counts and sizes are whole
    fig.suptitle(title or f"{species} clusters", fontsize=10)
    fig.tight_layout()
    return save_figure(fig, path)


def phase_fraction_plot(times_ps: np.ndarray, fractions: np.ndarray, labels: Sequence[str],
                        path: Path, title: str = "") -> Path:
    """Fraction of all atoms carrying each phase label against time (ps); ``fractions`` is
    (nframes, nlabels)."""
    fr = np.asarray(fractions, float)
    fig, ax = plt.subplots(figsize=(6.4, 3.8), dpi=110)
    for k, name in enumerate(labels):
        ax.plot(times_ps, fr[:, k], lw=1.3, color=f"C{k % 10}", label=name)
    ax.set_xlabel("time (ps)")
    ax.set_ylabel("fraction of atoms")
    ax.set_ylim(0, 1.02)
    ax.legend(fontsize=8)
    ax.set_title(title or "phase labels (coordination rules)", fontsize=10)
    return save_figure(fig, path)


def front_flux_plot(times_ps: np.ndarray, advances: Mapping[str, np.ndarray],
                    cumulative: np.ndarray | None, path: Path, species: str = "Li",
                    title: str = "") -> Path:
    """Advance of each reaction front (Å) and, on a twin axis, the cumulative net crossings of
    the flux plane (atoms) against time (ps)."""
    fig, ax = plt.subplots(figsize=(6.4, 3.8), dpi=110)
    for n, (label, adv) in enumerate(advances.items()):
        ax.plot(times_ps, adv, lw=1.3, color=f"C{n}", label=f"front {label}")
    ax.set_xlabel("time (ps)")
    ax.set_ylabel("front advance (Å)")
    ax.legend(fontsize=8, loc="upper left")
    if cumulative is not None:
        twin = ax.twinx()
        twin.step(times_ps, cumulative, where="post", color="C3", lw=1.0)
        twin.set_ylabel(f"net {species} crossings (atoms)", color="C3")
    ax.set_title(title or "reaction fronts and flux", fontsize=10)
    return save_figure(fig, path)

"""Matplotlib figures (Agg backend). Each function takes data and a path, writes a PNG."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from seiflow.data.stats import DatasetStats  # noqa: E402


def save_figure(fig, path: Path) -> Path:
    """Write ``fig`` as a PNG at ``path`` (folders created), close it, return the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, bbox_inches="tight")
    plt.close(fig)
    return path


def dataset_histograms(stats: DatasetStats, path: Path, title: str = "") -> Path:
    """Energy-per-atom and force-component histograms of a labelled data set."""
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.5), dpi=110)
    if stats.energies_per_atom.size:
        axes[0].hist(stats.energies_per_atom, bins=40, color="tab:blue")
    axes[0].set_xlabel("energy (eV/atom)")
    axes[0].set_ylabel("frames")
    if stats.force_components.size:
        axes[1].hist(stats.force_components, bins=80, color="tab:orange", log=True)
    axes[1].set_xlabel("force component (eV/Å)")
    axes[1].set_ylabel("components")
    fig.suptitle(title or f"{stats.frames} frames, {stats.atoms} atoms")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path


PARITY_UNITS = {"energy": "meV/atom", "forces": "eV/Å", "stress": "GPa"}
# the reference's axis: energy per atom in eV/atom (absolute values of hundreds of eV/atom
# stay readable), the error in meV/atom; forces and stress in their own unit on both axes
_REF_AXIS = {"energy": ("reference energy (eV/atom)", 1e-3),
             "forces": ("reference force component (eV/Å)", 1.0),
             "stress": ("reference stress component (GPa)", 1.0)}


def parity_figure(parity: dict, title: str = ""):
    """Error plots (the Figure, not saved): one panel per component with data (energy,
    forces, stress), predicted − reference against the reference, one colour per group, each
    group's RMSE and MAE in the legend. ``parity``: {component: metrics.Parity} (energy in
    meV/atom, forces eV/Å, stress GPa)."""
    present = [c for c in PARITY_UNITS if parity.get(c) is not None and parity[c].ref]
    n = max(len(present), 1)
    fig, axes = plt.subplots(1, n, figsize=(4.6 * n, 4.2), dpi=110, squeeze=False)
    for ax, comp in zip(axes[0], present):
        _error_panel(ax, comp, parity[comp])
    if not present:
        axes[0][0].text(0.5, 0.5, "no labelled values", ha="center", va="center",
                        transform=axes[0][0].transAxes)
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def parity_plots(parity: dict, path: Path, title: str = "") -> Path:
    """``parity_figure`` written as a PNG at ``path`` (the file name the reports link)."""
    return save_figure(parity_figure(parity, title), path)


def _error_panel(ax, comp: str, p) -> None:
    unit = PARITY_UNITS[comp]
    xlabel, scale = _REF_AXIS[comp]
    ref, pred, groups = np.asarray(p.ref), np.asarray(p.pred), np.asarray(p.group)
    x, err = ref * scale, pred - ref
    for k, g in enumerate(sorted(set(p.group))):
        keep = groups == g
        e = p.errors(g)
        ax.scatter(x[keep], err[keep], s=6 if comp == "energy" else 3, alpha=0.6,
                   color=f"C{k % 10}",
                   label=f"{g} (n={e['n']}): RMSE {e['rmse']:.3g}, MAE {e['mae']:.3g}")
    ax.axhline(0.0, color="k", lw=0.8)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(f"{comp} error, predicted − reference ({unit})")
    e = p.errors()
    ax.set_title(f"{comp}: RMSE {e['rmse']:.3g} {unit}, MAE {e['mae']:.3g} {unit} "
                 f"(n={e['n']})", fontsize=9)
    ax.legend(fontsize=7, markerscale=2, title=f"group: RMSE, MAE ({unit})", title_fontsize=7)

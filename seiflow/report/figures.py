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


def parity_plots(parity: dict, path: Path, title: str = "") -> Path:
    """Predicted vs reference for forces (eV/Å) and stress (GPa); for energy (meV/atom) the
    *error* (predicted - reference) against the reference energy relative to its mean, so a few
    meV/atom stay visible on a range of hundreds. Coloured by group, RMSE/MAE in each panel.
    ``parity``: {component: metrics.Parity}."""
    from seiflow.potentials.metrics import COMPONENTS

    present = [c for c in COMPONENTS if parity.get(c) is not None and parity[c].ref]
    fig, axes = plt.subplots(1, max(len(present), 1), figsize=(4.2 * max(len(present), 1), 4),
                             dpi=110, squeeze=False)
    for ax, comp in zip(axes[0], present):
        _parity_panel(ax, comp, parity[comp], COMPONENTS[comp])
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path


def _parity_panel(ax, comp: str, p, unit: str) -> None:
    ref, pred, groups = np.asarray(p.ref), np.asarray(p.pred), np.asarray(p.group)
    errors = comp == "energy"
    x = ref - ref.mean() if errors else ref
    y = pred - ref if errors else pred
    for g in sorted(set(p.group)):
        keep = groups == g
        ax.scatter(x[keep], y[keep], s=4, alpha=0.6, label=g)
    if errors:
        ax.axhline(0.0, color="k", lw=0.8)
        ax.set_xlabel(f"reference - mean ({unit})")
        ax.set_ylabel(f"predicted - reference ({unit})")
    else:
        lo, hi = float(min(ref.min(), pred.min())), float(max(ref.max(), pred.max()))
        ax.plot([lo, hi], [lo, hi], "k-", lw=0.8)
        ax.set_xlabel(f"reference ({unit})")
        ax.set_ylabel(f"predicted ({unit})")
    e = p.errors()
    ax.set_title(f"{comp}: RMSE {e['rmse']:.3g}, MAE {e['mae']:.3g} {unit}", fontsize=9)
    if len(set(p.group)) > 1:
        ax.legend(fontsize=7, markerscale=2)

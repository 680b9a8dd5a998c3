"""Matplotlib figures (Agg backend). Each function takes data and a path, writes a PNG."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from seiflow.data.stats import DatasetStats  # noqa: E402


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

"""g(r) of two MD runs of the same cell at the same temperature, overlaid pair by pair (the
reference method's MD against the fitted potential's; Golov & Carrasco's Fig. 1 check).

Data in, PNG out: ``r`` in Å (bin centres) and, per species pair, the two g(r) arrays.
"""

from __future__ import annotations

import math
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from seiflow.report.figures import save_figure  # noqa: E402


def rdf_overlay_plot(r, curves: dict[str, tuple], path: Path,
                     labels: tuple[str, str] = ("reference MD", "MLIP MD"),
                     title: str = "") -> Path:
    """One panel per pair (key ``"A-B"``): g(r) of the first run (solid) and the second
    (dashed) against r (Å)."""
    n = max(1, len(curves))
    cols = min(3, n)
    rows = math.ceil(n / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(3.4 * cols, 2.6 * rows), dpi=110,
                             squeeze=False)
    r = np.asarray(r, dtype=float)
    for ax, (pair, (g_a, g_b)) in zip(axes.flat, curves.items()):
        ax.plot(r, np.asarray(g_a, dtype=float), color="k", lw=1.3, label=labels[0])
        ax.plot(r, np.asarray(g_b, dtype=float), color="C3", lw=1.2, ls="--", label=labels[1])
        ax.set_title(pair.replace("-", "–"), fontsize=9)
        ax.set_xlim(0, float(r[-1]) if len(r) else 1.0)
        ax.set_ylim(bottom=0)
        ax.set_xlabel("r (Å)", fontsize=8)
        ax.set_ylabel("g(r)", fontsize=8)
        ax.tick_params(labelsize=7)
    for ax in list(axes.flat)[len(curves):]:
        ax.axis("off")
    axes.flat[0].legend(fontsize=7, loc="upper right")
    fig.suptitle(title or "radial distribution functions", fontsize=10)
    fig.tight_layout()
    return save_figure(fig, path)


__all__ = ["rdf_overlay_plot"]

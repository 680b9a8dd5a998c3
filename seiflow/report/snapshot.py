"""PNG snapshot of a structure (ASE's matplotlib renderer; no display needed)."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from ase import Atoms  # noqa: E402
from ase.visualize.plot import plot_atoms  # noqa: E402


def snapshot_png(atoms: Atoms, path: Path, rotation: str = "10x,-10y,0z") -> Path:
    """Draw ``atoms`` (with its cell) to ``path`` and return it."""
    fig, ax = plt.subplots(figsize=(5, 5), dpi=100)
    plot_atoms(atoms, ax, rotation=rotation, radii=0.5, show_unit_cell=2)
    title = atoms.info.get("name", atoms.get_chemical_formula())
    ax.set_title(f"{title}  ({len(atoms)} atoms)", fontsize=9)
    ax.set_axis_off()
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path

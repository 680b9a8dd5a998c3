"""Overlay of nudged-elastic-band energy profiles, one per method (e.g. the potential and the
reference), in the style of Li et al., Mater. Horiz. 2025, Fig. 5: energy (eV, relative to the
initial image) against the reaction coordinate (Å).

Data in, PNG out. The report layer sits below ``analysis``, so this takes plain dicts: each is
an ``NEBResult.to_dict()`` or ``NEBProfile.to_dict()`` (or anything with the same keys).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from seiflow.report.figures import save_figure  # noqa: E402


def neb_overlay_plot(profiles: Mapping[str, Mapping], path: Path, title: str = "") -> Path:
    """Image energies (markers) and smooth curves (lines) of several bands, the forward barrier
    of each named in the legend and its highest image ringed, with a dotted line down to the
    initial energy; returns ``path``.

    ``profiles``: label -> dict with ``path_A`` and ``energies_eV`` (image coordinates, Å, and
    energies relative to the first image, eV); optional ``fit_path_A`` / ``fit_energies_eV``
    (smooth curve), ``barrier_forward_eV`` and ``saddle_index`` (else taken from the images).
    """
    if not profiles:
        raise ValueError("no NEB profiles to plot")
    fig, ax = plt.subplots(figsize=(6.4, 4.2), dpi=110)
    for k, (label, d) in enumerate(profiles.items()):
        color = f"C{k % 10}"
        s = np.asarray(d["path_A"], dtype=float)
        e = np.asarray(d["energies_eV"], dtype=float)
        if len(s) != len(e) or len(s) < 2:
            raise ValueError(f"profile {label!r}: path_A and energies_eV must have the same "
                             f"length (>= 2)")
        top = int(d.get("saddle_index", int(np.argmax(e))))
        barrier = float(d.get("barrier_forward_eV", e[top] - e[0]))
        if "fit_path_A" in d and "fit_energies_eV" in d:
            ax.plot(d["fit_path_A"], d["fit_energies_eV"], color=color, lw=1.3)
        else:
            ax.plot(s, e, color=color, lw=1.0, ls="--")
        reaction = round(float(e[-1] - e[0]), 3) + 0.0  # no "-0.000"
        ax.plot(s, e, "o", color=color, ms=5,
                label=f"{label}: Ea = {barrier:.3f} eV, ΔE = {reaction:+.3f} eV")
        ax.plot([s[top]], [e[top]], "o", mfc="none", mec=color, ms=11, mew=1.2)  # saddle
        ax.vlines(s[top], e[0], e[top], color=color, lw=0.8, ls=":")
    ax.axhline(0.0, color="0.6", lw=0.6, ls=":")
    ax.set_xlabel("reaction coordinate (Å)")
    ax.set_ylabel("energy relative to initial state (eV)")
    ax.margins(y=0.12)
    ax.legend(fontsize=8)
    ax.set_title(title or "NEB energy profile", fontsize=10)
    return save_figure(fig, path)

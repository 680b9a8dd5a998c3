"""The reaction analysis of a trajectory of a reactive interface -> reaction.json and PNGs
(`seiflow analyze reaction`).

Reads the frames (every ``every``-th), takes their times (``--frame-dt`` in fs, else each
frame's ``info['time_fs']``), runs :func:`seiflow.analysis.reaction.reaction_series` and writes
``reaction.json`` (units in the keys: Å, ps, atoms/Å³) and four figures into ``out``:
``reaction-profiles.png``, ``reaction-clusters.png``, ``reaction-phases.png``,
``reaction-fronts.png``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from seiflow.analysis.phase_labels import LABELS
from seiflow.analysis.reaction import reaction_series
from seiflow.core.atomic import write_json
from seiflow.core.errors import SeiflowError
from seiflow.report.reaction import (
    cluster_plot, front_flux_plot, phase_fraction_plot, profile_heatmaps,
)
from seiflow.structures.io import read_all
from seiflow.workflows.transport import frame_times_fs

FIGURES = ("reaction-profiles.png", "reaction-clusters.png", "reaction-phases.png",
           "reaction-fronts.png")


def read_frames(path: Path, every: int = 1) -> list:
    """Every ``every``-th frame of a trajectory file, one-line errors for bad files."""
    if every < 1:
        raise SeiflowError(f"--every must be a positive number of frames, got {every}")
    return read_all(path, "trajectory file", index=slice(None, None, every))


def frame_times_ps(frames: list, every: int, frame_dt_fs: float | None, path: Path) -> np.ndarray:
    """Times (ps): ``frame_dt_fs`` x the original frame index, else info['time_fs']."""
    step_fs = None if frame_dt_fs is None else frame_dt_fs * every
    return frame_times_fs(frames, path, step_fs) / 1000.0


def analyze_reaction(traj: Path, out: Path, axis: str = "z", bin_width: float = 1.0,
                     frame_dt_fs: float | None = None, every: int = 1,
                     cluster_species: tuple[str, ...] = ("In",), cluster_cutoff: float = 3.6,
                     front_of: str = "Li3InCl6", plane_A: float | None = None,
                     front_smooth_A: float = 2.0) -> dict:
    """Analyse ``traj`` and write ``reaction.json`` + figures into ``out``; returns the JSON."""
    frames = read_frames(traj, every)
    times = frame_times_ps(frames, every, frame_dt_fs, traj)
    series = reaction_series(frames, times, axis=axis, bin_width=bin_width,
                             cluster_species=cluster_species, cluster_cutoff=cluster_cutoff,
                             front_of=front_of, front_smooth_A=front_smooth_A,
                             plane_A=plane_A)
    data = {"trajectory": str(traj), "every": every, **series.to_dict()}
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    write_json(out / "reaction.json", data, allow_nan=False)  # NaN is null: strict JSON
    _figures(series, out, Path(traj).name)
    data["figures"] = [str(out / f) for f in FIGURES]
    return data


def _figures(series, out: Path, name: str) -> None:
    p, c = series.profiles, series.clusters
    fronts = {k: f.position_A for k, f in series.fronts.items()}
    ax = "xyz"[p.axis]
    profile_heatmaps(p.times_ps, p.edges_A, p.number_density, p.species, out / FIGURES[0],
                     axis=ax, fronts=fronts, title=f"{name}: number density along {ax}")
    cluster_plot(p.times_ps, c.n_clusters, c.largest_fraction, c.percolates, c.sizes[-1],
                 out / FIGURES[1], species="-".join(c.species),
                 title=f"{name}: clusters within {c.cutoff_A:g} Å")
    phase_fraction_plot(p.times_ps, series.label_fractions, LABELS, out / FIGURES[2],
                        title=f"{name}: phase labels")
    flux = series.flux
    front_flux_plot(p.times_ps, {k: f.advance_A for k, f in series.fronts.items()},
                    None if flux is None else flux.cumulative, out / FIGURES[3],
                    species=flux.species if flux else "Li",
                    title=f"{name}: fronts of {series.front_of}"
                    + (f", flux plane at {flux.plane_A:.2f} Å" if flux else ""))

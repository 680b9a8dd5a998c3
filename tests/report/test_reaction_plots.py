"""Reaction figures from plain arrays: each writes a PNG, also with percolating frames, many
cluster sizes, missing fronts (NaN) and no flux."""

import numpy as np

from seiflow.report.reaction import (
    cluster_plot, front_flux_plot, phase_fraction_plot, profile_heatmaps,
)


def test_reaction_figures(tmp_path):
    t = np.linspace(0, 10, 6)
    edges = np.linspace(0, 30, 31)
    dens = np.random.default_rng(0).random((6, 2, 30)) * 0.05
    fronts = {"-": np.r_[np.nan, 5, 6, 7, 8, 9], "+": np.full(6, 40.0)}  # 40 Å drawn at 10 Å
    paths = [
        profile_heatmaps(t, edges, dens, ["Cl", "Li"], tmp_path / "p.png", fronts=fronts),
        profile_heatmaps(t[:1], edges, dens[:1], ["Li"], tmp_path / "p1.png"),
        cluster_plot(t, np.arange(6), np.linspace(0.1, 1, 6),
                     np.array([[0, 0, 0]] * 4 + [[0, 0, 1], [1, 1, 1]], bool),
                     np.r_[np.ones(50, int), 3, 200], tmp_path / "c.png"),
        cluster_plot(t, np.zeros(6), np.zeros(6), np.zeros((6, 3), bool), np.zeros(0, int),
                     tmp_path / "c0.png"),
        phase_fraction_plot(t, np.full((6, 5), 0.2), ["a", "b", "c", "d", "e"], tmp_path / "f.png"),
        front_flux_plot(t, {"-": np.arange(6.0)}, np.r_[0, 1, 1, 2, 3, 3], tmp_path / "x.png"),
        front_flux_plot(t, {"-": np.arange(6.0)}, None, tmp_path / "x0.png"),
    ]
    for p in paths:
        assert p.stat().st_size > 1000

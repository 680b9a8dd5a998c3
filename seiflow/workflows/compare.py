"""`seiflow analyze rdf|msd|arrhenius --compare`: several runs (temperatures, models) overlaid in
one figure with the same axes and units, and their numbers side by side in one JSON.

Each run goes through the same analysis as the single-run commands (workflows/transport.py:
g(r) and its first minimum, unwrapped MSD and D from the diffusive window, the Arrhenius fit);
the overlay figures are drawn by report/compare.py. Run names come from ``labels`` or, by
default, from the inputs' file names (their folder names where the file names repeat, as for
``run-300K/trajectory.extxyz``, ``run-600K/trajectory.extxyz``).

Outputs in ``out``: ``rdf-compare.json`` + ``.png``, ``msd-compare.json`` + ``.png``,
``arrhenius-compare.json`` + ``.png``. Units: r in Å, times fs (plots in ps), MSD Å², D in
cm²/s (and Å²/ps), T in K, Ea in eV.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from seiflow.analysis import arrhenius_fit
from seiflow.core.errors import SeiflowError
from seiflow.report.compare import (
    arrhenius_compare_figure, msd_compare_figure, rdf_compare_figure,
)
from seiflow.report.figures import save_figure
from seiflow.workflows.transport import (
    msd_chain, rdf_record, write_result_json, parse_arrhenius_inputs, parse_pair, read_trajectory,
)


def run_labels(inputs: Sequence[str | Path], labels: str | Sequence[str] | None = None
               ) -> list[str]:
    """One name per input: ``labels`` (a comma-separated string or a list, as many as inputs),
    else the file stems, else (stems repeat) the folder names, else folder/stem."""
    n = len(inputs)
    if n < 2:
        raise SeiflowError(f"--compare needs at least 2 inputs to overlay, got {n}")
    if labels:
        names = [s.strip() for s in labels.split(",")] if isinstance(labels, str) else \
            [str(s) for s in labels]
        if len(names) != n or not all(names):
            raise SeiflowError(f"--labels gives {len(names)} name(s) for {n} inputs: give one "
                               "non-empty name per input, comma-separated")
        if len(set(names)) != n:
            raise SeiflowError(f"--labels repeats a name: {', '.join(names)}")
        return names
    paths = [Path(str(p)) for p in inputs]
    for names in ([p.stem for p in paths], [p.parent.name for p in paths],
                  [f"{p.parent.name}/{p.stem}" for p in paths]):
        if len(set(names)) == n and all(names):
            return names
    return [str(p) for p in inputs]


def compare_rdf(trajs: Sequence[Path], pairs: Sequence[str], r_max: float, nbins: int,
                out: Path, labels: str | Sequence[str] | None = None) -> dict:
    """g(r) and running CN of each pair in each trajectory, one panel per pair, one line per
    run; ``rdf-compare.json`` (first minimum in Å and first-shell CN per run and pair) and
    ``rdf-compare.png`` in ``out``."""
    names = run_labels(trajs, labels)
    parsed = [parse_pair(p) for p in pairs]
    if not parsed:
        raise SeiflowError("give at least one --pair A-B")
    curves, marks, rows = {}, {}, []
    for path, name in zip(trajs, names):
        frames = read_trajectory(path)
        curves[name], marks[name] = [], []
        for pair in parsed:
            rec, res, mark = rdf_record(frames, pair, r_max, nbins, Path(path))
            curves[name].append(res)
            marks[name].append(mark)
            rows.append({"run": name, "trajectory": str(path), **rec})
    out = Path(out)
    png = save_figure(rdf_compare_figure(curves, marks, f"g(r) of {len(names)} runs"),
                      out / "rdf-compare.png")
    return write_result_json(out / "rdf-compare.json", {"r_max_A": r_max, "nbins": nbins,
                                                  "runs": names, "plot": png.name,
                                                  "results": rows})


def compare_msd(trajs: Sequence[Path], species: str, out: Path, dt_fs: float | None = None,
                labels: str | Sequence[str] | None = None) -> dict:
    """Tracer MSD and D of ``species`` in each trajectory, overlaid on one log–log plot:
    ``msd-compare.json`` and ``msd-compare.png`` in ``out``."""
    names = run_labels(trajs, labels)
    runs, rows = {}, []
    for path, name in zip(trajs, names):
        _, res, d = msd_chain(Path(path), species, dt_fs)
        runs[name] = {"t_fs": res.t_fs, "msd_A2": res.msd, "window_fs": d.window_fs,
                      "D_cm2_s": d.D_cm2_s, "D_sigma_cm2_s": d.D_sigma_cm2_s}
        rows.append({"run": name, "trajectory": str(path), "n_selected": res.n_selected,
                     "D_A2_ps": d.D_A2_ps, "D_sigma_A2_ps": d.D_sigma_A2_ps,
                     "D_cm2_s": d.D_cm2_s, "D_sigma_cm2_s": d.D_sigma_cm2_s,
                     "window_fs": list(d.window_fs), "n_points": d.n_points,
                     "loglog_slope": d.loglog_slope, "t_ps": res.t_ps, "msd_A2": res.msd})
    out = Path(out)
    png = save_figure(msd_compare_figure(runs, species, f"{species} MSD of {len(names)} runs"),
                      out / "msd-compare.png")
    return write_result_json(out / "msd-compare.json", {"species": species, "runs": names,
                                                  "plot": png.name, "results": rows})


def _series_points(item: str | Path) -> list[dict]:
    """A series' points: a diffusion.json, or comma-separated T:D[:sigma] (K, cm²/s)."""
    text = str(item)
    return parse_arrhenius_inputs([text] if Path(text).is_file() else text.split(","))


def _fit_series(name: str, points: list[dict], confidence: float) -> tuple[dict, dict]:
    T = np.array([p["T_K"] for p in points])
    D = np.array([p["D_cm2_s"] for p in points])
    sig = np.array([p["D_sigma_cm2_s"] for p in points]) \
        if all(p["D_sigma_cm2_s"] for p in points) else None
    try:
        fit = arrhenius_fit(T, D, sig)
    except SeiflowError as exc:
        raise SeiflowError(f"series {name!r}: {exc}") from None
    line = fit.extrapolate(1 / np.linspace(1 / T.max(), 1 / T.min(), 50), confidence)
    plot = {"T_K": T, "D": D, "D_sigma": sig, "line_T_K": line.T_K, "line_D": line.D,
            "Ea_eV": fit.Ea_eV, "Ea_sigma_eV": fit.Ea_sigma_eV}
    row = {"series": name, "points": points, "Ea_eV": fit.Ea_eV,
           "Ea_sigma_eV": fit.Ea_sigma_eV, "D0_cm2_s": fit.D0, "n_points": fit.n_points,
           "weighted": fit.weighted, "chi2_reduced": fit.chi2_reduced}
    return plot, row


def compare_arrhenius(inputs: Sequence[str | Path], out: Path,
                      labels: str | Sequence[str] | None = None,
                      confidence: float = 0.95) -> dict:
    """One Arrhenius fit per input (a diffusion.json of ``analyze diffusion``, or
    comma-separated T:D[:sigma] points), all on one plot: ``arrhenius-compare.json`` (Ea ± σ in
    eV, D0 in cm²/s per series) and ``arrhenius-compare.png`` in ``out``."""
    names = run_labels(inputs, labels)
    if not labels:  # points typed on the command line have no file name to show
        names = [n if Path(str(i)).is_file() else f"series {k + 1}"
                 for k, (i, n) in enumerate(zip(inputs, names))]
    series, rows = {}, []
    for item, name in zip(inputs, names):
        series[name], row = _fit_series(name, _series_points(item), confidence)
        rows.append({"input": str(item), **row})
    out = Path(out)
    png = save_figure(arrhenius_compare_figure(series, title=f"Arrhenius fits of {len(names)} "
                                               "series"), out / "arrhenius-compare.png")
    return write_result_json(out / "arrhenius-compare.json", {"series": names, "plot": png.name,
                                                        "results": rows})

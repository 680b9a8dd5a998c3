"""`seiflow analyze`: turn MD trajectories (``seiflow md``'s, workflows/md.py, or any) into
g(r), MSD, D, Arrhenius fits and Nernst–Einstein conductivities with JSON and PNG outputs.

Units throughout: distances Å, times fs (plots in ps), D in Å²/ps and cm²/s (1 Å²/ps = 1e-4
cm²/s), T in K, Ea in eV, volumes Å³, conductivity S/m and mS/cm (1 S/m = 10 mS/cm).

Temperature of a trajectory (``diffusion``, ``conductivity``): ``--temperature`` if given, else
``temperature_K`` of the ``md-summary.yml`` that ``seiflow md`` writes beside
``trajectory.extxyz``, else ``info['temperature_K']`` of the first frame.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import yaml
from ase import Atoms

from seiflow.analysis import (
    HAVEN_CAVEAT, DiffusionResult, MSDResult, UnwrapError, arrhenius_fit, diffusion_coefficient,
    first_minimum, msd, nernst_einstein, rdf, rdf_peaks, select_species, unwrap,
)
from seiflow.core.atomic import write_json
from seiflow.core.elements import check_element
from seiflow.core.errors import SeiflowError
from seiflow.report.transport import arrhenius_plot, msd_plot, rdf_plot
from seiflow.structures.io import read_all
from seiflow.workflows.md import MD_SUMMARY, TRAJECTORY

log = logging.getLogger(__name__)


# ---------------------------------------------------------------------------------------------
# reading trajectories


def read_trajectory(path: str | Path) -> list[Atoms]:
    """Every frame of a trajectory file (no overlap check: MD frames may come close)."""
    return read_all(path, "trajectory file")


def frame_times_fs(frames: list[Atoms], path: Path, dt_fs: float | None = None) -> np.ndarray:
    """Frame times (fs): ``dt_fs`` apart if given, else each frame's ``info['time_fs']``."""
    if dt_fs is not None:
        if not dt_fs > 0:
            raise SeiflowError(f"the time between frames must be positive (fs), got {dt_fs}")
        return np.arange(len(frames)) * float(dt_fs)
    if all("time_fs" in f.info for f in frames):
        return np.array([float(f.info["time_fs"]) for f in frames])
    raise SeiflowError(f"{path}: the frames carry no info time_fs; pass --frame-dt, the time "
                       "between frames in fs")


def _check_temperature(T: float, where: str) -> float:
    if not (isinstance(T, (int, float)) and math.isfinite(T) and T > 0):
        raise SeiflowError(f"temperature must be a positive number of K, got {T} ({where})")
    return float(T)


def trajectory_temperature(path: Path, frames: list[Atoms],
                           temperature_K: float | None = None) -> tuple[float, str]:
    """(T in K, where it came from): ``temperature_K``, the MD summary beside a
    ``trajectory.extxyz``, or the first frame's ``info['temperature_K']``."""
    path = Path(path)
    if temperature_K is not None:
        return _check_temperature(temperature_K, "--temperature"), "--temperature"
    summary = path.parent / MD_SUMMARY
    if path.name == TRAJECTORY and summary.is_file():
        data = yaml.safe_load(summary.read_text()) or {}
        if data.get("temperature_K") is not None:
            return _check_temperature(data["temperature_K"], str(summary)), str(summary)
    if "temperature_K" in frames[0].info:
        T = frames[0].info["temperature_K"]
        return _check_temperature(T, f"{path} frame 0"), f"{path} frame info"
    raise SeiflowError(f"no temperature known for {path} (no {MD_SUMMARY} beside it, no "
                       "temperature_K in its frames); pass --temperature K")


def _labels(paths: Sequence[Path]) -> list[str]:
    """Short unique names for output files: the file stem, with its folder when stems repeat."""
    stems = [Path(p).stem for p in paths]
    labels = [f"{Path(p).parent.name}-{s}" if stems.count(s) > 1 else s
              for p, s in zip(paths, stems)]
    return [lab if labels.count(lab) == 1 else f"{lab}-{k}" for k, lab in enumerate(labels)]


def _jsonable(value):
    """JSON-safe copy: numpy to plain types, nan/inf to None, paths to strings."""
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return _jsonable(value.tolist())
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, Path):
        return str(value)
    return value


def write_result_json(path: Path, data: dict) -> dict:
    """``data`` as JSON (NumPy values converted) at ``path``, atomically; returns the clean data."""
    path.parent.mkdir(parents=True, exist_ok=True)
    clean = _jsonable(data)
    write_json(path, clean, ensure_ascii=False)
    return clean


# ---------------------------------------------------------------------------------------------
# g(r)


def parse_pair(text: str) -> tuple[str, str]:
    """'Li-O' -> ('Li', 'O'), both checked to be elements."""
    parts = text.split("-")
    if len(parts) != 2 or not all(parts):
        raise SeiflowError(f"pair {text!r}: write it as A-B, e.g. Li-O")
    for symbol in parts:
        check_element(symbol)
    return parts[0], parts[1]


def rdf_record(frames: list[Atoms], pair: tuple[str, str], r_max: float, nbins: int,
               path: Path) -> tuple[dict, object, tuple[float, float] | None]:
    try:
        res = rdf(frames, pair, r_max, nbins)
    except SeiflowError as exc:
        raise SeiflowError(f"{path}: {exc}") from None
    note = None
    try:
        mark: tuple[float, float] | None = first_minimum(res)
    except SeiflowError as exc:
        mark, note = None, str(exc)
    rec = {"pair": "-".join(pair), "n_frames": res.n_frames, "rho_B_per_A3": res.rho_b,
           "first_minimum_A": mark[0] if mark else None,
           "cn_first_shell": mark[1] if mark else None,
           "peaks_A": rdf_peaks(res), "note": note,
           "r_A": res.r, "g": res.g, "cn": res.cn}
    return rec, res, mark


def analyze_rdf(trajs: Sequence[Path], pairs: Sequence[str], r_max: float, nbins: int,
                out: Path) -> dict:
    """g(r) and running CN of each pair in each trajectory, averaged over all frames.

    ``r_max`` in Å. Writes ``rdf.json`` (r in Å, g, CN, first minimum in Å with the CN there,
    peak positions in Å) and ``rdf-<trajectory>.png`` into ``out``.
    """
    parsed = [parse_pair(p) for p in pairs]
    if not parsed:
        raise SeiflowError("give at least one --pair A-B")
    out = Path(out)
    results = []
    for path, label in zip(trajs, _labels(trajs)):
        frames = read_trajectory(path)
        recs, curves, marks = [], [], []
        for pair in parsed:
            rec, res, mark = rdf_record(frames, pair, r_max, nbins, Path(path))
            recs.append(rec)
            curves.append(res)
            marks.append(mark)
        png = rdf_plot(curves, out / f"rdf-{label}.png", marks, title=f"{path}")
        results += [{"trajectory": str(path), "plot": png.name, **r} for r in recs]
    return write_result_json(out / "rdf.json",
                             {"r_max_A": r_max, "nbins": nbins, "results": results})


# ---------------------------------------------------------------------------------------------
# MSD and diffusion


def msd_chain(path: Path, species: str, dt_fs: float | None
              ) -> tuple[list[Atoms], MSDResult, DiffusionResult]:
    """Read, unwrap, MSD of ``species`` (COM drift removed) and D of one trajectory."""
    check_element(species)
    frames = read_trajectory(path)
    try:
        mask = select_species(frames[0], species)
        times = frame_times_fs(frames, path, dt_fs)
        pos = unwrap(frames)
        res = msd(pos, times, mask, masses=frames[0].get_masses())
        d = diffusion_coefficient(res)
    except UnwrapError as exc:
        raise SeiflowError(f"{path}: cannot unwrap the trajectory: {exc}") from None
    except SeiflowError as exc:
        raise SeiflowError(f"{path} ({species}): {exc}") from None
    return frames, res, d


def _diffusion_record(path: Path, species: str, label: str, res: MSDResult, d: DiffusionResult,
                      out: Path) -> dict:
    title = f"{species} in {path}"
    png = msd_plot(res.t_fs, res.msd, d.window_fs, d.D_A2_ps, out / f"msd-{label}.png",
                   blocks=(res.block_t_fs, res.block_msd), dim=d.dim, title=title)
    return {"trajectory": str(path), "species": species, "n_frames": res.n_frames,
            "n_selected": res.n_selected, "dt_fs": res.dt_fs,
            "D_A2_ps": d.D_A2_ps, "D_sigma_A2_ps": d.D_sigma_A2_ps,
            "D_cm2_s": d.D_cm2_s, "D_sigma_cm2_s": d.D_sigma_cm2_s,
            "window_fs": list(d.window_fs), "n_points": d.n_points,
            "loglog_slope": d.loglog_slope, "com_removed": res.com_removed, "plot": png.name}


def analyze_msd(trajs: Sequence[Path], species: str, out: Path,
                dt_fs: float | None = None) -> dict:
    """Tracer MSD and D of ``species`` in each trajectory (D in Å²/ps and cm²/s, block σ).

    Writes ``msd.json`` (per trajectory: D ± σ, fit window in fs, MSD curve in ps and Å²) and
    ``msd-<trajectory>.png`` into ``out``.
    """
    out = Path(out)
    results = []
    for path, label in zip(trajs, _labels(trajs)):
        _, res, d = msd_chain(Path(path), species, dt_fs)
        rec = _diffusion_record(Path(path), species, label, res, d, out)
        results.append({**rec, "t_ps": res.t_ps, "msd_A2": res.msd})
    return write_result_json(out / "msd.json", {"species": species, "results": results})


def analyze_diffusion(trajs: Sequence[Path], species: str, out: Path,
                      temperature_K: float | None = None, dt_fs: float | None = None) -> dict:
    """D ± σ of ``species`` and the temperature (K) of each trajectory: ``diffusion.json``, the
    input of ``analyze_arrhenius``, and ``msd-<trajectory>.png`` in ``out``."""
    out = Path(out)
    results = []
    for path, label in zip(trajs, _labels(trajs)):
        frames, res, d = msd_chain(Path(path), species, dt_fs)
        T, source = trajectory_temperature(Path(path), frames, temperature_K)
        rec = _diffusion_record(Path(path), species, label, res, d, out)
        results.append({**rec, "T_K": T, "temperature_source": source})
    return write_result_json(out / "diffusion.json", {"species": species, "results": results})


# ---------------------------------------------------------------------------------------------
# Arrhenius


def _point(T: float, D: float, sigma: float | None, source: str) -> dict:
    _check_temperature(T, source)
    if not (math.isfinite(D) and D > 0):
        raise SeiflowError(f"D must be a positive number of cm²/s, got {D} ({source})")
    if sigma is not None and not (math.isfinite(sigma) and sigma >= 0):
        raise SeiflowError(f"σ of D must be >= 0 (cm²/s), got {sigma} ({source})")
    return {"T_K": T, "D_cm2_s": D, "D_sigma_cm2_s": sigma or None, "source": source}


def _points_from_json(path: Path) -> list[dict]:
    try:
        data = json.loads(path.read_text())
        rows = data["results"]
        return [_point(float(r["T_K"]), float(r["D_cm2_s"]),
                       None if r.get("D_sigma_cm2_s") is None else float(r["D_sigma_cm2_s"]),
                       f"{path}: {r.get('trajectory', '?')}") for r in rows]
    except (OSError, json.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
        raise SeiflowError(f"{path} is not a diffusion.json of `seiflow analyze diffusion` "
                           f"({type(exc).__name__}: {exc})") from None


def parse_arrhenius_inputs(inputs: Sequence[str | Path]) -> list[dict]:
    """Points (T in K, D and σ in cm²/s) from ``diffusion.json`` files or 'T:D[:sigma]'."""
    points: list[dict] = []
    for item in inputs:
        text = str(item)
        path = Path(text)
        if path.is_file():
            points += _points_from_json(path)
            continue
        if ":" not in text:
            raise SeiflowError(f"file not found: {text} (an input is a diffusion.json or "
                               "T:D[:sigma] with T in K, D in cm²/s)")
        try:
            values = [float(v) for v in text.split(":")]
        except ValueError:
            values = []
        if len(values) not in (2, 3):
            raise SeiflowError(f"{text!r} is neither a file nor T:D[:sigma] (T in K, D and sigma "
                               "in cm²/s)")
        points.append(_point(values[0], values[1], values[2] if len(values) == 3 else None,
                             repr(text)))
    return points


def analyze_arrhenius(inputs: Sequence[str | Path], out: Path, at_K: float = 300.0,
                      confidence: float = 0.95) -> dict:
    """Arrhenius fit of D(T): Ea ± σ (eV), D0 and D at ``at_K`` (K) with its ``confidence``
    interval (cm²/s). Weighted by σ of D when every point has one. Writes ``arrhenius.json`` and
    ``arrhenius.png`` into ``out``."""
    points = parse_arrhenius_inputs(inputs)
    _check_temperature(at_K, "--at")
    T = np.array([p["T_K"] for p in points])
    D = np.array([p["D_cm2_s"] for p in points])
    have_sigma = all(p["D_sigma_cm2_s"] for p in points)
    sig = np.array([p["D_sigma_cm2_s"] for p in points]) if have_sigma else None
    note = None if have_sigma or not any(p["D_sigma_cm2_s"] for p in points) else \
        "unweighted fit: not every point has a σ"
    fit = arrhenius_fit(T, D, sig)
    ext = fit.extrapolate(at_K, confidence)
    inv = np.linspace(1 / max(T.max(), at_K), 1 / min(T.min(), at_K), 100)
    line = fit.extrapolate(1 / inv, confidence)
    out = Path(out)
    png = arrhenius_plot(T, D, sig, line.T_K, line.D, line.ci_low, line.ci_high, fit.Ea_eV,
                         fit.Ea_sigma_eV, out / "arrhenius.png", confidence=confidence,
                         extrapolated=(at_K, float(ext.D), float(ext.ci_low), float(ext.ci_high)))
    data = {"points": points, "Ea_eV": fit.Ea_eV, "Ea_sigma_eV": fit.Ea_sigma_eV,
            "D0_cm2_s": fit.D0, "ln_D0_sigma": fit.ln_D0_sigma,
            "chi2_reduced": fit.chi2_reduced, "n_points": fit.n_points, "weighted": fit.weighted,
            "note": note,
            "extrapolation": {"T_K": at_K, "D_cm2_s": float(ext.D), "confidence": confidence,
                              "ci_low_cm2_s": float(ext.ci_low),
                              "ci_high_cm2_s": float(ext.ci_high)},
            "plot": png.name}
    return write_result_json(out / "arrhenius.json", data)


# ---------------------------------------------------------------------------------------------
# conductivity


def analyze_conductivity(traj: Path, species: str, z: int, out: Path,
                         temperature_K: float | None = None, dt_fs: float | None = None,
                         haven_ratio: float = 1.0) -> dict:
    """Nernst–Einstein conductivity (S/m, mS/cm) of ``species`` with charge ``z`` (e) from its
    tracer D, the carrier count and the mean cell volume (Å³) of the trajectory.

    Writes ``conductivity.json`` (with the Haven-ratio caveat) and ``msd-<trajectory>.png``.
    """
    traj, out = Path(traj), Path(out)
    frames, res, d = msd_chain(traj, species, dt_fs)
    T, source = trajectory_temperature(traj, frames, temperature_K)
    volume = float(np.mean([abs(f.cell.volume) for f in frames]))
    ne = nernst_einstein(d.D_cm2_s, res.n_selected, volume, T, z, haven_ratio)
    rel = d.D_sigma_cm2_s / d.D_cm2_s if d.D_cm2_s > 0 else float("nan")
    rec = _diffusion_record(traj, species, _labels([traj])[0], res, d, out)
    data = {**rec, "z": z, "T_K": T, "temperature_source": source, "n_carriers": res.n_selected,
            "volume_A3": volume, "concentration_mol_L": ne.concentration_mol_L,
            "haven_ratio": haven_ratio, "sigma_S_m": ne.sigma_S_m,
            "sigma_sigma_S_m": ne.sigma_S_m * rel, "sigma_mS_cm": ne.sigma_mS_cm,
            "sigma_sigma_mS_cm": ne.sigma_mS_cm * rel, "caveat": HAVEN_CAVEAT}
    return write_result_json(out / "conductivity.json", data)

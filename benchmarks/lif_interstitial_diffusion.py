"""Interstitial Li in LiF end to end: an MTP learned from the SevenNet-0 teacher, the knock-off
barrier of both side by side, and D(T) -> Arrhenius Ea from production MD with the MTP.

1. ``seiflow learn examples/lif-interstitial.yaml`` (crystal, interstitial and the knock-off hop
   itself, explored at 500-1000 K; reused when finished);
2. ``seiflow validate`` of the final MTP against the teacher (lattice, elastic constants,
   knock-off climbing-image NEB with 3 images; examples/lif-interstitial-validate.yaml);
3. production per temperature in a 3x3x3 LiF cell with one Li interstitial (217 atoms, 12.1 Å
   wide = 3 x the 4.0 Å cutoff), relaxed with the MTP (atoms and cell): NPT at 1 bar (MTK,
   τ 100/500 fs) for --npt-ps, the last half's mean cell, then NVT (Nosé-Hoover chain, τ 100
   fs, 1 fs step) for --ps; γ watched every 20 steps (a run above γ_break = 10, or whose volume
   leaves ±40 %, is discarded; the steps above γ_select = 2 are counted and flag the row);
4. Li tracer MSD -> D over the automatic diffusive window (local log-log slope 1 ± 0.1,
   seiflow.analysis.diffusion.diffusive_D), 5-block σ -> Arrhenius Ea ± σ.

One interstitial among 109 Li: the tracer D is the interstitial's hop rate diluted by 109, so
only its temperature dependence (Ea) is compared, with the NEB barriers and with the literature
for the interstitial(cy) mechanism, 0.20-0.24 eV (docs/md-transport.md).

Run:  OMP_NUM_THREADS=1 .venv/bin/python benchmarks/lif_interstitial_diffusion.py [--ps 500]
      [--jobs 2] [--temperatures 600 700]. Every stage resumes (run folders, MD checkpoints).
The learned model and its validation are copied to benchmarks/results/lif_interstitial/ and
every finished temperature is kept there as T<T>K.json (with the model's hash), so the study
can be spread over several sessions or machines: `--model benchmarks/results/lif_interstitial/
model` skips learning and runs only the temperatures without a row for that model. Writes
benchmarks/results/lif_interstitial_diffusion.json (all rows of the model) and its figures.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import shutil
import subprocess
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import ase.io
import numpy as np
import yaml
from ase import units
from ase.filters import FrechetCellFilter
from ase.optimize import FIRE

sys.path.insert(0, str(Path(__file__).resolve().parent))
from machine import describe  # noqa: E402

from seiflow.analysis import arrhenius_fit, msd, select_species, unwrap  # noqa: E402
from seiflow.analysis.diffusion import diffusive_D  # noqa: E402
from seiflow.md import GammaWatch, MDSettings, run_md  # noqa: E402
from seiflow.md.gamma import GammaBreak  # noqa: E402
from seiflow.potentials.registry import load_potential  # noqa: E402
from seiflow.report.transport import arrhenius_plot, msd_plot  # noqa: E402
from seiflow.structures import DefectSpec, make_defect  # noqa: E402
from seiflow.workflows.run import Run  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
OUT = Path(__file__).resolve().parent / "results"
KEPT = OUT / "lif_interstitial"  # the model, its validation and one row per finished temperature
LITERATURE_EA = (0.20, 0.24)  # eV, interstitial(cy) Li in LiF (docs/md-transport.md)
GAMMA_SELECT, GAMMA_BREAK = 2.0, 10.0


def _seiflow(*args: str) -> None:
    subprocess.run([sys.executable, "-m", "seiflow", *args, "--no-progress"], cwd=ROOT,
                   check=True)


def production_cell(calc):
    """3x3x3 conventional LiF (216 atoms) with one Li interstitial, 217 atoms, ~12.2 Å wide,
    relaxed (atoms and cell) with ``calc``: the NPT starts at the potential's own zero
    pressure (the library cell, at the experimental lattice, is at ~3 GPa for the teacher)."""
    atoms = make_defect(DefectSpec(phase="lif", kind="interstitial", species="Li",
                                   min_width=12.0))
    atoms.calc = calc
    FIRE(FrechetCellFilter(atoms), logfile=None).run(fmax=0.01, steps=500)
    atoms.calc = None
    return atoms


def run_temperature(T: float, model_dir: str, ps: float, npt_ps: float, run: Path) -> dict:
    """NPT to the equilibrium cell, then NVT; D over the automatic diffusive window."""
    model = load_potential(model_dir)
    out = run / "production" / f"{T:g}K"
    t0 = time.perf_counter()
    watch = GammaWatch(select=None, brk=GAMMA_BREAK)
    start = production_cell(model.calculator())
    v0 = start.get_volume()
    npt = MDSettings(ensemble="npt", temperature_K=T, pressure_bar=1.0, timestep_fs=1.0,
                     steps=max(1, int(npt_ps * 1000)), tdamp_fs=100, pdamp_fs=500, traj_stride=100,
                     checkpoint_every=1000, seed=int(T))
    check, npt_frames = None, []
    try:
        cell = start.cell.array
        if npt_ps > 0:
            res = run_md(start, model.calculator(), npt, out / "npt", progress=False,
                         observers=[(watch, 20), (_volume_guard(v0), 20)])
            npt_frames = frames = ase.io.read(res.trajectory, index=":")
            cell = np.mean([f.cell.array for f in frames[len(frames) // 2:]], axis=0)
            check = teacher_check(frames[len(frames) // 2::max(1, len(frames) // 6)],
                                  model.calculator(), T)
            start = frames[-1].copy()
            start.set_cell(cell, scale_atoms=True)
        nvt = MDSettings(ensemble="nvt", temperature_K=T, timestep_fs=1.0,
                         steps=int(ps * 1000), tdamp_fs=100, traj_stride=100,
                         checkpoint_every=10000, seed=int(T) + 1)
        res = run_md(start, model.calculator(), nvt, out / "nvt", progress=False,
                     observers=[(watch, 20)])
    except GammaBreak as exc:
        return {"T_K": T, "failed": str(exc), "max_gamma": watch.max_gamma}
    frames = ase.io.read(res.trajectory, index=":")
    pos, times = unwrap(frames), np.array([f.info["time_fs"] for f in frames])
    m = msd(pos, times, select_species(frames[0], "Li"), masses=frames[0].get_masses(),
            n_blocks=5)
    d, why = diffusive_D(m)
    row = {"T_K": T, "a_A": round(float(np.cbrt(abs(np.linalg.det(cell)))) / 3, 4),
           "a0_relaxed_A": round(float(np.cbrt(v0)) / 3, 4),
           "volume_vs_0K": round(float(abs(np.linalg.det(cell)) / v0), 4),
           "teacher_check_npt": check,
           "max_gamma": round(watch.max_gamma, 3),
           "steps_above_gamma_select": watch.above(GAMMA_SELECT),
           "steps_watched": len(watch.gammas),
           "wall_s": round(time.perf_counter() - t0, 1), "ns_per_day": round(res.ns_per_day, 3)}
    add_frame_gammas(row, npt_frames + frames, model)
    if d is None:
        return {**row, "failed": why}
    msd_plot(m.t_fs, m.msd, d.window_fs, d.D_A2_ps, OUT / f"lif_interstitial_msd_{T:g}K.png",
             blocks=(m.block_t_fs, m.block_msd),
             title=f"LiF + Li interstitial, MTP, {T:g} K")
    return {**row, "D_cm2_s": d.D_cm2_s, "D_sigma_cm2_s": d.D_sigma_cm2_s,
            "window_fs": list(d.window_fs), "loglog_slope": round(d.loglog_slope, 3)}


def add_frame_gammas(row: dict, frames: list, model) -> None:
    """Grade every trajectory frame of a temperature's NPT and NVT runs (every 100 steps) after
    the run, since a resumed run's watch saw only the steps after its restart; fold the frames'
    γ into the row's max γ and flag the row when a watched step or a frame exceeds γ_select."""
    gammas = [float(np.max(model.grade(frame))) for frame in frames]
    row.update(max_gamma_frames=round(max(gammas, default=0.0), 3),
               frames_above_gamma_select=sum(g > GAMMA_SELECT for g in gammas),
               frames_graded=len(gammas))
    row["max_gamma"] = max(row["max_gamma"], row["max_gamma_frames"])
    row.pop("flag", None)
    n_steps, n_frames = row["steps_above_gamma_select"], row["frames_above_gamma_select"]
    if n_steps or n_frames:
        row["flag"] = (f"γ > γ_select {GAMMA_SELECT:g} in {n_steps} of {row['steps_watched']} "
                       f"watched steps and {n_frames} of {len(gammas)} frames: extrapolating")


def teacher_check(frames: list, calc, T: float) -> dict:
    """Pressure (virial + kinetic, GPa) and energy (eV/atom) of the teacher and the MTP on
    frames of the MTP's own NPT run: is the production volume the teacher's too?"""
    from seiflow.reference.sevennet import SevenNetLabeler

    teacher, P, E = SevenNetLabeler().calculator(), [], []
    for frame in frames:
        a = frame.copy()
        kin = len(a) * units.kB * T / a.get_volume()  # ideal-gas part at the thermostat T
        for c in (teacher, calc):
            a.calc = c
            P.append((-np.trace(a.get_stress(voigt=False)) / 3 + kin) / units.GPa)
            E.append(a.get_potential_energy() / len(a))
    (p_t, p_m), (e_t, e_m) = np.reshape(P, (-1, 2)).T, np.reshape(E, (-1, 2)).T
    return {"frames": len(frames), "P_teacher_GPa": round(float(p_t.mean()), 3),
            "P_teacher_sd_GPa": round(float(p_t.std()), 3),
            "P_mtp_GPa": round(float(p_m.mean()), 3),
            "dE_rmse_meV_atom": round(float(np.sqrt(np.mean((e_m - e_t) ** 2))) * 1000, 2)}


def _volume_guard(v0: float):
    """An MD observer that stops a run whose volume left ±40 % of ``v0`` (the 0 K cell): the
    teacher's own LiF is ~20 % larger at 1000 K (its pressure on the MTP's NPT frames,
    ``teacher_check``), real LiF ~10 %; an MTP that goes further has found an unphysical state
    (e.g. clusters in vacuum) that its grade may not see (γ saturated near 5 in such a run)."""
    def check(atoms, step: int) -> None:
        if abs(atoms.get_volume() / v0 - 1) > 0.40:
            raise GammaBreak(f"volume {atoms.get_volume():.0f} Å³ left ±40 % of {v0:.0f} Å³ "
                             f"at step {step}: the potential is outside its domain")
    return check


def arrhenius(rows: list[dict]) -> dict:
    ok = [r for r in rows if "D_cm2_s" in r]
    if len(ok) < 3:
        return {"failed": f"{len(ok)} temperatures with a diffusive MSD (need 3)"}
    T = np.array([r["T_K"] for r in ok])
    D, s = np.array([r["D_cm2_s"] for r in ok]), np.array([r["D_sigma_cm2_s"] for r in ok])
    fit = arrhenius_fit(T, D, s)
    line = np.linspace(T.min(), T.max(), 50)
    ext = fit.extrapolate(line)
    arrhenius_plot(T, D, s, line, ext.D, ext.ci_low, ext.ci_high, fit.Ea_eV, fit.Ea_sigma_eV,
                   OUT / "lif_interstitial_arrhenius.png",
                   title="Li interstitial in LiF: MTP (SevenNet-0 teacher)")
    return {"Ea_eV": round(fit.Ea_eV, 4), "Ea_sigma_eV": round(fit.Ea_sigma_eV, 4),
            "max_gamma": max(r["max_gamma"] for r in ok),
            "flagged_temperatures": [r["T_K"] for r in ok if r.get("flag")]}


def neb_rows() -> list[dict]:
    results = KEPT / "validate-results.json"
    if not results.exists():
        return []
    return [r for r in json.loads(results.read_text())["rows"] if r["prop"] == "neb"]


def model_hash(model_dir: Path) -> str:
    """sha256 (16 hex) of the model's coefficient file: which model a kept row belongs to."""
    return hashlib.sha256((Path(model_dir) / "potential.mtp").read_bytes()).hexdigest()[:16]


def keep_learned(run: Path, model_dir: Path) -> Path:
    """Copy the learned model, its validation and learn summary into KEPT; return the copy."""
    kept = KEPT / "model"
    if kept.exists() and model_hash(kept) != model_hash(model_dir):
        raise SystemExit(f"{kept} holds another model: move it away to keep this run's")
    shutil.copytree(model_dir, kept, dirs_exist_ok=True)
    for src, name in ((run / "validate" / "results.json", "validate-results.json"),
                      (run / "validate" / "table.md", "validate-table.md"),
                      (run / "learn-summary.yml", "learn-summary.yml")):
        if src.exists():
            shutil.copy(src, KEPT / name)
    return kept


def kept_rows(key: str) -> dict[float, dict]:
    rows = (json.loads(p.read_text()) for p in KEPT.glob("T*K.json"))
    return {r["T_K"]: r for r in rows if r.get("model_sha256") == key}


def regrade(rows: dict[float, dict], model, run: Path) -> None:
    """Add the frames' γ to kept rows whose trajectories are still in ``run``; rewrite them."""
    for T, row in rows.items():
        trajs = [run / "production" / f"{T:g}K" / part / "trajectory.extxyz"
                 for part in ("npt", "nvt")]
        if not trajs[1].exists():
            continue
        add_frame_gammas(row, [f for t in trajs if t.exists() for f in ase.io.read(t, ":")],
                         model)
        (KEPT / f"T{T:g}K.json").write_text(json.dumps(row, indent=1) + "\n")
        print(f"{T:g} K regraded: {row['frames_graded']} frames, max γ "
              f"{row['max_gamma_frames']}", flush=True)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--ps", type=float, default=500.0, help="NVT length per temperature, ps")
    ap.add_argument("--npt-ps", type=float, default=10.0, help="NPT length per temperature, "
                    "ps; 0: NVT at the MTP's relaxed 0 K cell (no thermal expansion)")
    ap.add_argument("--temperatures", type=float, nargs="+",
                    default=[600, 700, 800, 900, 1000])
    ap.add_argument("--jobs", type=int, default=1, help="temperatures run at once")
    ap.add_argument("--skip-validate", action="store_true")
    ap.add_argument("--run-dir", type=Path, default=Path("runs/lif-interstitial"),
                    help="the learn run folder (relative to the repository)")
    ap.add_argument("--model", type=Path, default=None,
                    help="a model folder (e.g. benchmarks/results/lif_interstitial/model): no "
                    "learning or validation, only the temperatures it has no row for")
    ap.add_argument("--regrade", action="store_true", help="grade the kept rows' trajectory "
                    "frames again (rows made before frame grading, or from resumed runs)")
    args = ap.parse_args()
    run = ROOT / args.run_dir
    t0 = time.perf_counter()
    KEPT.mkdir(parents=True, exist_ok=True)
    if args.model is None:
        _seiflow("learn", "examples/lif-interstitial.yaml", "--run-dir", str(args.run_dir))
        if not args.skip_validate:
            _seiflow("validate", str(args.run_dir), "--config",
                     "examples/lif-interstitial-validate.yaml", "--out",
                     str(args.run_dir / "validate"))
        model_dir = keep_learned(run, Run(run).final_model())
    else:
        model_dir = args.model.resolve()
    key = model_hash(model_dir)
    done = kept_rows(key)
    if args.regrade:
        regrade(done, load_potential(str(model_dir)), run)
    todo = [T for T in args.temperatures if T not in done]
    print(f"model {model_dir} ({key}): kept rows at {sorted(done)} K; running {todo} K",
          flush=True)
    with ProcessPoolExecutor(max(1, min(args.jobs, len(todo) or 1))) as pool:
        for row in pool.map(run_temperature, todo, [str(model_dir)] * len(todo),
                            [args.ps] * len(todo), [args.npt_ps] * len(todo), [run] * len(todo)):
            row.update(model_sha256=key, nvt_ps=args.ps, npt_ps=args.npt_ps)
            (KEPT / f"T{row['T_K']:g}K.json").write_text(json.dumps(row, indent=1) + "\n")
            done[row["T_K"]] = row
            print(json.dumps(row), flush=True)
    rows = [done[T] for T in sorted(done)]
    summary_file = KEPT / "learn-summary.yml"
    summary = yaml.safe_load(summary_file.read_text()) if summary_file.exists() else {}
    result = {"machine": describe(), "model": str(model_dir.relative_to(ROOT))
              if model_dir.is_relative_to(ROOT) else str(model_dir), "model_sha256": key,
              "points": rows, "arrhenius": arrhenius(rows), "neb": neb_rows(),
              "literature_Ea_eV": LITERATURE_EA,
              "learn": {k: summary.get(k) for k in ("status_learning", "labels", "iterations",
                                                    "held_out_errors", "wall_time_s")},
              "wall_s_this_run": round(time.perf_counter() - t0, 1)}
    (OUT / "lif_interstitial_diffusion.json").write_text(json.dumps(result, indent=1))
    print(json.dumps(result["arrhenius"]), json.dumps(result["neb"], indent=1))


if __name__ == "__main__":
    main()

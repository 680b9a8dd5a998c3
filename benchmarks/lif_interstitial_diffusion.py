"""Interstitial Li diffusion in LiF with a seiflow-trained MTP: D at 4 temperatures, Arrhenius
Ea ± σ, compared with the literature value for the interstitial(cy) mechanism, 0.20-0.24 eV.

1. `seiflow learn examples/lif-interstitial.yaml` (active learning on GFN1-xTB labels; reused if
   finished);
2. NVT MD (Nosé-Hoover chain, 1 fs) with the final MTP at 600/800/1000/1200 K;
3. Li tracer MSD -> D (fit from 2 ps to the longest block lag, 3-block σ) -> Arrhenius fit.

Run:  .venv/bin/python benchmarks/lif_interstitial_diffusion.py [--ps 60]
Writes benchmarks/results/lif_interstitial_diffusion.json and .png files beside it.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import ase.io
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from machine import describe  # noqa: E402

from seiflow.analysis.arrhenius import arrhenius_fit  # noqa: E402
from seiflow.analysis.diffusion import diffusion_coefficient  # noqa: E402
from seiflow.analysis.msd import msd, select_species, unwrap  # noqa: E402
from seiflow.core.config import load_config  # noqa: E402
from seiflow.md.runner import MDSettings, run_md  # noqa: E402
from seiflow.potentials.registry import load_potential  # noqa: E402
from seiflow.workflows.learn import LearnConfig, final_model, run_learn  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
OUT = Path(__file__).resolve().parent / "results"
LITERATURE_EA = (0.20, 0.24)  # eV, interstitial Li in LiF (see docs/md-transport.md)


class Extrapolating(Exception):
    """The potential left its training domain (γ > 10): the MD is not trustworthy."""


def _stop_when_extrapolating(atoms, step: int) -> None:
    gamma = float(atoms.calc.results.get("gamma", 0.0))
    if not np.isfinite(atoms.positions).all() or gamma > 10:
        raise Extrapolating(f"γ = {gamma:.3g} > 10 at step {step}: the MTP extrapolates; "
                            "more active learning at this temperature is needed")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--ps", type=float, default=60.0, help="MD length per temperature, ps")
    ap.add_argument("--temperatures", type=float, nargs="+", default=[600, 800, 1000, 1200])
    args = ap.parse_args()
    cfg = load_config(ROOT / "examples" / "lif-interstitial.yaml", LearnConfig)
    cfg.run_dir = ROOT / cfg.run_dir
    learn = run_learn(cfg, progress=False)
    model_dir = final_model(cfg.run_dir)
    model = load_potential(model_dir)
    start = ase.io.read(next((cfg.run_dir / "structures").rglob("*.extxyz")))
    rows = []
    for T in args.temperatures:
        steps = int(args.ps * 1000)
        s = MDSettings(ensemble="nvt", temperature_K=T, timestep_fs=1.0, steps=steps,
                       traj_stride=50, checkpoint_every=5000, seed=int(T))
        out = cfg.run_dir / "diffusion" / f"{T:g}K"
        try:
            res = run_md(start, model.calculator(), s, out, progress=False,
                         observers=[(_stop_when_extrapolating, 10)])
        except Extrapolating as exc:
            rows.append({"T_K": T, "failed": str(exc)})
            print(f"{T:6.0f} K: failed, {exc}", flush=True)
            continue
        frames = ase.io.read(res.trajectory, index=":")
        gammas = [float(model.grade(f).max()) for f in frames[::20]]
        frames = frames[len(frames) // 10:]  # 10 % equilibration
        pos = unwrap(frames)
        times = np.array([f.info["time_fs"] for f in frames])
        m = msd(pos, times, select_species(frames[0], "Li"),
                masses=frames[0].get_masses(), n_blocks=3)
        # one interstitial among 33 Li: the vibrational plateau dominates short lags, so the
        # automatic slope-1 window is too strict; fit from 2 ps to the longest lag of the
        # 3 blocks (σ) with an intercept (the plateau), and report the log-log slope there
        d = diffusion_coefficient(m, window=(2000.0, float(m.block_t_fs[-1])))
        rows.append({"T_K": T, "D_cm2_s": d.D_cm2_s, "D_sigma_cm2_s": d.D_sigma_cm2_s,
                     "window_fs": d.window_fs, "loglog_slope": d.loglog_slope,
                     "max_gamma": float(max(gammas))})
        print(f"{T:6.0f} K: D = {d.D_cm2_s:.3e} ± {d.D_sigma_cm2_s:.1e} cm²/s "
              f"(slope {d.loglog_slope:.2f}), max γ {max(gammas):.2f}", flush=True)
    ok = [r for r in rows if "D_cm2_s" in r]
    fit = arrhenius_fit([r["T_K"] for r in ok], [r["D_cm2_s"] for r in ok],
                        [r["D_sigma_cm2_s"] for r in ok])
    ext = fit.extrapolate(300.0)
    result = {"machine": describe(), "learning": {"status": learn.status,
              "iterations": len(learn.iterations), "model": str(model_dir),
              "labels": learn.iterations[-1]["labels_total"],
              "test_errors": learn.iterations[-1]["test_errors"]},
              "md_ps_per_T": args.ps, "points": rows,
              "Ea_eV": fit.Ea_eV, "Ea_sigma_eV": fit.Ea_sigma_eV,
              "D300_cm2_s": float(np.ravel(ext.D)[0]), "D300_ci95": [float(np.ravel(ext.ci_low)[0]),
                                                          float(np.ravel(ext.ci_high)[0])],
              "literature_Ea_eV": LITERATURE_EA}
    print(f"Ea = {fit.Ea_eV:.3f} ± {fit.Ea_sigma_eV:.3f} eV (literature {LITERATURE_EA[0]}-"
          f"{LITERATURE_EA[1]} eV)")
    OUT.mkdir(exist_ok=True)
    (OUT / "lif_interstitial_diffusion.json").write_text(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()

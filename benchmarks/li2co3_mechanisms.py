"""The three Li2CO3 mechanisms of Li et al. (Mater. Horiz. 2025), teacher and MLIP side by side.

The teacher (SevenNet-0) bands are benchmarks/results/li2co3_neb_sevennet/*.json (`seiflow neb
... --labeler sevennet --images 3`, hours each). This script runs the same bands with the MLIP:
the MTP learned by `seiflow learn examples/li2co3-mechanisms.yaml`, or any converged model
folder, e.g. a MACE fitted on that run's labels (benchmarks/mace_on_learned_labels.py)
(`seiflow neb ... --model RUN --images 3`: the end points relaxed again with the MLIP, climbing
image, FIRE to 0.05 eV/Å), grades every image of each MLIP band (γ: the MTP's MaxVol grade or
MACE's feature grade, flagged above γ_select = 2), and writes one table:

- vacancy hop: the built end points in the 1x2x2 C2/c cell (the paper's cell);
- interstitial knock-off: the path A -> B -> the built end point, over three bands whose end
  points are the teacher's relaxed configurations (examples/data/li2co3/); E_a is the highest
  saddle along the path above A;
- Frenkel pair into the [010] channel (3.06 Å hop): crystal -> pair.

Run (after the learn):  OMP_NUM_THREADS=1 .venv/bin/python benchmarks/li2co3_mechanisms.py
      [--model runs/li2co3-mechanisms | MODEL] [--refit runs/li2co3-mechanisms-refit/model]
Writes benchmarks/results/li2co3_mechanisms/ (each band's neb.json, its figure, table.md and
results.json with the machine and the fit's state; the model and, from a learn run, its
labelled frames, labels.extxyz.gz, so that `refit_learned_model.py --run <that folder>` can
continue the fit without the run). A model whose fit did not converge is refused
(--allow-unconverged runs it, and the table says so). Every number is against SevenNet-0, not
PBE.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

import ase.io
import numpy as np
import yaml
from ase.geometry import find_mic
from ase.optimize import FIRE

sys.path.insert(0, str(Path(__file__).resolve().parent))
from machine import describe  # noqa: E402
from refit_learned_model import keep_record, require_converged  # noqa: E402

from seiflow.potentials.registry import load_potential  # noqa: E402
from seiflow.workflows.methods import fit_sentence, fit_state  # noqa: E402
from seiflow.workflows.run import Run  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "examples" / "data" / "li2co3"
TEACHER = Path(__file__).resolve().parent / "results" / "li2co3_neb_sevennet"
OUT = Path(__file__).resolve().parent / "results" / "li2co3_mechanisms"
GAMMA_SELECT = 2.0
TOLERANCE_EV = 0.07  # the teacher-vs-MLIP criterion for these barriers
FLAT_EV = 0.01  # a band whose images all lie within this of each other went nowhere
PAIR_KEPT_A = 1.0  # Å: a relaxed pair whose atoms all lie closer to crystal sites is no pair
# Li et al. 2025, Sec. 3.2.1: Frenkel formation (NEB, MTP and DFT); vacancy and interstitial
# from the MD activation energies of their MTP
PAPER_EV = {"vacancy": 0.24, "knockoff": 0.18, "frenkel": 1.19}

# name: (end-point arguments of `seiflow neb`, the teacher's result file); images: --images,
# except where IMAGES says otherwise (the teacher's Frenkel band with 3 images rose
# monotonically to the pair, so it was rerun with 5)
IMAGES = {"frenkel": 5}
KNOCKOFF = ("knockoff_A_to_B", "knockoff_B_to_end", "knockoff_start_to_A")
BANDS = {
    "vacancy": (["--phase", "li2co3", "--mechanism", "vacancy"], "vacancy.json"),
    "knockoff_A_to_B": ([DATA / "knockoff-A.extxyz", DATA / "knockoff-B.extxyz"],
                        "knockoff_A_to_B.json"),
    "knockoff_B_to_end": ([DATA / "knockoff-B.extxyz", DATA / "knockoff-end.extxyz"],
                          "knockoff_B_to_end.json"),
    "knockoff_start_to_A": ([DATA / "knockoff-start.extxyz", DATA / "knockoff-A.extxyz"],
                            "knockoff_start_to_A.json"),
    "frenkel": ([DATA / "crystal-1x2x2.extxyz", DATA / "frenkel-3A.extxyz"],
                "frenkel_5images.json"),
}


def run_band(name: str, model: Path, images: int, out_dir: Path) -> dict:
    """`seiflow neb` with the MLIP, run once: a finished band (neb.json) or a failed one (its
    neb-summary.yml says why) is read back."""
    out = out_dir / name
    summary = out / "neb-summary.yml"
    if not (out / "neb.json").exists() and not summary.exists():
        args, _ = BANDS[name]
        subprocess.run([sys.executable, "-m", "seiflow", "neb", *map(str, args), "--model",
                        str(model), "--images", str(IMAGES.get(name, images)), "--out",
                        str(out), "--no-progress"], cwd=ROOT, capture_output=True)
    if (out / "neb.json").exists():
        return json.loads((out / "neb.json").read_text())
    record = yaml.safe_load(summary.read_text())
    failed = {"failed": record["error"], "wall_s": record.get("wall_time_s")}
    if (out / "neb-band.extxyz").exists():  # the band the command kept on its failure
        failed["band_energies_eV"] = [a.get_potential_energy()
                                      for a in ase.io.read(out / "neb-band.extxyz", ":")]
    return failed


def band_gamma(name: str, potential, out_dir: Path) -> float | None:
    band = out_dir / name / "neb-band.extxyz"
    if not band.exists():
        return None
    return round(max(float(np.max(potential.grade(a))) for a in ase.io.read(band, ":")), 3)


def teacher(name: str) -> dict | None:
    path = TEACHER / BANDS[name][1]
    return json.loads(path.read_text()) if path.exists() else None


def result_of(doc: dict | None) -> dict | None:
    """The NEB result of a `seiflow neb` JSON (None: failed or absent)."""
    if doc is None or "failed" in doc:
        return None
    return doc.get("result", doc)


def leg_top(doc: dict | None) -> float | None:
    """The highest energy (eV) along one knock-off leg: its saddle, or, for a band the NEB
    refused as barrier-free (it falls or rises monotonically), its highest image, an end point
    (a point of the path all the same)."""
    res = result_of(doc)
    if res is not None:
        return res["energy_initial_eV"] + res["barrier_forward_eV"]
    energies = (doc or {}).get("band_energies_eV")
    return max(energies) if energies else None


def knockoff_ea(docs: dict[str, dict | None]) -> float | None:
    """Highest point along the path A -> B -> end point (= the image of START) -> A', above A:
    the tops of the three knock-off legs (``leg_top``), each on its own relaxed end points."""
    tops = [leg_top(docs[k]) for k in KNOCKOFF]
    start = result_of(docs["knockoff_A_to_B"])
    if start is None or None in tops:
        return None
    return round(max(tops) - start["energy_initial_eV"], 4)


def failure_reason(doc: dict) -> str:
    """Why the Frenkel band gave no barrier, in a few words; a flat band (all images within
    FLAT_EV of each other) means the pair end point relaxed back into the crystal."""
    energies = doc.get("band_energies_eV") or []
    if energies and max(energies) - min(energies) < FLAT_EV:
        return (f"flat band (all images within {FLAT_EV:g} eV): the end point relaxed back into "
                "the crystal")
    return doc.get("failed", "").split(": ", 1)[-1].split(" (")[0]


def pair_energy(calc) -> float | None:
    """Energy (eV) of the 3.06-Å Frenkel pair above the crystal, both relaxed (cell fixed,
    FIRE to 0.02 eV/Å) with ``calc``: the pair's formation energy, a lower bound of the
    formation barrier (meaningful also when a band rises monotonically to the pair). None when
    the pair relaxes back into the crystal (no atom ends up more than PAIR_KEPT_A from its
    site in the relaxed crystal; both files list the atoms in the same order): then no pair
    exists whose energy could be given."""
    relaxed = []
    for name in ("crystal-1x2x2", "frenkel-3A"):
        atoms = ase.io.read(DATA / f"{name}.extxyz")
        atoms.calc = calc
        FIRE(atoms, logfile=None).run(fmax=0.02, steps=1000)
        relaxed.append(atoms)
    crystal, pair = relaxed
    shift, _ = find_mic(pair.positions - crystal.positions, crystal.cell)
    if np.linalg.norm(shift, axis=1).max() < PAIR_KEPT_A:
        return None
    return round(pair.get_potential_energy() - crystal.get_potential_energy(), 4)


def teacher_pair_energy() -> float:
    """``pair_energy`` with SevenNet-0, computed once and kept in the teacher's results."""
    kept = TEACHER / "frenkel_pair.json"
    if not kept.exists():
        from seiflow.reference.sevennet import SevenNetLabeler
        kept.write_text(json.dumps({"pair_energy_eV": pair_energy(
            SevenNetLabeler().calculator())}) + "\n")
    return json.loads(kept.read_text())["pair_energy_eV"]


def row(name: str, label: str, t: float | None, m: float | None, gamma: float | None,
        paper: float | None, bands: tuple[str, ...] = (), note: str = "") -> dict:
    """One table row; ``bands`` are the bands behind it (their wall times are summed in
    ``main``); ``note`` gathers the given note, the γ flag and the tolerance verdict."""
    r = {"mechanism": name, "quantity": label, "teacher_eV": t, "mlip_eV": m,
         "max_gamma": gamma, "paper_eV": paper, "bands": list(bands)}
    notes = [note]
    if t is not None and m is not None:
        r["delta_eV"] = round(m - t, 4)
        r["within_tolerance"] = abs(m - t) <= TOLERANCE_EV
        notes.append(f"Δ {'within' if r['within_tolerance'] else 'beyond'} ±{TOLERANCE_EV} eV")
    if gamma is not None and gamma > GAMMA_SELECT:
        r["flag"] = f"max γ {gamma:g} > γ_select {GAMMA_SELECT:g}: the MLIP extrapolates"
        notes.append(r["flag"])
    r["note"] = "; ".join(n for n in notes if n)
    return r


def table(rows: list[dict], mlip: str) -> str:
    def f(x):
        return "–" if x is None else (f"{x:.3f}" if isinstance(x, float) else str(x))
    lines = [f"| mechanism | quantity | SevenNet-0 (eV) | {mlip} (eV) | Δ (eV) | max γ | paper "
             "(eV) | note |", "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['mechanism']} | {r['quantity']} | {f(r['teacher_eV'])} | "
                     f"{f(r['mlip_eV'])} | {f(r.get('delta_eV'))} | {f(r['max_gamma'])} | "
                     f"{f(r['paper_eV'])} | {r['note']} |")
    return "\n".join(lines) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", type=Path, default=Path("runs/li2co3-mechanisms"),
                    help="the MLIP: a `seiflow learn` run folder or a model folder")
    ap.add_argument("--images", type=int, default=3)
    ap.add_argument("--out", type=Path, default=OUT, help="results folder")
    ap.add_argument("--refit", type=Path, default=None,
                    help="the learn run's last model refitted to convergence "
                    "(benchmarks/refit_learned_model.py): used instead of the run's own")
    ap.add_argument("--allow-unconverged", action="store_true",
                    help="run with a model whose fit did not converge (the table says so)")
    args = ap.parse_args()
    out = args.out.resolve()
    model = ROOT / args.model
    learn = (model / "learn-summary.yml").exists()
    model_dir = args.refit or (Run(model).final_model() if learn else model)
    fit = (fit_state(model_dir) if args.allow_unconverged
           else require_converged(model_dir, model, "--refit"))
    keep_record(model, model_dir, out)  # a refit needs no run folder
    potential = load_potential(str(model_dir))
    mlip = potential.backend.upper()
    t0 = time.perf_counter()
    bands = {name: run_band(name, model_dir, args.images, out) for name in BANDS}
    teachers = {name: teacher(name) for name in BANDS}
    res_m = {k: result_of(v) for k, v in bands.items()}
    res_t = {k: result_of(v) for k, v in teachers.items()}
    gam = {k: band_gamma(k, potential, out) for k in BANDS}

    def barrier(res, k):
        return None if res[k] is None else round(res[k]["barrier_forward_eV"], 4)

    rows = [row("vacancy", "barrier", barrier(res_t, "vacancy"), barrier(res_m, "vacancy"),
                gam["vacancy"], PAPER_EV["vacancy"], bands=("vacancy",))]
    for k in KNOCKOFF:
        rows.append(row(k, "barrier (band)", barrier(res_t, k), barrier(res_m, k), gam[k], None,
                        bands=(k,)))
    ko_gamma = max((gam[k] for k in KNOCKOFF if gam[k] is not None), default=None)
    rows.append(row("knockoff", "E_a = highest point of the path above A", knockoff_ea(teachers),
                    knockoff_ea(bands), ko_gamma, PAPER_EV["knockoff"], bands=KNOCKOFF))
    pair = pair_energy(potential.calculator())
    rows.append(row("frenkel", "pair energy above the crystal", teacher_pair_energy(), pair,
                    None, None, note="" if pair is not None else
                    f"{mlip}: the pair relaxes back into the crystal"))
    why = {"teacher": "no barrier, the band rises to the pair",  # its 5-image band (README)
           mlip: failure_reason(bands["frenkel"])}
    note = "; ".join(f"{side}: {why[side]}" for side, res in (("teacher", res_t), (mlip, res_m))
                     if res["frenkel"] is None)
    rows.append(row("frenkel", "barrier", barrier(res_t, "frenkel"), barrier(res_m, "frenkel"),
                    gam["frenkel"], PAPER_EV["frenkel"], bands=("frenkel",), note=note))
    walls = {"teacher": {k: (v or {}).get("wall_s") for k, v in teachers.items()},
             "mlip": {k: v.get("wall_s") for k, v in bands.items()}}
    for r in rows:  # summed over the row's bands; None where no band's time is known
        r["wall_s"] = {side: sum(filter(None, (w[b] for b in r["bands"]))) or None
                       for side, w in walls.items()}
    failures = {k: v["failed"] for k, v in bands.items() if "failed" in v}
    failures.update({f"teacher {k}": "no teacher band" for k, v in res_t.items() if v is None})
    doc = {"machine": describe(), "model": str(args.model), "mlip": mlip,
           "refit": args.refit and str(args.refit),
           "fit": fit, "images": args.images,
           "rows": rows, "failures": failures, "wall_s_this_run": round(
               time.perf_counter() - t0, 1), "band_wall_s": walls}
    (out / "results.json").write_text(json.dumps(doc, indent=1) + "\n")
    (out / "table.md").write_text(table(rows, mlip) + f"\n{fit_sentence(fit)}\n" + "".join(
        f"\n- {k}: {v}" for k, v in failures.items()) + "\n")
    print(table(rows, mlip))
    print(json.dumps(failures, indent=1))


if __name__ == "__main__":
    main()

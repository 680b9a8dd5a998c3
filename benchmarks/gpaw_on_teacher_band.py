"""PBE (GPAW) spot checks of a migration barrier on the teacher's path: the LiF interstitial
knock-off (2x2x2, 65 atoms) and the Li2CO3 vacancy hop (1x2x2, 95 atoms, the reference paper's
cell).

The teacher's (SevenNet-0) converged climbing-image band gives an end point and the saddle.
GPAW PBE single points at those two geometries give ΔE = E(saddle) - E(end point): PBE's
barrier *along the teacher's path* (no PBE relaxation; a PBE NEB would lower the saddle and the
end point each a little). Bands: LiF from `seiflow validate` with
examples/lif-interstitial-validate.yaml (teacher 0.278 eV, literature 0.20-0.24 eV); Li2CO3 from
`seiflow neb --phase li2co3 --mechanism vacancy --labeler sevennet --images 3`
(benchmarks/results/li2co3_neb_sevennet/vacancy.json; teacher 0.489 eV, Li et al. 2025: 0.24 eV).

Run:  OMP_NUM_THREADS=1 .venv/bin/python benchmarks/gpaw_on_teacher_band.py
      [--case lif_knockoff|li2co3_vacancy] [--band NEB_JSON]
      [--mode lcao|pw] [--ecut 500] [--kspacing 0.35] [--workers 2] [--store DB]
The two points run as two tasks on seiflow's Parsl engine (one core each), labelled into a
label store (runs/gpaw-on-teacher-band.db): a killed run resumes, labelling only what the store
lacks. Each finished single point is kept (a rerun computes only the missing one) in
benchmarks/results/<case>_gpaw_<mode>[_ecut<E>][_k<spacing>].json, with its wall time and the
machine; a file computed with other settings is refused, never mixed.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
from ase import Atoms

sys.path.insert(0, str(Path(__file__).resolve().parent))
from machine import describe  # noqa: E402

from seiflow.data.store import LabelStore, structure_hash  # noqa: E402
from seiflow.execution import InProcessSettings, ParslSettings  # noqa: E402
from seiflow.reference import GPAWSettings  # noqa: E402
from seiflow.workflows.label import run_label  # noqa: E402
from seiflow.workflows.properties.neb import NEBResult  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
OUT = Path(__file__).resolve().parent / "results"
CASES = {  # case: the teacher's band (a seiflow NEB JSON with the band's geometry)
    "lif_knockoff": ROOT / "runs/lif-interstitial/validate/neb-lif-knockoff/neb.reference.json",
    "li2co3_vacancy": OUT / "li2co3_neb_sevennet/vacancy.json",
}


def band_images(path: Path) -> tuple[list[Atoms], dict]:
    """The images of a `seiflow neb` JSON (geometry only: info["image"] is the index) and its
    result dict."""
    doc = json.loads(path.read_text())["result"]
    images = NEBResult.from_dict(doc).images
    for i, atoms in enumerate(images):
        atoms.calc, atoms.info["image"] = None, i
    return images, doc


def result_name(settings: GPAWSettings) -> str:
    """The results file's suffix: the mode, the cut-off for plane waves, and the k-point
    spacing when it is not the default 0.35 1/Å (so that settings never share stored points)."""
    name = settings.mode + (f"_ecut{settings.ecut:g}" if settings.mode == "pw" else "")
    return name + ("" if settings.kspacing == 0.35 else f"_k{settings.kspacing:g}")


def label_points(points: dict[str, Atoms], settings: GPAWSettings, store: Path,
                 workers: int) -> dict[str, dict]:
    """GPAW single points of ``points`` (name: image) through seiflow's label store, on Parsl
    with ``workers`` > 1: each point is one task, a killed run labels only what the store
    lacks. Returns name: energy (eV), largest force component (eV/Å), wall time (s)."""
    store.parent.mkdir(parents=True, exist_ok=True)
    db = LabelStore(store)
    engine = InProcessSettings() if workers == 1 else ParslSettings(
        max_workers=workers, run_dir=store.parent / "parsl-gpaw")
    run_label(list(points.values()), settings, db, engine=engine)
    done = {structure_hash(f): f for f in db.frames(settings_hash=settings.settings_hash())}
    out = {}
    for name, atoms in points.items():
        if (frame := done.get(structure_hash(atoms))) is None:
            raise SystemExit(f"GPAW failed on the {name}: see {store} (LabelStore.failures)")
        out[name] = {"image": atoms.info["image"], "energy_eV": frame.get_potential_energy(),
                     "fmax_eV_A": float(np.abs(frame.get_forces()).max()),
                     "wall_s": round(float(frame.info["wall_time"]), 1)}
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--case", choices=sorted(CASES), default="lif_knockoff")
    ap.add_argument("--band", type=Path, default=None, help="default: the case's band")
    ap.add_argument("--mode", choices=["lcao", "pw"], default="lcao")
    ap.add_argument("--ecut", type=float, default=500.0, help="plane-wave cut-off, eV (pw)")
    ap.add_argument("--kspacing", type=float, default=0.35, help="k-point spacing, 1/Å")
    ap.add_argument("--workers", type=int, default=2,
                    help="Parsl workers, one point each (1: both points in this process)")
    ap.add_argument("--store", type=Path, default=ROOT / "runs" / "gpaw-on-teacher-band.db",
                    help="label store: a killed run resumes from it, finished points are kept")
    args = ap.parse_args()
    settings = GPAWSettings(mode=args.mode, ecut=args.ecut, kspacing=args.kspacing)
    band = args.band or CASES[args.case]
    images, teacher = band_images(band)
    saddle = teacher["saddle_index"]
    out = OUT / f"{args.case}_gpaw_{result_name(settings)}.json"
    doc = json.loads(out.read_text()) if out.exists() else {"points": {}}
    if doc.get("settings", settings.model_dump(mode="json")) != settings.model_dump(mode="json"):
        raise SystemExit(f"{out} holds points computed with other settings: move it away")
    doc.update(settings=settings.model_dump(mode="json"), band=str(band),
               teacher_barrier_eV=teacher["barrier_forward_eV"], saddle_index=saddle)
    todo = {name: images[i] for name, i in (("end point", 0), ("saddle", saddle))
            if name not in doc["points"]}
    if todo:
        doc["points"].update(label_points(todo, settings, args.store, args.workers))
        doc["points"] = dict(sorted(doc["points"].items()))  # end point, saddle
        doc["machine"] = describe()
    e = {k: v["energy_eV"] for k, v in doc["points"].items()}
    doc["pbe_barrier_on_teacher_path_eV"] = round(e["saddle"] - e["end point"], 4)
    out.write_text(json.dumps(doc, indent=1) + "\n")
    print(json.dumps({k: doc[k] for k in ("pbe_barrier_on_teacher_path_eV",
                                          "teacher_barrier_eV")}))


if __name__ == "__main__":
    main()

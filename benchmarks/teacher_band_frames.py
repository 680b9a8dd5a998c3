"""The teacher's own Li2CO3 migration paths as training frames: more data where the MTP is off.

The converged MTP of `seiflow learn examples/li2co3-mechanisms.yaml` misses the teacher's
Li2CO3 barriers by 0.05-0.09 eV at γ < 1 (docs/md-transport.md): an error of interpolation,
not extrapolation, so the loop adds nothing. This script takes every image of the teacher's
climbing-image bands (benchmarks/results/li2co3_neb_sevennet/: the vacancy hop, the three
knock-off bands and the 5-image Frenkel band; shared end points once), adds one copy rattled by
0.02 Å (Gaussian, seed 0), labels all with the teacher (SevenNet-0, energies eV, forces eV/Å,
stress eV/Å³) and gives each the fit weight --weight (`info["fit_weight"]`, which multiplies
the frame's energy, force and stress terms in the MTP loss).

Run:  OMP_NUM_THREADS=2 .venv/bin/python benchmarks/teacher_band_frames.py [--weight 20]
      [--out benchmarks/results/li2co3_mechanisms_paths/band-frames.extxyz.gz]
then  benchmarks/refit_learned_model.py --run benchmarks/results/li2co3_mechanisms
      --extra <out> --out <folder>  and  benchmarks/li2co3_mechanisms.py --model
      benchmarks/results/li2co3_mechanisms --refit <folder>/model --out <results folder>.
Training on the teacher's paths makes the MTP's bands a test of how well it can reproduce
configurations it was fitted to, not a prediction: the results say so.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import ase.io
import numpy as np
from ase import Atoms

sys.path.insert(0, str(Path(__file__).resolve().parent))
from gpaw_on_teacher_band import band_images  # noqa: E402

from seiflow.reference import SevenNetLabeler  # noqa: E402

BANDS = Path(__file__).resolve().parent / "results" / "li2co3_neb_sevennet"
NEB_BANDS = ("vacancy", "knockoff_start_to_A", "knockoff_A_to_B", "knockoff_B_to_end")
FRENKEL = "frenkel_5images_band.extxyz"
OUT = Path(__file__).resolve().parent / "results" / "li2co3_mechanisms_paths" / \
    "band-frames.extxyz.gz"


def band_geometries() -> list[Atoms]:
    """Every image of the teacher's bands, each geometry once (0.001 Å), named in ``source``."""
    images = [(atoms, f"{name} image {i}") for name in NEB_BANDS
              for i, atoms in enumerate(band_images(BANDS / f"{name}.json")[0])]
    images += [(Atoms(a.get_chemical_symbols(), positions=a.positions, cell=a.cell, pbc=a.pbc),
                f"frenkel image {i}") for i, a in enumerate(ase.io.read(BANDS / FRENKEL, ":"))]
    kept: list[Atoms] = []
    for atoms, source in images:
        if not any(len(atoms) == len(k) and np.abs(atoms.positions - k.positions).max() < 1e-3
                   for k in kept):
            atoms.info["source"] = f"teacher band {source}"
            kept.append(atoms)
    return kept


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--weight", type=float, default=20.0, help="fit weight of every frame")
    ap.add_argument("--rattle", type=float, default=0.02, help="Å, of the one extra copy")
    ap.add_argument("--out", type=Path, default=OUT)
    args = ap.parse_args()
    rng = np.random.default_rng(0)
    frames = []
    for atoms in band_geometries():
        copy = atoms.copy()
        copy.positions += rng.normal(0.0, args.rattle, copy.positions.shape)
        copy.info["source"] = f"{atoms.info['source']} rattled {args.rattle:g} Å"
        frames += [atoms, copy]
    teacher = SevenNetLabeler()
    labelled = []
    for atoms in frames:
        label = teacher.label(atoms)
        if label.failure is not None:
            raise SystemExit(f"the teacher failed on {atoms.info['source']}: {label.failure}")
        frame = label.attach(atoms)
        frame.info.update(split="train", fit_weight=args.weight)
        labelled.append(frame)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    ase.io.write(args.out, labelled, format="extxyz")
    print(f"{len(frames) // 2} geometries, {len(labelled)} frames, weight {args.weight:g}: "
          f"{args.out}")


if __name__ == "__main__":
    main()

"""Batched MD speed through torch-sim (seiflow.md.batched) with a MACE of the reference paper's
size, on a GPU or the CPU.

Cases (NVT Nosé–Hoover chain, 600 K, 0.5 fs, τ 100 fs, float32 by default):
  a) one Li2CO3 cell of 1,440 atoms (3×5×4 conventional C2/c cells of 24 atoms):
     atom-steps/s and ns/day; the reference paper reports ~180 ps/day for 1,440 atoms with
     MACE on an A100, the issue's goal is ≥ 1.5e5 atom-steps/s;
  b) 100 replicas of a 144-atom cell (1×3×2 cells), each rattled differently: atom-steps/s;
  c) one Li2CO3 cell of 9,408 atoms (7×8×7 cells): atom-steps/s of a large single cell.

The model: a seiflow model folder (--model PATH; its object's torchsim_model(device, dtype)),
or by default a ScaleShiftMACE of the paper's size with random weights: hidden irreps
128x0e+128x1o, r_max 5 Å, 2 interactions, max_ell 3, correlation 3, 8 Bessel functions, radial
MLP 64×3, species Li C O. Speed does not depend on the weight values (the same operations run
on the same number of edges); the random model's forces are small (~0.01 eV/Å), so the atoms
stay near the crystal and the neighbour counts stay those of Li2CO3.
``--model mtp16`` (or mtp10, mtp22, ...) instead times seiflow's MTP in PyTorch
(potentials/mtp/torch_model.py) at that level with random coefficients and the moment
coefficients set to zero: all the work is done, the atoms move ballistically (issue 21's goal
for batched MTP: ≥ 1e7 atom-steps/s).

Timing: a warm-up run (CUDA context, kernels, first neighbour lists) is made first and not
counted; the timed run's clock starts after its first force evaluation and stops after a
device synchronisation, and includes writing one frame per replica and a checkpoint.

Run on a GPU:   .venv/bin/python benchmarks/gpu_md.py --device cuda
                .venv/bin/python benchmarks/gpu_md.py --device cuda --model mtp16 --cases abc
Quick CPU run:  OMP_NUM_THREADS=2 .venv/bin/python benchmarks/gpu_md.py --device cpu --quick
Writes benchmarks/results/gpu_md-<device>.json (--out to change).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from importlib.metadata import version
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from machine import describe  # noqa: E402

from seiflow.md.batched import (  # noqa: E402
    BatchedMDSettings,
    device_name,
    device_neighbor_list,
    resolve_device,
    run_batched_md,
)
from seiflow.structures.library import get_phase, resolve_phase  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"
PAPER = {"ps_per_day_1440_atoms_A100": 180.0, "goal_atom_steps_per_s_single": 1.5e5}


def reference_mace(device: torch.device, dtype: torch.dtype):
    """The paper-sized MACE (random weights) wrapped for torch-sim, neighbour lists on device."""
    from mace import modules  # before e3nn: mace lets e3nn 0.4.4 load its constants
    from e3nn import o3
    from torch_sim.models.mace import MaceModel

    torch.manual_seed(0)
    block = modules.interaction_classes["RealAgnosticResidualInteractionBlock"]
    mace = modules.ScaleShiftMACE(
        r_max=5.0, num_bessel=8, num_polynomial_cutoff=5, max_ell=3,
        interaction_cls=block, interaction_cls_first=block, num_interactions=2,
        num_elements=3, hidden_irreps=o3.Irreps("128x0e+128x1o"),
        MLP_irreps=o3.Irreps("16x0e"), radial_MLP=[64, 64, 64],
        atomic_energies=np.zeros(3), avg_num_neighbors=50.0, atomic_numbers=[3, 6, 8],
        correlation=3, gate=torch.nn.functional.silu,
        atomic_inter_scale=1.0, atomic_inter_shift=0.0)
    return MaceModel(mace, device=device, dtype=dtype, compute_stress=False,
                     neighbor_list_fn=device_neighbor_list)


def random_mtp(level: int, device: torch.device, dtype: torch.dtype):
    """A level-``level`` MTP for Li, C, O with random coefficients and zero moment coefficients
    (the kernel of the work without forces), as a torch-sim model."""
    from mtp_speed import forceless_model_for

    model = forceless_model_for(li2co3((1, 1, 1)), level, np.random.default_rng(0))
    return model.torchsim_model(device, dtype, neighbor_list_fn=device_neighbor_list)


def load_model(path: str | None, device: torch.device, dtype: torch.dtype):
    if path is not None and path.startswith("mtp") and path[3:].isdigit():
        return random_mtp(int(path[3:]), device, dtype), \
            f"MTP level {path[3:]} (Li, C, O) in PyTorch, random coefficients, no forces"
    if path is None:
        return reference_mace(device, dtype), "ScaleShiftMACE 128x0e+128x1o, L=3, ν=3, " \
            "2 layers, r_max 5 Å, random weights"
    from seiflow.potentials.registry import load_potential

    pot = load_potential(path)
    return (pot.torchsim_model(device, dtype, neighbor_list_fn=device_neighbor_list),
            f"{pot.backend} model {path}")


def li2co3(reps: tuple[int, int, int]):
    cell = get_phase(resolve_phase("li2co3"))
    assert len(cell) == 24, f"the library's Li2CO3 cell has {len(cell)} atoms, expected 24"
    return cell.repeat(reps)


def timed(structures, model, settings: BatchedMDSettings, warmup: int) -> dict:
    """Warm up (not counted), then time ``settings.steps`` steps."""
    with tempfile.TemporaryDirectory() as tmp:
        if warmup:
            run_batched_md(structures, model, settings.model_copy(update=dict(
                steps=warmup, traj_stride=warmup, checkpoint_every=warmup)),
                Path(tmp) / "warmup", progress=False)
        res = run_batched_md(structures, model, settings, Path(tmp) / "run", progress=True)
    n_atoms = sum(len(a) for a in structures)
    return {"replicas": len(structures), "atoms_per_replica": len(structures[0]),
            "atoms_total": n_atoms, "warmup_steps": warmup, "timed_steps": res.steps_done,
            "wall_s": round(res.wall_s, 3),
            "atom_steps_per_s": round(res.atom_steps_per_s, 1),
            "us_per_atom_step": round(1e6 / res.atom_steps_per_s, 2),
            "ns_per_day": round(res.ns_per_day, 5),
            "ps_per_day": round(res.ns_per_day * 1e3, 2)}


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto")
    ap.add_argument("--dtype", choices=["float32", "float64"], default="float32")
    ap.add_argument("--steps", type=int, default=200, help="timed steps per case")
    ap.add_argument("--warmup", type=int, default=20, help="untimed steps before each case")
    ap.add_argument("--replicas", type=int, default=100, help="case b")
    ap.add_argument("--model", default=None, help="seiflow model folder, or mtpLEVEL (e.g. "
                    "mtp16: a random MTP in PyTorch); default: random paper-sized MACE")
    ap.add_argument("--quick", action="store_true", help="CPU run in a few minutes: 3 timed "
                    "steps after 1 warm-up step, 4 replicas in case b")
    ap.add_argument("--cases", default="ab", help="which cases: any of a, b, c")
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args(argv)
    if args.quick:
        args.steps, args.warmup, args.replicas = 3, 1, 4

    device, dtype = resolve_device(args.device), getattr(torch, args.dtype)
    model, model_desc = load_model(args.model, device, dtype)
    machine = {**describe(), "device": device_name(device), "torch": torch.__version__,
               "cuda": torch.version.cuda, "torch_threads": torch.get_num_threads(),
               **{name: version(name) for name in ("torch-sim-atomistic", "mace-torch",
                                                   "vesin-torch", "e3nn")}}
    print(f"machine: {machine['device']}; CPU {machine['cpu']} ×{machine['cores']} cores; "
          f"torch {torch.__version__} ({torch.get_num_threads()} threads); {model_desc}")
    settings = BatchedMDSettings(ensemble="nvt", temperature_K=600, timestep_fs=0.5,
                                 tdamp_fs=100, steps=args.steps, traj_stride=args.steps,
                                 checkpoint_every=args.steps, device=args.device,
                                 dtype=args.dtype, seed=0)
    cases = {}
    if "a" in args.cases:
        big = li2co3((3, 5, 4))
        assert len(big) == 1440
        cases["a_single_1440"] = timed([big], model, settings, args.warmup)
    if "b" in args.cases:
        small = li2co3((1, 3, 2))
        assert len(small) == 144
        replicas = []
        for r in range(args.replicas):
            atoms = small.copy()
            atoms.rattle(0.05, seed=r)
            replicas.append(atoms)
        cases[f"b_{args.replicas}x144"] = timed(replicas, model, settings, args.warmup)
    if "c" in args.cases:
        large = li2co3((7, 8, 7))
        assert len(large) == 9408
        cases["c_single_9408"] = timed([large], model, settings, args.warmup)
    for name, c in cases.items():
        print(f"{name}: {c['atom_steps_per_s']:.4g} atom-steps/s, {c['ps_per_day']:.4g} "
              f"ps/day, {c['us_per_atom_step']:.4g} µs/atom-step ({c['timed_steps']} steps "
              f"in {c['wall_s']:.1f} s)")
    result = {"benchmark": "gpu_md", "date": time.strftime("%Y-%m-%d"), "machine": machine,
              "model": model_desc, "settings": settings.model_dump(), "quick": args.quick,
              "reference": PAPER, "cases": cases,
              "load_average": os.getloadavg() if hasattr(os, "getloadavg") else None}
    out = args.out or RESULTS / f"gpu_md-{device.type}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {out}")
    return result


if __name__ == "__main__":
    main()

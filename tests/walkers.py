"""Synthetic trajectories with a known answer: Li random walkers among fixed F atoms in a cubic
box (positions wrapped, as MD writes them), each frame carrying ``info['time_fs']``. A Gaussian
step of ``step_A`` per axis and frame gives D = step_A² / (2 dt_fs) Å²/fs."""

from __future__ import annotations

import numpy as np
from ase import Atoms


def li_walkers(step_A: float, n_li: int, n_f: int, n_frames: int, box_A: float, dt_fs: float,
               seed: int) -> list[Atoms]:
    rng = np.random.default_rng(seed)
    start = rng.random((n_li + n_f, 3)) * box_A
    steps = rng.normal(0.0, step_A, (n_frames - 1, n_li + n_f, 3))
    steps[:, n_li:] = 0.0
    pos = np.concatenate([start[None], start + np.cumsum(steps, axis=0)])
    frames = []
    for k, p in enumerate(pos):
        atoms = Atoms(f"Li{n_li}F{n_f}", positions=p % box_A, cell=[box_A] * 3, pbc=True)
        atoms.info["time_fs"] = k * dt_fs
        frames.append(atoms)
    return frames

"""Exploration: MD with the current potential, graded at every step.

A frame whose largest per-atom grade γ exceeds ``gamma_select`` becomes a candidate; one above
``gamma_break`` ends the trajectory (the potential is extrapolating too far to trust its
forces). Candidates are appended to ``candidates.extxyz`` as they appear and ``result.json``
is written at the end, so a killed exploration resumes from the MD checkpoint (candidates after
the checkpoint step are dropped and found again).
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import ase.io
import numpy as np
from ase import Atoms

from seiflow.core.atomic import write_json
from seiflow.md.gamma import GammaBreak, GammaWatch, graded_frame
from seiflow.md.runner import MDSettings, run_md
from seiflow.potentials.graded import graded_calculator
from seiflow.potentials.registry import load_potential

RESULT = "result.json"
CANDIDATES = "candidates.extxyz"


@dataclass
class ExploreTask:
    name: str
    structure: Path
    model: Path
    md: MDSettings
    gamma_select: float
    gamma_break: float
    out_dir: Path


@dataclass
class ExploreResult:
    name: str
    status: str  # "finished" | "broken"
    steps: int
    max_gamma: float
    candidates: int
    wall_s: float


def read_result(out_dir: Path) -> ExploreResult | None:
    path = Path(out_dir) / RESULT
    return ExploreResult(**json.loads(path.read_text())) if path.exists() else None


def _checkpoint_step(out_dir: Path) -> int:
    ckpt = out_dir / "checkpoint.extxyz"
    return int(ase.io.read(ckpt).info.get("step", 0)) if ckpt.exists() else 0


def explore(task: ExploreTask) -> ExploreResult:
    """Run (or resume, or return the finished result of) one exploration trajectory."""
    out = Path(task.out_dir)
    done = read_result(out)
    if done is not None:
        return done
    out.mkdir(parents=True, exist_ok=True)
    cand_path = out / CANDIDATES
    start = _checkpoint_step(out)
    kept = [a for a in read_candidates(out) if a.info["step"] <= start] if start else []
    ase.io.write(cand_path, kept, format="extxyz")
    atoms = ase.io.read(task.structure)
    model = load_potential(task.model)

    def keep(work: Atoms, step: int, gamma: float, gammas: np.ndarray) -> None:
        frame = graded_frame(work, step, gamma, gammas)
        frame.info.update(trajectory=task.name, source=f"{task.name} step {step} (γ={gamma:.3g})")
        ase.io.write(cand_path, frame, format="extxyz", append=True)

    watch = GammaWatch(task.gamma_select, task.gamma_break, keep, skip_until=start,
                       max_gamma=max([a.info["gamma"] for a in kept], default=0.0),
                       last_step=start, selected=len(kept))
    t0 = time.perf_counter()
    status = "finished"
    try:
        res = run_md(atoms, graded_calculator(model), task.md, out, observers=[(watch, 1)],
                     progress=False)
        watch.last_step = res.steps_done
    except GammaBreak:
        status = "broken"
    result = ExploreResult(task.name, status, int(watch.last_step), float(watch.max_gamma),
                           int(watch.selected), round(time.perf_counter() - t0, 2))
    write_json(out / RESULT, asdict(result), indent=None)
    return result


def read_candidates(out_dir: Path) -> list[Atoms]:
    """The candidate frames of one exploration, each with ``info["trajectory"]``: its name."""
    path = Path(out_dir) / CANDIDATES
    frames = ase.io.read(path, index=":") if path.exists() and path.stat().st_size else []
    for atoms in frames:
        atoms.info.setdefault("trajectory", Path(out_dir).name)
    return frames

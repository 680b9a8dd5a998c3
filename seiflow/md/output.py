"""The one writer of an MD run folder, for every integrator backend (ASE, batched torch):
trajectories, ``thermo.csv``, the checkpoint, and what a restart drops.

- Trajectories: one extxyz file per replica (``trajectory.extxyz`` for a single run,
  ``replica-NNN.extxyz`` for a batch), a frame every ``traj_stride`` steps with ``info`` step
  and time_fs (and the energy). With a ``grader`` (a seiflow model's per-atom ``grade``) every
  frame written is graded: ``info["gamma"]`` is its largest γ, and a ``GammaWatch`` per replica
  records it. The ASE backend needs no grader: its frames already carry ``info["gamma"]``,
  read from the GradedCalculator's results of that step (md/gamma.py ``current_gamma``).
- ``thermo.csv`` (md/thermo.py): one row per replica and frame.
- The checkpoint, two files written at the same step: ``checkpoint.extxyz`` (one frame per
  replica, with ``step`` and the settings key: readable by any tool) and
  ``checkpoint-state.npz`` (positions, momenta and cells in full precision plus the
  integrator's own variables: thermostat chains, barostat, noise generator), each replaced
  atomically (core/atomic.py), the state first. A checkpoint whose state file is missing or of
  another step restarts from the extxyz: a correct continuation in distribution, not a
  bit-identical one (the integrator starts afresh).
- A restart (``resume``) checks the settings key and the structures, drops the frames and
  thermo rows written after the checkpoint, and hands the checkpoint back to the backend.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import ase.io
import numpy as np
from ase import Atoms

from seiflow.core.atomic import atomic_path
from seiflow.core.errors import SeiflowError
from seiflow.md.gamma import GammaWatch
from seiflow.md.thermo import THERMO, append_thermo, fresh_thermo, truncate_thermo

log = logging.getLogger(__name__)

TRAJECTORY = "trajectory.extxyz"
CHECKPOINT = "checkpoint.extxyz"
STATE_FILE = "checkpoint-state.npz"
LEGACY_CHECKPOINT = "checkpoint.npz"  # batched MD before the one checkpoint format
ATOM_ARRAYS = ("positions", "momenta", "cell")  # the state's arrays that are not the integrator's


@dataclass
class Checkpoint:
    """A checkpoint read back: its step, its frames (one per replica, extxyz precision) and the
    full-precision state (None: none usable): ``positions`` and ``momenta`` of all replicas
    concatenated, ``cell`` (replicas, 3, 3) as rows, and the integrator's variables."""

    step: int
    frames: list[Atoms]
    state: dict[str, np.ndarray] | None

    def restore(self, structures: Sequence[Atoms]) -> dict[str, np.ndarray] | None:
        """Put the checkpoint's cells, positions and momenta on ``structures`` (one per
        replica); return the integrator's variables (None: start the integrator afresh)."""
        state = self.state
        start = 0
        for r, atoms in enumerate(structures):
            sl = slice(start, start + len(atoms))
            start = sl.stop
            if state is None:
                src = self.frames[r]
                cell, positions, momenta = src.cell.array, src.positions, src.get_momenta()
            else:
                cell = state["cell"][r]
                positions, momenta = state["positions"][sl], state["momenta"][sl]
            atoms.cell = cell
            atoms.positions = positions
            atoms.set_momenta(momenta, apply_constraint=False)
        if state is None:
            return None
        return {k: v for k, v in state.items() if k not in ATOM_ARRAYS}


def replica_names(n: int) -> list[str]:
    """The trajectory file of each of ``n`` replicas in one batch."""
    width = max(3, len(str(n - 1)))
    return [f"replica-{r:0{width}d}.extxyz" for r in range(n)]


def _read_state(path: Path, step: int) -> dict[str, np.ndarray] | None:
    """The full-precision state saved with the checkpoint of ``step`` (None: none usable)."""
    try:
        with np.load(path) as data:
            state = {k: data[k] for k in data.files}
    except (OSError, ValueError, EOFError):
        return None
    if int(state.pop("step")) != step:
        return None
    state["cell"] = state["cell"].reshape(-1, 3, 3)  # a single run's older files: (3, 3)
    return state


class MDOutput:
    """The files of one MD run folder ``out`` with one trajectory per name in ``names``."""

    def __init__(self, out: str | Path, names: Sequence[str] = (TRAJECTORY,),
                 grader: Callable[[Atoms], np.ndarray] | None = None):
        self.out = Path(out)
        self.out.mkdir(parents=True, exist_ok=True)
        self.trajectories = [self.out / name for name in names]
        self.thermo = self.out / THERMO
        self.grader = grader
        self.watches = [GammaWatch() for _ in names]

    def max_gammas(self) -> list[float] | None:
        """Each replica's largest γ over its frames (None: frames not graded)."""
        return [float(w.max_gamma) for w in self.watches] if self.grader is not None else None

    # ------------------------------------------------------------ frames and thermo rows

    def fresh(self) -> None:
        """Start empty: no frames, a thermo.csv with its header only."""
        for path in self.trajectories:
            path.unlink(missing_ok=True)
        fresh_thermo(self.thermo)

    def truncate(self, step: int) -> None:
        """Drop the frames and thermo rows written after the checkpoint at ``step``."""
        for path, watch in zip(self.trajectories, self.watches, strict=True):
            frames = ase.io.read(path, index=":") if path.exists() else []
            kept = [f for f in frames if f.info["step"] <= step]
            for frame in kept:  # the frames before the checkpoint count in the maximum
                watch.max_gamma = max(watch.max_gamma, frame.info.get("gamma", 0.0))
            if kept:
                ase.io.write(path, kept, format="extxyz")
            else:
                path.unlink(missing_ok=True)
        truncate_thermo(self.thermo, step)

    def write(self, frames: Sequence[Atoms], rows: Sequence[Sequence]) -> None:
        """Append one frame per replica (graded first, with a grader) and their thermo rows."""
        if self.grader is not None:
            for atoms, watch in zip(frames, self.watches, strict=True):
                gammas = np.asarray(self.grader(atoms))
                atoms.info["gamma"] = float(gammas.max())
                watch.record(atoms, int(atoms.info["step"]), atoms.info["gamma"], gammas)
        for path, atoms in zip(self.trajectories, frames, strict=True):
            ase.io.write(path, atoms, format="extxyz", append=True)
        append_thermo(self.thermo, rows)

    # ------------------------------------------------------------ checkpoint

    def checkpoint(self, frames: Sequence[Atoms], step: int, key: str,
                   state: dict[str, np.ndarray]) -> None:
        """Write the checkpoint of ``step``: the state file first, so that the pair matches
        whenever the extxyz says this step."""
        with atomic_path(self.out / STATE_FILE) as tmp, open(tmp, "wb") as fh:
            np.savez(fh, step=step, **state)
        for atoms in frames:
            atoms.info["settings_key"] = key
        try:
            with atomic_path(self.out / CHECKPOINT) as tmp:
                ase.io.write(tmp, list(frames), format="extxyz")
        finally:
            for atoms in frames:
                atoms.info.pop("settings_key")

    def resume(self, key: str, structures: Sequence[Atoms]) -> Checkpoint | None:
        """The checkpoint to continue from (None: none, start afresh), after checking that it
        is of the same settings and structures and dropping what was written after it."""
        path = self.out / CHECKPOINT
        if not path.exists():
            if (self.out / LEGACY_CHECKPOINT).exists():
                raise SeiflowError(f"{self.out} holds a checkpoint.npz of an older seiflow; "
                                   "finish that run with it, or use another folder")
            return None
        frames = ase.io.read(path, index=":")
        if frames[0].info.get("settings_key") != key:
            raise SeiflowError(f"{self.out} holds a run with other settings; use another folder")
        if [a.numbers.tolist() for a in frames] != [a.numbers.tolist() for a in structures]:
            raise SeiflowError(f"{self.out} holds a run of other structures; use another folder")
        step = int(frames[0].info["step"])
        state = _read_state(self.out / STATE_FILE, step)
        if state is None:
            log.warning("%s: no full-precision state for the checkpoint of step %d; the restart "
                        "continues in distribution, not bit-identically", self.out, step)
        self.truncate(step)
        log.info("resuming %s from step %d", self.out, step)
        return Checkpoint(step, frames, state)

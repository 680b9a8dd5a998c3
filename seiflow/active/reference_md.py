"""An initial set drawn from short NVT MD run with the reference method itself (the "AIMD"
step of an MLIP study, with any labeler).

The labeler's own calculator drives the MD, so every frame it keeps already has its label: the
energy (force-consistent, as ``Labeler.label`` reports it) and forces of that step, and the
stress of the same state (computed with them by most codes; asked for only on kept frames).
Every ``stride``-th step (the start excluded: it is the unperturbed structure) is committed to
the label store at once, one row per frame, under the labeler's settings hash, with its origin:
group ``initial-md``, builder ``reference-md``, the trajectory, its temperature and the step.
Frames after ``(1 - test_fraction) x steps`` are held out (split ``test-reference-md``): the
last stretch of each trajectory, less correlated with the training frames than interleaved
ones would be. ``test_steps`` adds an independent trajectory per structure and temperature
(other velocities) whose frames are all held out, as a study validates on a separate AIMD run.

Resumable like exploration: the MD checkpoints (md/runner.py); a rerun skips the steps the store
already has for the trajectory and, once ``result.json`` exists, runs nothing.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Annotated

import ase.io
from ase import Atoms
from pydantic import Field, model_validator

from seiflow.core.atomic import write_json
from seiflow.core.config import MAX_TEMPERATURE_K, StrictModel
from seiflow.core.errors import SeiflowError
from seiflow.data.labels import Label
from seiflow.data.store import LabelStore, Origin
from seiflow.md.runner import MDSettings, run_md
from seiflow.reference.base import CalculatorLabeler, force_consistent_energy

RESULT = "result.json"
GROUP, BUILDER = "initial-md", "reference-md"
TRAIN_SPLIT, TEST_SPLIT = "train", "test-reference-md"

Temperature = Annotated[float, Field(gt=0, le=MAX_TEMPERATURE_K)]


class InitialMDSettings(StrictModel):
    """NVT MD with the reference on every starting structure at every temperature; every
    ``stride``-th frame kept as a labelled initial frame."""

    temperatures_K: list[Temperature] = Field(default_factory=lambda: [300.0], min_length=1)
    temperatures_for: dict[str, list[Temperature]] = Field(
        default_factory=dict, description="per starting structure (its build name), other "
        "temperatures than temperatures_K")
    steps: int = Field(200, ge=1, description="MD steps per trajectory")
    timestep_fs: float = Field(1.0, gt=0)
    tdamp_fs: float = Field(100.0, gt=0, description="thermostat time constant, fs")
    stride: int = Field(10, ge=1, description="steps between kept frames")
    seed: int = Field(0, ge=0, description="velocities of trajectory k: seed + k")
    test_fraction: float = Field(0.0, ge=0, lt=1, description="the last fraction of each "
                                 "trajectory's steps held out as the reference-MD test set")
    test_steps: int = Field(0, ge=0, description="steps of an independent held-out "
                            "trajectory per structure and temperature (velocities seeded "
                            "seed + 1000 + k), all its frames held out; 0: none")
    rdf: bool = Field(True, description="compare g(r) of the reference MD with MD of the "
                      "final model at the same temperature and cell")
    rdf_r_max_A: float = Field(6.0, gt=0, description="g(r) range, Å (at most half the "
                               "smallest cell width)")

    @model_validator(mode="after")
    def _stride(self) -> InitialMDSettings:
        if self.stride > self.steps:
            raise ValueError(f"stride ({self.stride}) must not exceed steps ({self.steps}): "
                             "no frame would be kept")
        if 0 < self.test_steps < self.stride:
            raise ValueError(f"test_steps ({self.test_steps}) must be 0 or at least stride "
                             f"({self.stride}): no frame would be kept")
        return self

    def temperatures(self, name: str) -> list[float]:
        return self.temperatures_for.get(name, self.temperatures_K)

    def test_after_step(self) -> int:
        """Frames at steps above this are held out."""
        return self.steps - round(self.test_fraction * self.steps)

    def md(self, temperature_K: float, seed: int, steps: int | None = None) -> MDSettings:
        return MDSettings(ensemble="nvt", temperature_K=temperature_K,
                          timestep_fs=self.timestep_fs, steps=steps or self.steps,
                          tdamp_fs=self.tdamp_fs, seed=seed, traj_stride=self.stride,
                          checkpoint_every=self.stride * max(1, 200 // self.stride))


@dataclass
class ReferenceMDTask:
    name: str  # the trajectory: <structure>-<T>K
    structure: Path
    structure_name: str
    labeler: CalculatorLabeler
    md: MDSettings
    test_after_step: int  # frames after this step are held out (0: all of them)
    store_url: str
    out_dir: Path


@dataclass
class ReferenceMDResult:
    name: str
    structure: str
    temperature_K: float
    steps: int
    natoms: int
    frames_train: int
    frames_test: int
    wall_s: float  # of the MD this call ran (0 if it only read the result)
    s_per_step: float | None  # teacher seconds per MD step (None: nothing run)


def read_result(out_dir: Path) -> ReferenceMDResult | None:
    path = Path(out_dir) / RESULT
    return ReferenceMDResult(**json.loads(path.read_text())) if path.exists() else None


def frame_split(step: int, test_after_step: int) -> str:
    return TEST_SPLIT if step > test_after_step else TRAIN_SPLIT


class _Keeper:
    """The MD observer: commits the labelled frame of a step the store does not have yet."""

    def __init__(self, task: ReferenceMDTask, store: LabelStore):
        self.task, self.store = task, store
        self.settings = task.labeler.settings_hash()
        self.done = {r.get("step") for r in store.rows(group=GROUP, trajectory=task.name)}
        self.last = time.perf_counter()

    def __call__(self, work: Atoms, step: int) -> None:
        if step == 0 or step in self.done:
            return
        label = Label(force_consistent_energy(work), work.get_forces().copy(),
                      work.get_stress(voigt=True).copy() if work.pbc.all() else None,
                      wall_time=time.perf_counter() - self.last)
        self.last = time.perf_counter()
        frame = work.copy()
        frame.calc = None
        t = self.task
        frame.info = {"name": t.structure_name, "source": f"reference MD {t.name} step {step} "
                      f"({t.md.temperature_K:g} K, {step * t.md.timestep_fs:g} fs)"}
        self.done.add(step)
        if self.store.is_labelled(frame, self.settings):
            return  # the same structure from elsewhere: labelled once
        origin = Origin(group=GROUP, builder=BUILDER, trajectory=t.name,
                        temperature_K=float(t.md.temperature_K), step=int(step))
        row = self.store.add(frame, label, t.labeler.name, self.settings, origin)
        self.store.set_split([row], frame_split(step, t.test_after_step))


def reference_md(task: ReferenceMDTask) -> ReferenceMDResult:
    """Run (or resume, or return the finished result of) one reference MD trajectory."""
    out = Path(task.out_dir)
    done = read_result(out)
    if done is not None:
        return done
    atoms = ase.io.read(task.structure)
    task.labeler.check(atoms)
    store = LabelStore(task.store_url)
    keeper = _Keeper(task, store)
    calc = task.labeler.calculator(atoms)
    try:
        res = run_md(atoms, calc, task.md, out, observers=[(keeper, task.md.traj_stride)],
                     progress=False)
    except SeiflowError as exc:
        raise SeiflowError(f"reference MD {task.name}: {exc}") from None
    finally:
        task.labeler.release(calc)
    steps = [r.get("step") for r in store.rows(group=GROUP, trajectory=task.name)]
    n_test = sum(frame_split(s, task.test_after_step) == TEST_SPLIT for s in steps)
    ran = res.steps_done - res.restarted_from
    result = ReferenceMDResult(
        task.name, task.structure_name, float(task.md.temperature_K), res.steps_done,
        len(atoms), len(steps) - n_test, n_test, round(res.wall_s, 3),
        round(res.wall_s / ran, 5) if ran else None)
    write_json(out / RESULT, asdict(result), indent=None)
    return result


def settle_splits(store: LabelStore, test_after: dict[str, int]) -> None:
    """Give every reference-MD row without a split its split (a run killed between a frame's
    commit and its split leaves one); ``test_after``: trajectory -> its test_after_step."""
    for split in (TRAIN_SPLIT, TEST_SPLIT):
        rows = [r.id for r in store.rows(group=GROUP) if r.get("split") is None
                and r.get("step") is not None and r.get("trajectory") in test_after
                and frame_split(r.get("step"), test_after[r.get("trajectory")]) == split]
        if rows:
            store.set_split(rows, split)


__all__ = ["BUILDER", "GROUP", "InitialMDSettings", "ReferenceMDResult", "ReferenceMDTask",
           "TEST_SPLIT", "TRAIN_SPLIT", "frame_split", "read_result", "reference_md",
           "settle_splits"]

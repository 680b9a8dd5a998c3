"""Run folders: the layout of a ``seiflow learn`` run, its single writer, what it belongs to, and
the typed record of each iteration.

``RunFolder`` is any command's folder (``md``, ``learn``, ``resume``, ``train``, ``validate``):
one live writer (``RunLock``, seiflow/data/locking.py) and the refusal of a folder whose run was
started from another input. ``Run`` is a ``seiflow learn`` run folder::

    learn-config.yaml             the run's config (a restart may raise only its limits)
    learn-summary.yml             inputs, versions, status (RunSummary)
    structures/                   the built starting cells (build-summary.yml)
    labels.db                     the label store
    initial-sets.json             the held-out and initial set sizes (the budget's cut)
    label-<tag>.records.jsonl     the labelling tasks' records
    test-md.extxyz                the held-out MD frames, chosen once
    initial-md/<structure>-<T>K/  reference MD of ``initial_md:`` (trajectory, checkpoints,
                                  result.json); initial-md.records.jsonl
    iter-NN/                      model/, fit-checkpoint.pt, explore/<trajectory>/,
                                  explore.records.jsonl, selected.extxyz, report.json
    learning-curves.png, gamma-histograms.png, report.md, evaluation/ (with initial_md:
                                  mlip-md/<trajectory>/, rdf-reference-vs-mlip.json, rdf-*.png)

Every name here is on users' disks: a run folder written by an older seiflow must resume.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import yaml

from seiflow.core.atomic import atomic_write, write_json
from seiflow.core.errors import SeiflowError
from seiflow.data.locking import RunLock
from seiflow.data.store import structure_hash
from seiflow.structures.io import read_structure

log = logging.getLogger(__name__)

CONFIG_COPY = "learn-config.yaml"
INITIAL_SETS = "initial-sets.json"  # how many held-out / initial frames (the budget's cut)
INPUT_RECORD = "input-structure.json"  # in an MD run folder: what the run started from
# stopping limits: a restart may raise them (continue a run that hit them), nothing else
LIMITS = ("max_iterations", "label_budget")


def _read_record(path: Path) -> dict:
    if not path.exists():
        return {}
    try:
        saved = json.loads(path.read_text())
    except (OSError, ValueError):
        saved = None
    if not isinstance(saved, dict):
        log.warning("%s is unreadable; it is written afresh", path)
        return {}
    return saved


class RunFolder:
    """A command's output folder: one live writer, one input."""

    def __init__(self, root: str | Path):
        self.root = Path(root)

    def lock(self, command: str) -> RunLock:
        """The folder's single-writer lock, to hold (``with``) while ``command`` runs."""
        return RunLock(self.root, command)

    def claim_structure(self, structure: Path) -> None:
        """Record ``structure`` (its hash) as the input of the run in this folder; refuse a
        folder whose run was started from another structure (a rerun with the same one
        resumes)."""
        digest = structure_hash(read_structure(structure))
        path = self.root / INPUT_RECORD
        saved = _read_record(path)
        if saved.get("structure_hash") == digest:
            return
        if saved.get("structure_hash"):
            raise SeiflowError(
                f"{self.root} holds a run started from another structure "
                f"({saved.get('structure')}, hash {saved['structure_hash']}); {structure} "
                f"(hash {digest}) differs: use another out_dir, or delete {self.root} to start "
                "again")
        write_json(path, {"structure": str(structure), "structure_hash": digest}, indent=None)


@dataclass
class IterationRecord:
    """What one iteration of the loop did (``iter-NN/report.json``; the keys are the file's)."""

    iteration: int
    train_structures: int = 0
    test_structures: int = 0
    labels_added: int = 0
    labels_total: int = 0
    test_errors: dict = field(default_factory=dict)  # component -> metric -> value
    test_md_errors: dict = field(default_factory=dict)
    trajectories: list[dict] = field(default_factory=list)  # ExploreResult fields
    finished: int = 0
    broken: int = 0
    max_gamma: float = 0.0
    candidates: int = 0
    candidate_gammas: list[float] = field(default_factory=list)
    selected: int = 0
    converged: bool = False
    stage_wall_s: dict[str, float] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)  # keys this version does not know

    def to_dict(self) -> dict:
        data = {f.name: getattr(self, f.name) for f in fields(self) if f.name != "extra"}
        return {**data, **self.extra}

    @classmethod
    def from_dict(cls, data: dict) -> IterationRecord:
        known = {f.name for f in fields(cls)} - {"extra"}
        return cls(**{k: v for k, v in data.items() if k in known},
                   extra={k: v for k, v in data.items() if k not in known})


@dataclass(frozen=True)
class IterationDir:
    """The folder of one iteration (``iter-NN``)."""

    path: Path

    @property
    def model(self) -> Path:
        return self.path / "model"

    @property
    def fit_checkpoint(self) -> Path:
        return self.path / "fit-checkpoint.pt"

    def explore(self, trajectory: str) -> Path:
        return self.path / "explore" / trajectory

    @property
    def explore_records(self) -> Path:
        return self.path / "explore.records.jsonl"

    @property
    def selected(self) -> Path:
        return self.path / "selected.extxyz"

    @property
    def report(self) -> Path:
        return self.path / "report.json"

    def record(self) -> IterationRecord | None:
        """The iteration's record if it finished (its report.json exists), else None."""
        if not self.report.exists():
            return None
        return IterationRecord.from_dict(json.loads(self.report.read_text()))

    def write_record(self, record: IterationRecord) -> None:
        write_json(self.report, record.to_dict())


class Run(RunFolder):
    """A ``seiflow learn`` run folder (layout in the module docstring)."""

    structures = property(lambda self: self.root / "structures")
    build_summary = property(lambda self: self.structures / "build-summary.yml")
    labels_db = property(lambda self: self.root / "labels.db")
    config_file = property(lambda self: self.root / CONFIG_COPY)
    summary_file = property(lambda self: self.root / "learn-summary.yml")
    initial_sets = property(lambda self: self.root / INITIAL_SETS)
    test_md = property(lambda self: self.root / "test-md.extxyz")
    report_md = property(lambda self: self.root / "report.md")
    learning_curves = property(lambda self: self.root / "learning-curves.png")
    gamma_histograms = property(lambda self: self.root / "gamma-histograms.png")
    evaluation = property(lambda self: self.root / "evaluation")

    @staticmethod
    def is_run(folder: str | Path) -> bool:
        """Whether ``folder`` holds a ``seiflow learn`` run (its saved config)."""
        return (Path(folder) / CONFIG_COPY).exists()

    @classmethod
    def existing(cls, folder: str | Path) -> Run:
        """The run in ``folder``; a SeiflowError if there is none."""
        if not cls.is_run(folder):
            raise SeiflowError(f"{folder} is not an active-learning run (no {CONFIG_COPY})")
        return cls(folder)

    def label_records(self, tag: str) -> Path:
        return self.root / f"label-{tag}.records.jsonl"

    def iteration(self, it: int) -> IterationDir:
        return IterationDir(self.root / f"iter-{it:02d}")

    def final_model(self) -> Path:
        """The model folder of the last iteration."""
        its = sorted(self.root.glob("iter-*/model/model.json"))
        if not its:
            raise SeiflowError(f"{self.root} has no fitted model yet")
        return its[-1].parent

    def claim_config(self, data: dict) -> None:
        """Save the run's config (``data``: JSON-able) on the first start; refuse a restart
        with another config, except for the stopping limits (``LIMITS``)."""
        if self.config_file.exists():
            saved = yaml.safe_load(self.config_file.read_text())
            if {k: v for k, v in saved.items() if k not in LIMITS} != \
                    {k: v for k, v in data.items() if k not in LIMITS}:
                raise SeiflowError(f"{self.root} holds a run with another config; use `seiflow "
                                   f"resume {self.root}` or another run_dir")
        atomic_write(self.config_file, yaml.safe_dump(data, sort_keys=False))

    def read_initial_sets(self) -> dict | None:
        return json.loads(self.initial_sets.read_text()) if self.initial_sets.exists() else None

    def write_initial_sets(self, data: dict) -> None:
        write_json(self.initial_sets, data)


__all__ = ["CONFIG_COPY", "INITIAL_SETS", "INPUT_RECORD", "LIMITS", "IterationDir",
           "IterationRecord", "Run", "RunFolder"]

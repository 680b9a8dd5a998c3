"""Label structures with a reference method into the label store, through an engine.

Before any work, every structure is checked against the labeler (elements, binary, cell
width): a structure it cannot treat stops the run with one line and the store is untouched.

The store alone decides what is done: a structure is skipped iff the store has a row for it
with this labeler's settings hash (task records are a log, never state). Work is claimed in the
store before it is labelled (claim-then-label), so concurrent runs on one store share the work
and never label a structure twice, and a killed run's claims are taken over by the next run.
In-process, each structure is claimed just before it is labelled; with another engine (Parsl),
everything missing is claimed before the tasks are sent. Each finished label is committed at
once, together with its key.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field, replace

from ase import Atoms

from seiflow.data.store import LabelStore, Origin, structure_hash
from seiflow.execution import InProcessSettings
from seiflow.execution.base import RecordLog, TaskRecord
from seiflow.reference.base import CalculatorLabeler, Label, LabelerError

log = logging.getLogger(__name__)


def label_one(job: tuple[CalculatorLabeler, Atoms]) -> Label:
    """One label; a top-level function so Parsl workers can run it."""
    labeler, atoms = job
    return labeler.label(atoms)


@dataclass
class LabelReport:
    total: int
    already: int  # labelled before this run (same settings)
    ok: int = 0
    failed: int = 0
    elsewhere: int = 0  # claimed or committed by another live process meanwhile
    taken_over: int = 0  # claims of dead processes this run took over
    records: list[TaskRecord] = field(default_factory=list)


class _ClaimThenLabel:
    """The in-process task: claim the structure in the store, then label it; None when
    another process has it (done, or claimed and alive)."""

    def __init__(self, store: LabelStore, labeler: CalculatorLabeler, settings: str,
                 report: LabelReport):
        self.store, self.labeler, self.settings, self.report = store, labeler, settings, report

    def __call__(self, item: tuple[str, Atoms]) -> Label | None:
        key, atoms = item
        state = self.store.claim(key, self.settings)
        if state in ("done", "busy"):
            return None
        self.report.taken_over += state == "taken"
        try:
            return self.labeler.label(atoms)
        except BaseException:
            self.store.release(key, self.settings)  # free it for a retry or another worker
            raise


def _check(frames: list[Atoms], labeler: CalculatorLabeler) -> None:
    for k, atoms in enumerate(frames):
        try:
            labeler.check(atoms)
        except LabelerError as exc:
            name = atoms.info.get("source", f"structure {k}")
            raise LabelerError(f"{name}: {exc}") from None


def _missing(frames: list[Atoms], store: LabelStore, settings: str
             ) -> tuple[dict[str, Atoms], int]:
    """Structures without a row for these settings (each once), and how many frames have one."""
    done = store.labelled(settings)
    todo: dict[str, Atoms] = {}
    already = 0
    for atoms in frames:
        key = structure_hash(atoms)
        if key in done:
            already += 1
        elif key not in todo:  # the same structure twice in the input: label it once
            todo[key] = atoms
    return todo, already


def frame_origin(origin: Origin | None, atoms: Atoms) -> Origin | None:
    """``origin`` completed from the frame's own record where it says nothing: the structure
    it was built as (``info["name"]``), the trajectory it was taken from, its γ."""
    if origin is None:
        return None
    info = atoms.info
    gamma = info.get("gamma")
    name, trajectory = info.get("name"), info.get("trajectory")
    return replace(origin, builder=origin.builder or (str(name) if name else None),
                   trajectory=origin.trajectory or (str(trajectory) if trajectory else None),
                   grade=origin.grade if origin.grade is not None or gamma is None
                   else float(gamma))


def run_label(frames: list[Atoms], labeler: CalculatorLabeler, store: LabelStore,
              engine=None, origin: Origin | None = None,
              records: RecordLog | None = None) -> LabelReport:
    engine = engine or InProcessSettings()
    _check(frames, labeler)
    settings = labeler.settings_hash()
    todo, already = _missing(frames, store, settings)
    report = LabelReport(total=len(frames), already=already)
    log.info("%d structures, %d already labelled, %d to label with %s", len(frames), already,
             len(todo), labeler.name)
    log_only = records.log_only() if records else None

    def commit(key: str, label: Label | None) -> None:
        if label is None or store.commit_claimed(todo[key], label, labeler.name, settings,
                                                 frame_origin(origin, todo[key])) is None:
            report.elsewhere += 1
            return
        if label.ok:
            report.ok += 1
        else:
            report.failed += 1
            log.warning("label failed (%s): %s", todo[key].get_chemical_formula(),
                        label.failure)
        store.touch_claims()

    try:
        if isinstance(engine, InProcessSettings):
            keys = list(todo)
            task = _ClaimThenLabel(store, labeler, settings, report)
            report.records = engine.map(task, [(k, todo[k]) for k in keys], keys,
                                        on_result=commit, records=log_only)
        else:
            keys = _claim_all(todo, store, settings, report)
            report.records = engine.map(label_one, [(labeler, todo[k]) for k in keys], keys,
                                        on_result=commit, records=log_only)
    finally:
        store.release_claims()
    _log_shared(report)
    return report


def _claim_all(todo: dict[str, Atoms], store: LabelStore, settings: str,
               report: LabelReport) -> list[str]:
    """Claim every missing structure up front (engines whose tasks run elsewhere)."""
    mine = []
    for key in todo:
        state = store.claim(key, settings)
        if state in ("new", "taken"):
            mine.append(key)
            report.taken_over += state == "taken"
        else:
            report.elsewhere += 1
    return mine


def _log_shared(report: LabelReport) -> None:
    if report.taken_over:
        log.warning("took over %d structures claimed by a process that is gone",
                    report.taken_over)
    if report.elsewhere:
        log.info("%d structures were labelled or are being labelled by another process",
                 report.elsewhere)

"""Label structures with a reference method into the label store, through an engine.

Before any work, every structure is checked against the labeler (elements, binary, cell
width): a structure it cannot treat stops the run with one line and the store is untouched.
Structures already labelled with the same settings are skipped, so a killed run resumes where it
stopped; each finished label is committed at once.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

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
    records: list[TaskRecord] = field(default_factory=list)


def run_label(frames: list[Atoms], labeler: CalculatorLabeler, store: LabelStore,
              engine=None, origin: Origin | None = None,
              records: RecordLog | None = None) -> LabelReport:
    engine = engine or InProcessSettings()
    for k, atoms in enumerate(frames):
        try:
            labeler.check(atoms)
        except LabelerError as exc:
            name = atoms.info.get("source", f"structure {k}")
            raise LabelerError(f"{name}: {exc}") from None
    settings = labeler.settings_hash()
    todo: dict[str, Atoms] = {}
    already = 0
    for atoms in frames:
        key = structure_hash(atoms)
        if key in todo:
            continue  # the same structure twice in the input: label it once
        if store.is_labelled(atoms, settings):
            already += 1
        else:
            todo[key] = atoms
    report = LabelReport(total=len(frames), already=already)
    log.info("%d structures, %d already labelled, %d to label with %s", len(frames), already,
             len(todo), labeler.name)

    def commit(key: str, label: Label) -> None:
        store.add(todo[key], label, labeler.name, settings, origin)
        if label.ok:
            report.ok += 1
        else:
            report.failed += 1
            log.warning("label failed (%s): %s", todo[key].get_chemical_formula(),
                        label.failure)

    keys = list(todo)
    report.records = engine.map(label_one, [(labeler, todo[k]) for k in keys], keys,
                                on_result=commit, records=records)
    return report

"""A property's single calculations as engine tasks, kept on disk one by one.

``EngineRunner`` is the runner (``properties/calcs.py``) of the reference's side of
``seiflow validate``: every calculation a crystal property plans (the crystal relaxation, each
EOS volume, each strained cell, each phonon supercell) is one task of the execution engine
(``run_calc_task``, a top-level function Parsl can ship), so a Parsl engine (local workers or
SLURM jobs) runs them at once. Each result is written as soon as it comes back, atomically, to
``<target>/calcs/<key>.json`` (``key``: ``calcs.calc_key``, a fingerprint of the method's
settings hash, the structure and the calculation kind with its options), and a calculation
whose file exists is never sent again: a killed run redoes only the calculations that had not
finished. Failures (no convergence, a refused structure) are kept too, as the serial code
would meet them again; a crash (an error that is not a physics failure) is not kept, and
raises, so the property is recorded as crashed and the rerun sends the calculation again.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from seiflow.core.atomic import write_json
from seiflow.core.errors import SeiflowError
from seiflow.execution.base import RecordLog
from seiflow.workflows.properties.base import PropertyFailed, Relaxed
from seiflow.workflows.properties.calcs import (
    Calc,
    calc_key,
    outcome_from_dict,
    outcome_to_dict,
)


@dataclass
class CalcJob:
    """What a worker needs: the calculation and the (picklable) calculator factory."""

    calc: Calc
    factory: Any


def run_calc_task(job: CalcJob) -> dict:
    """One calculation (runs on a worker): its outcome as JSON-ready data, a physics failure
    as ``{"status": "failed", "reason": ...}``."""
    try:
        return outcome_to_dict(job.calc.run(job.factory))
    except SeiflowError as exc:  # PropertyFailed, or the labeler refusing the structure
        return {"status": "failed", "reason": str(exc)}


class CalculationCrashed(RuntimeError):
    """A calculation's task raised something other than a physics failure (after the
    engine's retries); nothing was kept, so a rerun tries it again."""


class EngineRunner:
    """Runs calculations as ``engine`` tasks, keeping each outcome in ``cache_dir``; task
    records are appended to ``records`` (log only: the cache says what is done)."""

    def __init__(self, engine, factory, method_id: str, cache_dir: Path,
                 records: RecordLog | None = None, label: str = ""):
        self.engine, self.factory, self.method_id = engine, factory, method_id
        self.cache_dir, self.records, self.label = Path(cache_dir), records, label

    def path(self, key: str) -> Path:
        return self.cache_dir / f"{key}.json"

    def _task_key(self, key: str) -> str:
        return f"{self.label}/{key}" if self.label else key

    def _store(self, calcs: dict[str, Calc], task_key: str, outcome: dict) -> None:
        key = task_key.rsplit("/", 1)[-1]
        write_json(self.path(key), {"what": calcs[key].what, "kind": calcs[key].kind,
                                    "outcome": outcome})

    def __call__(self, calcs: list[Calc]) -> list[Relaxed]:
        keys = [calc_key(calc, self.method_id) for calc in calcs]
        todo = {k: c for k, c in zip(keys, calcs) if not self.path(k).exists()}
        if todo:
            records = self.engine.map(
                run_calc_task, [CalcJob(c, self.factory) for c in todo.values()],
                [self._task_key(k) for k in todo],
                on_result=lambda k, r: self._store(todo, k, r), records=self.records)
            crashed = [r for r in records if r.status == "error"]
            if crashed:
                raise CalculationCrashed(f"{len(crashed)} calculation(s) crashed, first "
                                         f"{crashed[0].key}: {crashed[0].error}")
        return [self._outcome(calc, key) for calc, key in zip(calcs, keys)]

    def _outcome(self, calc: Calc, key: str) -> Relaxed:
        path = self.path(key)
        if not path.exists():  # an engine that neither ran nor failed it
            raise CalculationCrashed(f"{calc.what}: no result came back")
        data = json.loads(path.read_text())["outcome"]
        if data["status"] != "ok":
            raise PropertyFailed(data["reason"])
        return outcome_from_dict(calc, data)

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

``drive_together`` runs several properties' steps (``calcs.Steps``) in lockstep: each round
sends the current stage of every property in one ``map`` (a crystal's lattice relaxation,
24 strained cells and the undisplaced phonon supercell at once; then the EOS volumes and the
displaced supercells), so the engine always has every calculation that can run.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from seiflow.core.atomic import write_json
from seiflow.core.errors import SeiflowError
from seiflow.execution.base import RecordLog
from seiflow.workflows.properties.base import PropertyFailed, Relaxed
from seiflow.workflows.properties.calcs import (  # noqa: F401 - CalculationCrashed: from here
    Calc,
    CalculationCrashed,
    Steps,
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
        """The outcomes in order; the first failure (or crash) in order raises."""
        out = self.outcomes(calcs)
        for res in out:
            if isinstance(res, Exception):
                raise res
        return out

    def outcomes(self, calcs: list[Calc]) -> list[Relaxed | Exception]:
        """Each calculation's outcome, or its PropertyFailed / CalculationCrashed."""
        keys = [calc_key(calc, self.method_id) for calc in calcs]
        todo = {k: c for k, c in zip(keys, calcs) if not self.path(k).exists()}
        errors = {}
        if todo:
            records = self.engine.map(
                run_calc_task, [CalcJob(c, self.factory) for c in todo.values()],
                [self._task_key(k) for k in todo],
                on_result=lambda k, r: self._store(todo, k, r), records=self.records)
            errors = {r.key.rsplit("/", 1)[-1]: r.error for r in records if r.error}
        return [self._outcome(calc, key, errors.get(key)) for calc, key in zip(calcs, keys)]

    def _outcome(self, calc: Calc, key: str, error: str | None) -> Relaxed | Exception:
        path = self.path(key)
        if not path.exists():  # crashed, or an engine that neither ran nor failed it
            return CalculationCrashed(f"{calc.what}: {error or 'no result came back'}")
        data = json.loads(path.read_text())["outcome"]
        if data["status"] != "ok":
            return PropertyFailed(data["reason"])
        return outcome_from_dict(calc, data)


def _advance(name: str, steps: Steps, sent, out: dict, pending: dict) -> None:
    """Send the outcomes of a property's last stage (or throw its first failure) and keep
    its next stage in ``pending``, or its result (or error) in ``out``."""
    try:
        if sent is None:
            pending[name] = next(steps)
        else:
            failed = [r for r in sent if isinstance(r, Exception)]
            pending[name] = steps.throw(failed[0]) if failed else steps.send(sent)
    except StopIteration as stop:
        out[name] = stop.value
    except (SeiflowError, CalculationCrashed) as exc:
        out[name] = exc


def drive_together(steps: dict[str, Steps], runner: EngineRunner) -> dict[str, Any]:
    """Every property's result (or its PropertyFailed / CalculationCrashed) by name, the
    current stages of all of them sent together in each round."""
    out: dict[str, Any] = {}
    pending: dict[str, list[Calc]] = {}
    for name, gen in steps.items():
        _advance(name, gen, None, out, pending)
    while pending:
        names = list(pending)
        stages = [pending.pop(name) for name in names]
        outcomes = runner.outcomes([calc for stage in stages for calc in stage])
        for name, stage in zip(names, stages):
            mine, outcomes = outcomes[:len(stage)], outcomes[len(stage):]
            _advance(name, steps[name], mine, out, pending)
    return out


def _giving(value: Any, wall_s: float):
    def give():
        if isinstance(value, BaseException):
            raise value
        return value

    give.wall_s = wall_s  # the time every property of the round took together
    return give


def compute_together(props: list[tuple[Any, Any]], target, ctx) -> dict[str, Any]:
    """For a context with an ``EngineRunner``: the properties of ``props`` ((property class,
    its start) pairs) that are made of steps, driven together; by name, a function giving the
    result or raising its error (``wall_s``: the shared time). Empty without such a runner."""
    if not isinstance(ctx.runner, EngineRunner):
        return {}
    steps = {}
    for prop, start in props:
        try:
            steps[prop.name] = prop.steps(target, ctx, start)
        except NotImplementedError:  # computed on its own
            continue
    t0 = time.perf_counter()
    results = drive_together(steps, ctx.runner)
    wall = round(time.perf_counter() - t0, 2)
    return {name: _giving(value, wall) for name, value in results.items()}

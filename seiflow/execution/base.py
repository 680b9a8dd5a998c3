"""The Engine contract and per-task records.

``map(fn, items, keys, on_result)`` runs ``fn(item)`` for every item, calls
``on_result(key, result)`` in the calling process as each finishes (so results are committed one
at a time), retries a task whose function raised, and returns one TaskRecord per item. With a
RecordLog, tasks recorded as done by an earlier (killed) run are skipped. Inside
``with engine.session():`` several ``map`` calls share the engine's workers (Parsl starts them,
or submits their jobs, once).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Protocol


@dataclass
class TaskRecord:
    key: str
    status: str  # done | error | skipped
    attempts: int = 0
    error: str | None = None
    started: float | None = None  # Unix time, s
    wall_s: float | None = None


class Engine(Protocol):
    def map(self, fn: Callable[[Any], Any], items: Sequence[Any], keys: Sequence[str],
            on_result: Callable[[str, Any], None] | None = None,
            records: RecordLog | None = None) -> list[TaskRecord]: ...

    def session(self) -> AbstractContextManager: ...


class RecordLog:
    """Append-only JSON-lines file of task records; survives kill -9 (one line per task).

    With ``resume=False`` it is a log only: ``done()`` is empty, so an engine runs every task
    it is given (labelling: the label store, not this file, says what is done).
    """

    def __init__(self, path: str | Path, resume: bool = True):
        self.path = Path(path)
        self.resume = resume
        self.path.parent.mkdir(parents=True, exist_ok=True)

    def log_only(self) -> RecordLog:
        """The same file, written to but never used to skip a task."""
        return RecordLog(self.path, resume=False)

    def append(self, record: TaskRecord) -> None:
        with self.path.open("a") as f:
            f.write(json.dumps(asdict(record)) + "\n")
            f.flush()

    def read(self) -> list[TaskRecord]:
        if not self.path.exists():
            return []
        out = []
        for line in self.path.read_text().splitlines():
            try:
                out.append(TaskRecord(**json.loads(line)))
            except (json.JSONDecodeError, TypeError):
                continue  # a line cut by a kill: that task simply runs again
        return out

    def done(self) -> set[str]:
        if not self.resume:
            return set()
        return {r.key for r in self.read() if r.status == "done"}


def error_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0]}" if text else type(exc).__name__


def now() -> float:
    return time.time()

"""The default engine: tasks run one after another in this process, with a progress bar."""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable, Sequence
from typing import Any, Literal

from pydantic import Field

from seiflow.core.config import StrictModel
from seiflow.core.progress import progress_bar
from seiflow.execution.base import RecordLog, TaskRecord, error_line, now

log = logging.getLogger(__name__)


class InProcessSettings(StrictModel):
    name: Literal["inprocess"] = "inprocess"
    retries: int = Field(1, ge=0, description="extra attempts when a task raises")
    progress: bool = True

    def session(self) -> contextlib.AbstractContextManager:
        """Nothing to start: a context for symmetry with the other engines."""
        return contextlib.nullcontext(self)

    def map(self, fn: Callable[[Any], Any], items: Sequence[Any], keys: Sequence[str],
            on_result: Callable[[str, Any], None] | None = None,
            records: RecordLog | None = None) -> list[TaskRecord]:
        done = records.done() if records else set()
        out: list[TaskRecord] = []
        with progress_bar(self.progress) as bar:
            job = bar.add_task("tasks", total=len(items))
            for key, item in zip(keys, items):
                if key in done:
                    out.append(TaskRecord(key, "skipped"))
                    bar.advance(job)
                    continue
                rec = TaskRecord(key, "error", started=now())
                t0 = time.perf_counter()
                for attempt in range(1, self.retries + 2):
                    rec.attempts = attempt
                    try:
                        result = fn(item)
                    except Exception as exc:  # recorded; the other tasks go on
                        rec.error = error_line(exc)
                        log.warning("task %s attempt %d failed: %s", key, attempt, rec.error)
                        continue
                    if on_result is not None:
                        on_result(key, result)
                    rec.status, rec.error = "done", None
                    break
                rec.wall_s = round(time.perf_counter() - t0, 4)
                if records:
                    records.append(rec)
                out.append(rec)
                bar.advance(job)
        return out

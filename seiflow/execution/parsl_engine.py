"""Parsl engine: the same functions on Parsl workers — a local HighThroughputExecutor by
default, or SLURM jobs (cluster config: examples/parsl-slurm.yaml, docs/labelling.md).

Results come back to this process, which calls ``on_result`` as each task finishes, so the
label store is written from one place only.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Literal

from pydantic import Field

from seiflow.core.config import StrictModel
from seiflow.execution.base import RecordLog, TaskRecord, error_line, now
from seiflow.core.progress import progress_bar

log = logging.getLogger(__name__)


def _call(fn, item):  # runs on a worker
    return fn(item)


_SESSIONS: dict[int, object] = {}  # id(settings) -> its loaded Parsl DataFlowKernel


class ParslSettings(StrictModel):
    name: Literal["parsl"] = "parsl"
    provider: Literal["local", "slurm"] = "local"
    max_workers: int = Field(2, ge=1, description="workers per node (local: per machine)")
    cores_per_worker: float = Field(1.0, gt=0)
    worker_init: str = Field("", description="shell lines run before workers start")
    retries: int = Field(1, ge=0)
    run_dir: Path = Path("runinfo")
    progress: bool = True
    # SLURM
    partition: str | None = None
    account: str | None = None
    qos: str | None = None
    walltime: str = "01:00:00"
    nodes_per_block: int = Field(1, ge=1)
    max_blocks: int = Field(1, ge=1)
    scheduler_options: str = ""

    def config(self):
        from parsl.config import Config
        from parsl.executors import HighThroughputExecutor
        from parsl.providers import LocalProvider, SlurmProvider

        # workers must find this Python's environment (process_worker_pool.py, seiflow)
        env = f"export PATH={Path(sys.executable).parent}:$PATH; " \
              f"export OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', '1')}; "
        init = env + self.worker_init
        if self.provider == "local":
            provider = LocalProvider(init_blocks=1, max_blocks=1, worker_init=init)
        else:
            provider = SlurmProvider(partition=self.partition, account=self.account,
                                     qos=self.qos, walltime=self.walltime,
                                     nodes_per_block=self.nodes_per_block,
                                     max_blocks=self.max_blocks, init_blocks=1,
                                     scheduler_options=self.scheduler_options,
                                     worker_init=init)
        extra = {"address": "127.0.0.1"} if self.provider == "local" else {}  # loopback only
        interchange = Path(sys.executable).parent / "interchange.py"
        if interchange.exists():  # this environment's, even when it is not on PATH
            extra["interchange_launch_cmd"] = [sys.executable, str(interchange)]
        htex = HighThroughputExecutor(label="seiflow", provider=provider,
                                      max_workers_per_node=self.max_workers,
                                      cores_per_worker=self.cores_per_worker, **extra)
        return Config(executors=[htex], retries=self.retries, run_dir=str(self.run_dir),
                      initialize_logging=False)

    @contextlib.contextmanager
    def session(self):
        """Parsl loaded once for every ``map`` inside (workers, or SLURM blocks, started once);
        a nested session reuses the outer one."""
        import parsl

        if id(self) in _SESSIONS:
            yield self
            return
        with parsl.load(self.config()) as dfk:
            _SESSIONS[id(self)] = dfk
            try:
                yield self
            finally:
                del _SESSIONS[id(self)]

    def map(self, fn: Callable[[Any], Any], items: Sequence[Any], keys: Sequence[str],
            on_result: Callable[[str, Any], None] | None = None,
            records: RecordLog | None = None) -> list[TaskRecord]:
        import parsl
        from concurrent.futures import as_completed

        done = records.done() if records else set()
        out: dict[str, TaskRecord] = {k: TaskRecord(k, "skipped") for k in keys if k in done}
        todo = [(k, it) for k, it in zip(keys, items) if k not in done]
        with self.session(), progress_bar(self.progress) as bar:
            job = bar.add_task("tasks (parsl)", total=len(items), completed=len(out))
            app = parsl.python_app(_call, executors=["seiflow"])
            futures = {}
            for key, item in todo:
                futures[app(fn, item)] = (key, now(), time.perf_counter())
            for fut in as_completed(futures):
                key, started, t0 = futures[fut]
                rec = TaskRecord(key, "done", attempts=1, started=started)
                try:
                    result = fut.result()
                    if on_result is not None:
                        on_result(key, result)
                except Exception as exc:  # the task failed after Parsl's retries
                    rec.status, rec.error = "error", error_line(exc)
                    log.warning("task %s failed: %s", key, rec.error)
                rec.wall_s = round(time.perf_counter() - t0, 4)
                if records:
                    records.append(rec)
                out[key] = rec
                bar.advance(job)
        return [out[k] for k in keys]

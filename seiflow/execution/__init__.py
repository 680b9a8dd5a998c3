"""Execution engines: ``map`` a top-level function over items, in-process (default) or on Parsl
(local workers or a SLURM cluster). ``EngineSettings`` is the registry of engine kinds."""

from typing import Annotated

from pydantic import Field

from seiflow.execution.base import Engine, RecordLog, TaskRecord
from seiflow.execution.inprocess import InProcessSettings
from seiflow.execution.parsl_engine import ParslSettings

EngineSettings = Annotated[InProcessSettings | ParslSettings, Field(discriminator="name")]

__all__ = ["Engine", "EngineSettings", "InProcessSettings", "ParslSettings", "RecordLog",
           "TaskRecord"]

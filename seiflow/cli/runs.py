"""Run folders of the commands that write one (`md`, `learn`, `resume`, `train`, `validate`):
one live writer at a time (``RunLock``); the layout of a folder and the input it belongs to are
``seiflow.workflows.run``'s (``RunFolder``, ``Run``)."""

from __future__ import annotations

from pathlib import Path

from seiflow.core.errors import SeiflowError
from seiflow.data.locking import RUN_LOCK, RunLock
from seiflow.workflows.run import INPUT_RECORD

__all__ = ["INPUT_RECORD", "RUN_LOCK", "RunLock", "fresh_model_folder"]


def fresh_model_folder(out: Path, overwrite: bool) -> None:
    """Refuse to train into a folder that already holds a model, unless ``overwrite`` (then
    its model.json goes at once, so a fit killed later leaves a folder the rerun resumes).

    A folder with a fit checkpoint but no model.json is a killed fit: the rerun resumes it."""
    record = Path(out) / "model.json"
    if record.exists() and not overwrite:
        raise SeiflowError(f"{out} already holds a model; use --overwrite to replace it, or "
                           "another --out")
    record.unlink(missing_ok=True)

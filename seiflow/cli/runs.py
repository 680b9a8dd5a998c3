"""Run folders of the commands that write one (`md`, `learn`, `resume`, `train`, `validate`):
one live writer at a time, and the structure a folder's run was started from."""

from __future__ import annotations

import json
import logging
from pathlib import Path

from seiflow.core.atomic import write_json
from seiflow.core.errors import SeiflowError
from seiflow.data.locking import RUN_LOCK, RunLock
from seiflow.data.store import structure_hash
from seiflow.structures.io import read_structure

__all__ = ["INPUT_RECORD", "RUN_LOCK", "RunLock", "fresh_model_folder", "remember_structure"]

log = logging.getLogger(__name__)
INPUT_RECORD = "input-structure.json"  # in an MD run folder: what the run started from


def remember_structure(folder: Path, structure: Path) -> None:
    """Record ``structure`` (its hash) as the input of the run in ``folder``; refuse a folder
    whose run was started from another structure (a rerun with the same one resumes)."""
    digest = structure_hash(read_structure(structure))
    path = Path(folder) / INPUT_RECORD
    saved = _read_record(path)
    if saved.get("structure_hash") == digest:
        return
    if saved.get("structure_hash"):
        raise SeiflowError(
            f"{folder} holds a run started from another structure ({saved.get('structure')}, "
            f"hash {saved['structure_hash']}); {structure} (hash {digest}) differs: use "
            f"another out_dir, or delete {folder} to start again")
    write_json(path, {"structure": str(structure), "structure_hash": digest}, indent=None)


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


def fresh_model_folder(out: Path, overwrite: bool) -> None:
    """Refuse to train into a folder that already holds a model, unless ``overwrite`` (then
    its model.json goes at once, so a fit killed later leaves a folder the rerun resumes).

    A folder with a fit checkpoint but no model.json is a killed fit: the rerun resumes it."""
    record = Path(out) / "model.json"
    if record.exists() and not overwrite:
        raise SeiflowError(f"{out} already holds a model; use --overwrite to replace it, or "
                           "another --out")
    record.unlink(missing_ok=True)

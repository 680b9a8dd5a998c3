"""Atomic file writes: a state or result file is either absent or whole, never half-written.

The content goes to a temporary file of this process's own beside the target
(``<name>.<pid>.tmp``: processes writing one file, such as labellers sharing a store's summary,
never replace each other's half-written temporary), is flushed and fsynced, and then
``os.replace``d onto the target. A killed run leaves at most a stray ``*.tmp``; a rerun reads
the previous complete file or none.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any


def temporary_path(path: str | Path) -> Path:
    """This process's temporary name for ``path`` (same folder, so the replace is atomic)."""
    path = Path(path)
    return path.with_name(f"{path.name}.{os.getpid()}.tmp")


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@contextlib.contextmanager
def atomic_path(path: str | Path, mkdir: bool = True) -> Iterator[Path]:
    """Yields a temporary path to write (with any writer: ``ase.io.write`` with an explicit
    format, ``np.savez`` to an open file, ``torch.save``); on success it is fsynced and moved
    onto ``path``; on an error it is removed and ``path`` is left as it was."""
    path = Path(path)
    if mkdir:
        path.parent.mkdir(parents=True, exist_ok=True)
    tmp = temporary_path(path)
    try:
        yield tmp
        _fsync(tmp)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def atomic_write(path: str | Path, data: str | bytes) -> None:
    """Write ``data`` (text as UTF-8) to ``path`` atomically."""
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as f:
            f.write(data.encode() if isinstance(data, str) else data)


def write_json(path: str | Path, data: Any, indent: int | None = 1, **dumps: Any) -> None:
    """``json.dumps(data, indent=indent, **dumps)`` written to ``path`` atomically."""
    atomic_write(path, json.dumps(data, indent=indent, **dumps))

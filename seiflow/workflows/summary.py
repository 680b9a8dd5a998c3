"""A ``*-summary.yml`` beside every run: inputs, versions, times, outputs, status.

The file is written when the run starts (status: running) and rewritten when it ends, so a
killed run leaves a record of what it was doing.
"""

from __future__ import annotations

import importlib.metadata
import platform
import socket
import sys
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import yaml

from seiflow.core.atomic import atomic_write

PACKAGES = ("seiflow", "ase", "ase-ga", "pymatgen", "spglib", "numpy", "scipy", "tblite",
            "pydantic", "torch", "torch-sim-atomistic", "mace-torch")


def versions() -> dict[str, str]:
    out = {"python": sys.version.split()[0], "platform": platform.platform()}
    for name in PACKAGES:
        try:
            out[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            out[name] = "not installed"
    return out


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def _plain(value: Any) -> Any:
    """YAML-safe copy: paths and numpy scalars/arrays become plain types."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, Path):
        return str(value)
    if hasattr(value, "tolist"):
        return value.tolist()
    return value


class RunSummary:
    """Context manager recording one run in ``path``."""

    def __init__(self, path: Path, command: str, inputs: dict[str, Any]):
        self.path = Path(path)
        self.data: dict[str, Any] = {
            "command": command,
            "status": "running",
            "host": socket.gethostname(),
            "started": _now(),
            "inputs": _plain(inputs),
            "versions": versions(),
            "outputs": [],
            "failures": [],
        }
        self._t0 = 0.0

    def add_output(self, **record: Any) -> None:
        self.data["outputs"].append(_plain(record))
        self.write()

    def add_failure(self, **record: Any) -> None:
        self.data["failures"].append(_plain(record))
        self.write()

    def write(self) -> None:
        # through a temporary file of this process's own: runs sharing a summary (labellers
        # on one store) never replace each other's half-written file
        atomic_write(self.path, yaml.safe_dump(self.data, sort_keys=False, allow_unicode=True))

    def __enter__(self) -> RunSummary:
        self._t0 = time.perf_counter()
        self.write()
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        self.data["finished"] = _now()
        self.data["wall_time_s"] = round(time.perf_counter() - self._t0, 2)
        if exc is not None:
            self.data["status"] = "failed"
            self.data["error"] = f"{type(exc).__name__}: {exc}"
        else:
            self.data["status"] = "completed with failures" if self.data["failures"] else "ok"
        self.write()

"""The one fingerprint of seiflow: SHA-256 of bytes (text as UTF-8, arrays as their C-order
bytes, settings as canonical JSON), as hex, cut to ``length`` digits.

Every key that decides what is reused (a labeler's settings hash in the label store, an MD
checkpoint's key, a fit checkpoint's key, a validation result's identity, a built structure's
key) is computed here. Those keys are on users' disks: a change of what goes into one, or of its
encoding, makes every stored label, checkpoint and result look foreign. tests/core/
test_fingerprint.py pins known values.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import numpy as np

DEFAULT_LENGTH = 16  # hex digits of most keys


def canonical_json(data: Any) -> str:
    """JSON with sorted keys (and ``json.dumps``' default separators): the same data, the
    same text."""
    return json.dumps(data, sort_keys=True)


def _bytes(part: str | bytes | np.ndarray) -> bytes:
    if isinstance(part, str):
        return part.encode()
    if isinstance(part, np.ndarray):
        return np.ascontiguousarray(part).tobytes()
    return bytes(part)


class Fingerprint:
    """An incremental fingerprint: ``Fingerprint(a, b).update(c).hex()`` hashes a + b + c
    (concatenated, no separator: add one yourself where parts could run into each other)."""

    def __init__(self, *parts: str | bytes | np.ndarray):
        self._h = hashlib.sha256()
        for part in parts:
            self.update(part)

    def update(self, *parts: str | bytes | np.ndarray) -> Fingerprint:
        for part in parts:
            self._h.update(_bytes(part))
        return self

    def hex(self, length: int | None = DEFAULT_LENGTH) -> str:
        """The first ``length`` hex digits (None: all 64)."""
        digest = self._h.hexdigest()
        return digest if length is None else digest[:length]


def fingerprint(*parts: str | bytes | np.ndarray, length: int | None = DEFAULT_LENGTH) -> str:
    """Fingerprint of the concatenated ``parts``."""
    return Fingerprint(*parts).hex(length)


def json_fingerprint(data: Any, length: int | None = DEFAULT_LENGTH) -> str:
    """Fingerprint of ``data`` as canonical JSON (sorted keys)."""
    return fingerprint(canonical_json(data), length=length)


def file_fingerprint(path: str | Path, length: int | None = None) -> str:
    """Fingerprint of a file's bytes (all 64 hex digits unless ``length``)."""
    return fingerprint(Path(path).read_bytes(), length=length)

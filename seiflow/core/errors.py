"""Errors that seiflow reports to users as one clear line (no traceback)."""

from __future__ import annotations

import difflib
from collections.abc import Iterable


class SeiflowError(Exception):
    """Base class: a problem with the user's input or a failed calculation, in one line."""


class UnknownNameError(SeiflowError, KeyError):
    """A name (phase, element, species, backend...) that seiflow does not know."""

    def __init__(self, kind: str, name: str, valid: Iterable[str]):
        self.kind, self.name, self.valid = kind, name, sorted(valid)
        hints = suggest(name, self.valid)
        hint = f"; did you mean {' or '.join(repr(h) for h in hints)}?" if hints else ""
        shown = ", ".join(self.valid[:12]) + (", ..." if len(self.valid) > 12 else "")
        super().__init__(f"unknown {kind} {name!r}{hint} (valid: {shown})")

    def __str__(self) -> str:  # KeyError would otherwise quote the message
        return self.args[0]


class StructureError(SeiflowError):
    """A structure that is physically unusable (overlapping atoms, empty cell...)."""


class PackingError(SeiflowError):
    """Random packing could not place all blocks at the requested density."""


class InterfaceMatchError(SeiflowError):
    """No lattice match satisfies the requested strain and area limits."""


class ConfigError(SeiflowError):
    """A configuration file that is missing, unreadable or invalid."""


def suggest(name: str, valid: Iterable[str], n: int = 3) -> list[str]:
    """Closest valid names to ``name`` (case-insensitive), best first.

    Very short names (element symbols) also match every name of the same length and initial,
    so 'Lj' suggests 'Li' among others.
    """
    valid = list(valid)
    key = name.lower()
    scored = []
    for v in valid:
        ratio = difflib.SequenceMatcher(None, key, v.lower()).ratio()
        if len(key) <= 2 and len(v) == len(key) and v[:1].lower() == key[:1]:
            ratio = max(ratio, 0.6)
        if ratio >= 0.5:
            scored.append((-ratio, v))
    limit = max(n, 6) if len(key) <= 2 else n
    return [v for _, v in sorted(scored)[:limit]]

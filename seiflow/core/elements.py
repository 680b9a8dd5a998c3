"""Chemical element validation with helpful suggestions."""

from __future__ import annotations

from ase.data import atomic_numbers, chemical_symbols

from seiflow.core.errors import UnknownNameError

VALID_SYMBOLS = [s for s in chemical_symbols[1:]]


def check_element(symbol: str) -> int:
    """Atomic number of ``symbol``; raises UnknownNameError naming it with suggestions."""
    if symbol not in atomic_numbers or symbol == "X":
        raise UnknownNameError("element", symbol, VALID_SYMBOLS)
    return atomic_numbers[symbol]

"""Grimme D3 dispersion added to a DFT calculator through the dftd3 package and ASE's
SumCalculator (zero or Becke-Johnson damping)."""

from __future__ import annotations

from typing import Literal

from ase.calculators.calculator import Calculator
from ase.calculators.mixing import SumCalculator

D3Damping = Literal["zero", "bj"]


def with_d3(calc: Calculator, xc: str, damping: D3Damping | None) -> Calculator:
    """``calc`` plus D3(``damping``) for functional ``xc``; ``calc`` itself if damping is None."""
    if damping is None:
        return calc
    from dftd3.ase import DFTD3

    d3 = DFTD3(method=xc, damping={"zero": "d3zero", "bj": "d3bj"}[damping])
    return SumCalculator([calc, d3])

"""Calculators a workflow can use to relax or compress structures, selected by ``name`` in the
config. The discriminated union below is the registry of calculator kinds."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from seiflow.core.config import StrictModel
from seiflow.reference.xtb import XTBSettings


class EMTSettings(StrictModel):
    """ASE's effective-medium theory (Al, Cu, Ag, Au, Ni, Pd, Pt; H, C, N, O): for tests only."""

    name: Literal["emt"] = "emt"

    def calculator(self):
        from ase.calculators.emt import EMT

        return EMT()


CalculatorSettings = Annotated[XTBSettings | EMTSettings, Field(discriminator="name")]

"""Calculators a workflow can use to relax or compress structures, selected by ``name`` in the
config. The discriminated union below is the registry of calculator kinds."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from seiflow.reference.emt import EMTSettings
from seiflow.reference.sevennet import SevenNetLabeler
from seiflow.reference.xtb import XTBSettings

CalculatorSettings = Annotated[SevenNetLabeler | XTBSettings | EMTSettings,
                               Field(discriminator="name")]

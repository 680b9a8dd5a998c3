"""Reference electronic-structure methods (through ASE), behind the Labeler contract.

``LabelerSettings`` is the registry: a config names a backend by ``name`` (xtb, gpaw, cp2k,
vasp; emt for tests) and gives its settings; the object labels structures.
"""

from typing import Annotated

from pydantic import Field

from seiflow.reference.base import CalculatorLabeler, Label, LabelerError
from seiflow.reference.cp2k import CP2KSettings
from seiflow.reference.emt import EMTSettings
from seiflow.reference.gpaw import GPAWSettings
from seiflow.reference.vasp import VASPSettings
from seiflow.reference.xtb import XTBSettings

LabelerSettings = Annotated[
    XTBSettings | GPAWSettings | CP2KSettings | VASPSettings | EMTSettings,
    Field(discriminator="name"),
]
LABELER_NAMES = ("xtb", "gpaw", "cp2k", "vasp", "emt")  # emt: tests and examples only

__all__ = ["CP2KSettings", "CalculatorLabeler", "EMTSettings", "GPAWSettings", "LABELER_NAMES",
           "Label", "LabelerError", "LabelerSettings", "VASPSettings", "XTBSettings"]

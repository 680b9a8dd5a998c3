"""Reference electronic-structure methods (through ASE), behind the Labeler contract.

``LabelerSettings`` is the registry: a config names a backend by ``name`` (xtb, gpaw, cp2k,
vasp; emt for tests; chgnet, a pretrained universal potential as teacher) and gives its settings;
the object labels structures.
"""

from typing import Annotated

from pydantic import Field

from seiflow.reference.base import CalculatorLabeler, Label, LabelerError
from seiflow.reference.chgnet import CHGNetLabeler
from seiflow.reference.cp2k import CP2KSettings
from seiflow.reference.emt import EMTSettings
from seiflow.reference.gpaw import GPAWSettings
from seiflow.reference.vasp import VASPSettings
from seiflow.reference.xtb import XTBSettings

LabelerSettings = Annotated[
    XTBSettings | GPAWSettings | CP2KSettings | VASPSettings | EMTSettings | CHGNetLabeler,
    Field(discriminator="name"),
]
# emt: tests and examples only; chgnet: a teacher (pretrained potential), no electronic structure
LABELER_NAMES = ("xtb", "gpaw", "cp2k", "vasp", "emt", "chgnet")

__all__ = ["CHGNetLabeler", "CP2KSettings", "CalculatorLabeler", "EMTSettings", "GPAWSettings",
           "LABELER_NAMES", "Label", "LabelerError", "LabelerSettings", "VASPSettings",
           "XTBSettings"]

"""Reference electronic-structure methods (through ASE), behind the Labeler contract.

``LabelerSettings`` is the registry: a config names a backend by ``name`` (xtb, gpaw, cp2k,
vasp; emt for tests; chgnet and sevennet, pretrained universal potentials as teachers) and gives
its settings; the object labels structures. A new backend is one module here and one entry in
``LABELERS``.
"""

from typing import Annotated, Union

from pydantic import Field

from seiflow.reference.base import CalculatorLabeler, Label, LabelerError
from seiflow.reference.chgnet import CHGNetLabeler
from seiflow.reference.cp2k import CP2KSettings
from seiflow.reference.emt import EMTSettings
from seiflow.reference.gpaw import GPAWSettings
from seiflow.reference.sevennet import SevenNetLabeler
from seiflow.reference.vasp import VASPSettings
from seiflow.reference.xtb import XTBSettings

# emt: tests and examples only; chgnet, sevennet: teachers (pretrained potentials, no electrons)
LABELERS = (XTBSettings, GPAWSettings, CP2KSettings, VASPSettings, EMTSettings, CHGNetLabeler,
            SevenNetLabeler)
LabelerSettings = Annotated[Union[LABELERS], Field(discriminator="name")]  # noqa: UP007
LABELER_NAMES = tuple(cls.model_fields["name"].default for cls in LABELERS)

__all__ = ["CHGNetLabeler", "CP2KSettings", "CalculatorLabeler", "EMTSettings", "GPAWSettings",
           "LABELERS", "LABELER_NAMES", "Label", "LabelerError", "LabelerSettings",
           "SevenNetLabeler", "VASPSettings", "XTBSettings"]

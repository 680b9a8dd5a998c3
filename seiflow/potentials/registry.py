"""The potential backends, one ``register_backend`` line each: a name (``backend:`` in a
config), its typed fit settings and its model class ("module:Class", imported when first
needed). ``PotentialSettings`` is the discriminated union of the registered settings;
``load_potential`` loads any saved model by the backend named in its ``model.json``.

A new backend is its own module or folder under ``potentials/`` (settings with ``backend:
Literal[name]``, ``fit`` and ``describe``; a model class that is a ``Potential``, and
``Gradable`` if it has an extrapolation grade) plus one line below; ``seiflow.testing``
holds the checks it must pass.
"""

from __future__ import annotations

from seiflow.potentials.backends import (BACKENDS, Backend, backend_names, backend_of,
                                         load_potential, register_backend, require_gradable,
                                         settings_union)
from seiflow.potentials.chgnet import CHGNetSettings
from seiflow.potentials.committee import CommitteeSettings, member_settings
from seiflow.potentials.mace.settings import MACESettings
from seiflow.potentials.mtp.settings import LossWeights, MTPSettings
from seiflow.potentials.sevennet.settings import SevenNetSettings

register_backend("mtp", MTPSettings, "seiflow.potentials.mtp.model:MTPModel")
register_backend("mace", MACESettings, "seiflow.potentials.mace.model:MACEModel")
register_backend("chgnet", CHGNetSettings, "seiflow.potentials.chgnet:CHGNetModel")
register_backend("sevennet", SevenNetSettings, "seiflow.potentials.sevennet.model:SevenNetModel")
register_backend("committee", CommitteeSettings, "seiflow.potentials.committee:CommitteeModel")

PotentialSettings = settings_union()
member_settings(settings_union(exclude=("committee",)))  # a committee of any other backend
BACKEND_NAMES = backend_names()

__all__ = ["BACKENDS", "BACKEND_NAMES", "Backend", "CHGNetSettings", "CommitteeSettings",
           "LossWeights", "MACESettings", "MTPSettings", "PotentialSettings", "SevenNetSettings",
           "backend_of", "load_potential", "register_backend", "require_gradable"]

"""The potential backends: typed fit settings, one class per backend (``backend:`` in a config
picks one), and ``BACKENDS``, the registry of loaders that ``load_potential`` dispatches on."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

from pydantic import Discriminator, Tag

from seiflow.core.registry import Registry
from seiflow.potentials.base import Potential, read_model_json
from seiflow.potentials.chgnet import CHGNetSettings
from seiflow.potentials.committee import CommitteeSettings
from seiflow.potentials.mace.settings import MACESettings
from seiflow.potentials.mtp.settings import LossWeights, MTPSettings

BACKENDS: Registry = Registry("potential backend")



def _backend(value) -> str | None:
    """``backend:`` picks the settings class; a config without it means an MTP (as before
    there were other backends)."""
    return value.get("backend", "mtp") if isinstance(value, dict) else \
        getattr(value, "backend", None)  # None: pydantic says what is wrong


PotentialSettings = Annotated[
    Annotated[MTPSettings, Tag("mtp")] | Annotated[MACESettings, Tag("mace")]
    | Annotated[CHGNetSettings, Tag("chgnet")] | Annotated[CommitteeSettings, Tag("committee")],
    Discriminator(_backend)]
BACKEND_NAMES = ("mtp", "mace", "chgnet", "committee")

__all__ = ["BACKENDS", "BACKEND_NAMES", "CHGNetSettings", "CommitteeSettings", "LossWeights",
           "MACESettings", "MTPSettings", "PotentialSettings", "load_potential"]


@BACKENDS.register("mtp")
def _load_mtp(path) -> Potential:
    from seiflow.potentials.mtp.model import MTPModel

    return MTPModel.load(path)


@BACKENDS.register("mace")
def _load_mace(path) -> Potential:
    from seiflow.potentials.mace.model import MACEModel

    return MACEModel.load(path)


@BACKENDS.register("chgnet")
def _load_chgnet(path) -> Potential:
    from seiflow.potentials.chgnet import CHGNetModel

    return CHGNetModel.load(path)


@BACKENDS.register("committee")
def _load_committee(path) -> Potential:
    from seiflow.potentials.committee import CommitteeModel

    return CommitteeModel.load(path)


def load_potential(path: str | Path) -> Potential:
    """Load a model folder saved by any backend."""
    meta = read_model_json(path)
    return BACKENDS.get(meta["backend"])(path)

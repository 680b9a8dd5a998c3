"""The backend table: what ``register_backend`` records and what dispatches on it.

A backend is a name, a typed settings class (``backend: Literal[name]``, ``fit``,
``describe``) and a model class (``Potential``, maybe ``Gradable``) named as "module:Class" and
imported only when first needed (torch and friends load lazily). The registration lines live in
``registry.py``, one per backend; this module imports no backend, so a backend's own modules
(a committee loading its members) can use ``load_potential`` without an import cycle.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Union

from pydantic import Discriminator, Tag

from seiflow.core.registry import Registry
from seiflow.potentials.base import Gradable, Potential, implements, read_model_json

BACKENDS: Registry = Registry("potential backend")
_ORDER: list[str] = []  # registration order (the union's, and its error messages')
DEFAULT_BACKEND = "mtp"  # a potential config without ``backend:`` (as before there were others)


@dataclass(frozen=True)
class Backend:
    name: str
    settings: type  # the typed fit settings (a StrictModel)
    model: str  # "module:Class" of the model, imported when first needed

    def model_class(self) -> type:
        module, _, cls = self.model.partition(":")
        return getattr(importlib.import_module(module), cls)

    @property
    def gradable(self) -> bool:
        """Whether its models have an extrapolation grade (the ``Gradable`` protocol)."""
        return implements(self.model_class(), Gradable)


def register_backend(name: str, settings: type, model: str) -> Backend:
    """Make a potential backend known to configs (``backend: name``) and ``load_potential``."""
    entry = BACKENDS.register(name)(Backend(name, settings, model))
    _ORDER.append(name)
    return entry


def backend_names() -> tuple[str, ...]:
    return tuple(_ORDER)


def backend_of(settings) -> Backend:
    """The registered backend of a settings object (or a config mapping)."""
    return BACKENDS.get(_discriminator(settings))


def _discriminator(value) -> str:
    if isinstance(value, dict):
        return value.get("backend", DEFAULT_BACKEND)
    return getattr(value, "backend", DEFAULT_BACKEND)


def settings_union(exclude: tuple[str, ...] = ()):
    """The pydantic discriminated union of the registered settings classes (``backend:``
    picks one; none given means ``DEFAULT_BACKEND``)."""
    members = tuple(Annotated[BACKENDS.get(n).settings, Tag(n)] for n in _ORDER
                    if n not in exclude)
    return Annotated[Union[members], Discriminator(_discriminator)]  # noqa: UP007


def require_gradable(settings, what: str = "active learning") -> None:
    """One ValueError line when ``settings``' backend has no extrapolation grade."""
    b = backend_of(settings)
    if not b.gradable:
        ok = ", ".join(n for n in _ORDER if BACKENDS.get(n).gradable)
        raise ValueError(f"potential backend {b.name!r} has no extrapolation grade γ, which "
                         f"{what} needs; use one of: {ok}")


def load_potential(path: str | Path) -> Potential:
    """Load a model folder saved by any registered backend."""
    meta = read_model_json(path)
    if not _ORDER:  # the table fills when registry.py is imported
        importlib.import_module("seiflow.potentials.registry")
    return BACKENDS.get(meta["backend"]).model_class().load(path)

"""The properties ``seiflow validate`` knows, in table order: one line each.

A new property is a ``ValidationProperty`` subclass (its settings model, ``compute`` with a
calculator factory, rows, figure; see ``spec.py``), a line here, and the config fields it
names (its targets list and settings) in ``workflows/validate.py``'s ``ValidateConfig``.
"""

from __future__ import annotations

from seiflow.workflows.properties.diffusion import Diffusion
from seiflow.workflows.properties.elastic import Elastic
from seiflow.workflows.properties.interface import InterfaceEnergy
from seiflow.workflows.properties.lattice import Lattice
from seiflow.workflows.properties.neb import Barrier
from seiflow.workflows.properties.phonons import Phonons
from seiflow.workflows.properties.spec import TargetKind, ValidationProperty

PROPERTIES: dict[str, type[ValidationProperty]] = {}


def register(prop: type[ValidationProperty]) -> type[ValidationProperty]:
    if prop.name in PROPERTIES:
        raise ValueError(f"validation property {prop.name!r} is already registered")
    PROPERTIES[prop.name] = prop
    return prop


register(Lattice)
register(Elastic)
register(Phonons)
register(Barrier)
register(InterfaceEnergy)
register(Diffusion)


def target_kinds() -> list[TargetKind]:
    """The kinds of target, in the order their first property was registered."""
    return list({p.targets.field: p.targets for p in PROPERTIES.values()}.values())


def properties_of(kind: TargetKind, target) -> list[type[ValidationProperty]]:
    """The properties computed for ``target``: those it lists (``properties:`` of a crystal),
    else every property of its kind."""
    chosen = getattr(target, "properties", None)
    if chosen is not None:
        return [PROPERTIES[name] for name in chosen]
    return [p for p in PROPERTIES.values() if p.targets.field == kind.field]


def names_of(kind_field: str) -> tuple[str, ...]:
    return tuple(n for n, p in PROPERTIES.items() if p.targets.field == kind_field)

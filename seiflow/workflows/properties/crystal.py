"""Crystal targets (``phases:`` of the suite): the structure is relaxed once per method (space
group kept, ``lattice:`` settings), and lattice/EOS, elastic constants and phonons all start
from that relaxed cell, cached as ``<target>/relaxed.<method>.extxyz``."""

from __future__ import annotations

from ase import Atoms
from ase.io import read, write

from seiflow.workflows.properties.base import CalcFactory, Relaxed, relax
from seiflow.workflows.properties.spec import (
    Context,
    TargetKind,
    ValidationProperty,
    settings_identity,
)


def relax_crystal(atoms: Atoms, factory: CalcFactory, lattice, what: str) -> Relaxed:
    """The relaxation every crystal property starts from: positions and cell, space group
    kept, to the ``lattice:`` settings' ``fmax`` (eV/Å), ``smax`` (GPa) and ``max_steps``."""
    return relax(atoms, factory, fmax=lattice.fmax, smax=lattice.smax,
                 max_steps=lattice.max_steps, what=what)


def relaxed_crystal(target, ctx: Context) -> Atoms:
    """The target's cell relaxed with ``ctx.factory`` (read back when the file holds the
    relaxation of the same method and settings). A failed relaxation raises PropertyFailed."""
    lat = ctx.cfg.lattice
    relax_id = settings_identity(ctx.factory.identity, target, lat)
    path = ctx.out_dir / target.key / f"relaxed.{ctx.method}.extxyz"
    if path.exists():
        relaxed = read(path)
        if relaxed.info.get("identity") == relax_id:
            return relaxed
    relaxed = relax_crystal(target.cell(), ctx.factory, lat, f"{target.name} relaxation").atoms
    relaxed.info["identity"] = relax_id
    path.parent.mkdir(parents=True, exist_ok=True)
    write(path, relaxed)
    return relaxed


CRYSTALS = TargetKind("phases", prepare=relaxed_crystal)


class CrystalProperty(ValidationProperty):
    """A property of a relaxed crystal: depends on the relaxation's settings too."""

    targets = CRYSTALS

    @classmethod
    def identity_settings(cls, cfg, target) -> tuple:
        return (target, cfg.lattice, cls.settings(cfg))

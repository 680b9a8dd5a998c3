"""Crystal targets (``phases:`` of the suite): the structure is relaxed once per method (space
group kept, ``lattice:`` settings), and lattice/EOS, elastic constants and phonons all start
from that relaxed cell, cached as ``<target>/relaxed.<method>.extxyz``."""

from __future__ import annotations

from ase import Atoms
from ase.io import read, write

from seiflow.workflows.properties.base import CalcFactory, Relaxed
from seiflow.workflows.properties.calcs import Calc
from seiflow.workflows.properties.spec import (
    Context,
    TargetKind,
    ValidationProperty,
    settings_identity,
)


def crystal_relaxation(atoms: Atoms, lattice, what: str) -> Calc:
    """The relaxation every crystal property starts from: positions and cell, space group
    kept, to the ``lattice:`` settings' ``fmax`` (eV/Å), ``smax`` (GPa) and ``max_steps``."""
    return Calc("relax", atoms, what, {"fmax": lattice.fmax, "smax": lattice.smax,
                                       "max_steps": lattice.max_steps})


def relax_crystal(atoms: Atoms, factory: CalcFactory, lattice, what: str) -> Relaxed:
    """``crystal_relaxation`` computed with ``factory`` in this process."""
    return crystal_relaxation(atoms, lattice, what).run(factory)


def relaxed_crystal(target, ctx: Context) -> Atoms:
    """The target's cell relaxed with ``ctx.factory`` by the context's runner. Without a runner
    of its own (in this process) the file of the same method and settings is read back; a
    runner that keeps its calculations (the reference's) gives the exact relaxed cell back
    from its cache, so the calculations that start from it are found there too. A failed
    relaxation raises PropertyFailed."""
    lat = ctx.cfg.lattice
    relax_id = settings_identity(ctx.factory.identity, target, lat)
    path = ctx.out_dir / target.key / f"relaxed.{ctx.method}.extxyz"
    if ctx.runner is None and path.exists():
        relaxed = read(path)
        if relaxed.info.get("identity") == relax_id:
            return relaxed
    calc = crystal_relaxation(target.cell(), lat, f"{target.name} relaxation")
    relaxed = ctx.run([calc], "crystal relaxation")[0].atoms
    relaxed.info["identity"] = relax_id
    path.parent.mkdir(parents=True, exist_ok=True)
    write(path, relaxed)
    return relaxed


CRYSTALS = TargetKind("phases", prepare=relaxed_crystal, fans_out=True)


class CrystalProperty(ValidationProperty):
    """A property of a relaxed crystal: depends on the relaxation's settings too."""

    targets = CRYSTALS

    @classmethod
    def identity_settings(cls, cfg, target) -> tuple:
        return (target, cfg.lattice, cls.settings(cfg))

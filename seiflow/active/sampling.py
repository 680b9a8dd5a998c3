"""Cheap starting data: randomly rattled and strained copies of the starting structures."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from ase import Atoms
from pydantic import Field, field_validator

from seiflow.core.config import MAX_COUNT, StrictModel
from seiflow.data.labels import FIT_WEIGHT


class PerturbSettings(StrictModel):
    """``per_structure`` copies of each structure, each with Gaussian displacements of a random
    amplitude in ``rattle_A`` (Å, per Cartesian component) and a random symmetric strain of up to
    ``strain`` per component."""

    per_structure: int = Field(4, ge=0, le=MAX_COUNT)
    rattle_A: tuple[float, float] = (0.02, 0.12)
    strain: float = Field(0.02, ge=0, lt=0.3)
    seed: int = Field(0, ge=0)
    # the two below are left out of dumps at their defaults, so the saved configs of runs
    # started before they existed still match (Run.claim_config) and resume
    weight: float = Field(1.0, gt=0, exclude_if=lambda v: v == 1.0,
                          description="each copy's weight in the fit's loss "
                          "(info['fit_weight']; e.g. 10 for near-equilibrium strained copies, "
                          "which fix the elastic constants: docs/demo.md)")
    zero_pressure: bool = Field(False, exclude_if=lambda v: not v,
                                description="seiflow learn: copy each structure scaled "
                                "isotropically to the labeler's zero pressure, so the copies "
                                "are strained about the reference's own equilibrium volume, not "
                                "the built (e.g. experimental) one")

    @field_validator("rattle_A")
    @classmethod
    def _range(cls, v: tuple[float, float]) -> tuple[float, float]:
        if not 0 <= v[0] <= v[1] <= 1.0:
            raise ValueError(f"rattle_A must be [low, high] with 0 <= low <= high <= 1 Å, "
                             f"not {list(v)}")
        return v


def perturbed(structures: Sequence[Atoms], s: PerturbSettings, tag: str) -> list[Atoms]:
    rng = np.random.default_rng(s.seed)
    out = []
    for atoms in structures:
        name = atoms.info.get("name", atoms.get_chemical_formula())
        for k in range(s.per_structure):
            new = atoms.copy()
            new.calc = None
            if new.cell.rank == 3:
                eps = rng.uniform(-s.strain, s.strain, (3, 3))
                new.set_cell(new.cell @ (np.eye(3) + (eps + eps.T) / 2), scale_atoms=True)
            amp = rng.uniform(*s.rattle_A)
            new.positions += rng.normal(scale=amp, size=new.positions.shape)
            new.info = {"name": name, "source": f"{tag} {k} of {name} (rattle {amp:.3f} Å)"}
            if s.weight != 1.0:
                new.info[FIT_WEIGHT] = s.weight
            out.append(new)
    return out

"""SevenNet-0 (Park et al., J. Chem. Theory Comput. 20, 4857 (2024)) as a teacher labeler.

SevenNet-0 is an equivariant graph network (NequIP architecture, 5 Å cutoff) trained on the
Materials Project relaxation trajectories (MPtrj: PBE and PBE+U, VASP), like CHGNet, but with
smaller errors against PBE on forces and stresses. As a labeler it gives energies (eV), forces
(eV/Å) and stresses (eV/Å³, ASE sign) for H-Bi (Z 1-83, plus Ac-Pu) in well under a second per
100-atom cell on one core, with no electronic structure: a teacher for exploration, demos and
teacher-student tests, not the reference method of a paper.

The weights ship inside the ``sevenn`` wheel (``sevenn/pretrained_potentials/``); nothing is
downloaded. ``sevenn`` is pinned at 0.10.4: later versions need e3nn >= 0.5, which conflicts
with mace-torch's e3nn 0.4.4. e3nn 0.4.4 reads its constants with ``torch.load`` at import,
which torch >= 2.6 refuses unless ``TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD`` is set (mace-torch sets
it on import too); the network is loaded once per process and device and shared by labelers.

Conventions. sevenn's calculator returns σ = -(its virial stress) in Voigt order xx yy zz yz zx
xy, eV/Å³: ASE's sign (tensile positive). The network runs in float32, so energies are
reproducible to ~1e-6 relative and finite-difference checks need steps of ~1e-3 Å. Every cell
is treated as periodic: a molecule needs a box with > 5 Å of vacuum; stress is reported only
for cells periodic in all three directions.
"""

from __future__ import annotations

import functools
import os
import warnings
from typing import Any, ClassVar, Literal

import numpy as np
from ase import Atoms
from ase.calculators.calculator import Calculator, all_changes
from ase.data import chemical_symbols
from pydantic import Field

from seiflow.reference.base import CalculatorLabeler, LabelerError, check_elements
from seiflow.reference.chgnet import resolve_device

# the shipped checkpoints (names as sevenn resolves them); 22May2024 is the first release
MODELS = {"7net-0": "7net-0_11July2024", "7net-0_22May2024": "7net-0_22May2024"}


def load_calculator(model: str = "7net-0", device: str = "cpu"):
    """sevenn's own ASE calculator with the shipped ``model`` on ``device`` (read from the
    package's files, never downloaded)."""
    if model not in MODELS:
        raise LabelerError(f"unknown SevenNet model {model!r} (shipped: {', '.join(MODELS)})")
    # e3nn 0.4.4 torch.loads its constants at import (see the module docstring)
    os.environ.setdefault("TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD", "1")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from sevenn.calculator import SevenNetCalculator

        calc = SevenNetCalculator(MODELS[model], device=resolve_device(device))
    calc.model.requires_grad_(False)  # forces and stress are gradients of the inputs only
    return calc


@functools.lru_cache(maxsize=4)
def shared_calculator(model: str, device: str):
    """One loaded network per model and device for all labelers of the process."""
    return load_calculator(model, device)


def known_elements(model: str = "7net-0", device: str = "cpu") -> set[str]:
    """Elements the network has an embedding for (from its type map)."""
    return {chemical_symbols[z] for z in shared_calculator(model, device).type_map}


class SevenNetASECalculator(Calculator):
    """ASE calculator over a shared SevenNet network: energy and free_energy (eV), forces
    (eV/Å), stress (eV/Å³, ASE sign; cells periodic in all directions only). A thin layer
    over sevenn's calculator so that many labelers and NEB images share one network."""

    implemented_properties = ["energy", "free_energy", "forces", "stress"]

    def __init__(self, engine: Any, **kwargs):
        super().__init__(**kwargs)
        self.engine = engine

    def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes):
        super().calculate(atoms, properties, system_changes)
        atoms = self.atoms
        if atoms.cell.rank < 3:
            raise LabelerError("SevenNet needs a 3D cell (a molecule needs a vacuum box)")
        if not (np.isfinite(atoms.positions).all() and np.isfinite(atoms.cell.array).all()):
            # the neighbour list drops such an atom and the network labels the rest: refuse
            raise ValueError("non-finite positions or cell")
        work = atoms.copy()
        work.pbc = True  # sevenn's graph follows pbc; seiflow's convention: always periodic
        self.engine.calculate(work, ["energy", "forces", "stress"], all_changes)
        res = self.engine.results
        energy = float(res["energy"])
        self.results = {"energy": energy, "free_energy": energy,
                        "forces": np.asarray(res["forces"], dtype=float).reshape(len(atoms), 3)}
        if atoms.pbc.all():
            self.results["stress"] = np.asarray(res["stress"], dtype=float).reshape(6)


class SevenNetLabeler(CalculatorLabeler):
    """The pretrained SevenNet-0 (MPtrj PBE/PBE+U) as a teacher: energies (eV), forces (eV/Å),
    stress (eV/Å³). No electronic structure — a universal potential, not a reference method."""

    LAUNCH_FIELDS: ClassVar[frozenset[str]] = frozenset({"device"})

    name: Literal["sevennet"] = "sevennet"
    model: Literal["7net-0", "7net-0_22May2024"] = Field(
        "7net-0", description="shipped weights: 7net-0 (SevenNet_0__11Jul2024) or its "
        "first release 7net-0_22May2024")
    device: Literal["cpu", "cuda", "auto"] = Field(
        "cpu", description="cpu (reproducible labels), cuda, or auto (cuda if available)")

    def check(self, atoms: Atoms) -> None:
        elements = known_elements(self.model, resolve_device(self.device))
        check_elements(atoms, elements, f"SevenNet {self.model}")
        if atoms.cell.rank < 3:
            where = atoms.info.get("source", atoms.get_chemical_formula())
            raise LabelerError(f"{where}: SevenNet needs a 3D cell (put a molecule or slab in "
                               "a vacuum box with > 5 Å of vacuum)")

    def calculator(self, atoms: Atoms | None = None) -> SevenNetASECalculator:
        return SevenNetASECalculator(shared_calculator(self.model, resolve_device(self.device)))

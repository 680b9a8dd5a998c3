"""CHGNet (Deng et al., Nat. Mach. Intell. 5, 1031 (2023)) as a teacher labeler, and the ASE
calculator that seiflow's CHGNet potential (``seiflow.potentials.chgnet``) also uses.

CHGNet is a universal graph-network potential trained on the Materials Project relaxation
trajectories (MPtrj: PBE and PBE+U, VASP). As a labeler it gives energies, forces and stresses
for any element H-Pu (Z 1-94) in a fraction of a second per cell, with no electronic structure:
use it for demos, tests and teacher-student experiments, never as the reference method of a
paper (its errors against PBE are tens of meV/atom, and PBE+U for transition-metal oxides).

The weights ship inside the ``chgnet`` package (``chgnet/pretrained/``); nothing is downloaded.

Units and conventions. CHGNet predicts the energy per atom (eV/atom), forces (eV/Å) and the
stress σ = (1/V) ∂E/∂ε in GPa, with the same sign as ASE (tensile positive, so a compressed
cell has a negative stress and a positive pressure). The calculator here returns the total
energy (eV), forces (eV/Å) and σ in eV/Å³ (GPa × ``ase.units.GPa``), Voigt order as ASE.
CHGNet treats every cell as periodic: a molecule or slab needs a vacuum box (> 6 Å of vacuum,
CHGNet's graph cutoff); stress is reported only for cells periodic in all three directions.
The network runs in float32 (chgnet hard-codes it): energies are reproducible to ~1e-6 relative.
"""

from __future__ import annotations

import contextlib
import functools
import io
import warnings
from typing import Any, ClassVar, Literal

import numpy as np
from ase import Atoms, units
from ase.calculators.calculator import Calculator, all_changes
from ase.data import chemical_symbols
from ase.stress import full_3x3_to_voigt_6_stress
from pydantic import Field

from seiflow.reference.base import CalculatorLabeler, LabelerError, check_elements

CHGNET_ELEMENTS = tuple(chemical_symbols[1:95])  # H-Pu: CHGNet's atom embedding covers Z 1-94
CHECKPOINTS = ("0.3.0", "r2scan")  # shipped in chgnet/pretrained/; 0.2.0 is deprecated upstream


def resolve_device(device: str) -> str:
    """``auto`` → ``cuda`` if torch sees a GPU, else ``cpu``; other names pass through."""
    if device != "auto":
        return device
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


@contextlib.contextmanager
def quiet():
    """Swallow chgnet's prints ("CHGNet v0.3.0 initialized with ...", "will run on cpu",
    trainer logs). chgnet prints unconditionally in several constructors; it has no switch."""
    with contextlib.redirect_stdout(io.StringIO()):
        yield


def load_pretrained(checkpoint: str = "0.3.0", device: str = "cpu"):
    """The shipped CHGNet ``checkpoint`` (a ``chgnet.model.CHGNet`` torch module) on
    ``device``; read from the package's own files, never downloaded."""
    if checkpoint not in CHECKPOINTS:
        raise LabelerError(f"unknown CHGNet checkpoint {checkpoint!r} "
                           f"(shipped: {', '.join(CHECKPOINTS)})")
    with quiet(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from chgnet.model.model import CHGNet

        net = CHGNet.load(model_name=checkpoint, use_device=resolve_device(device),
                          verbose=False)
    net.eval()
    net.requires_grad_(False)  # inference: forces and stress are gradients of the inputs only
    return net


def cell_problem(atoms: Atoms) -> str | None:
    """Why CHGNet cannot treat the cell of ``atoms`` (one line), or None."""
    if atoms.cell.rank < 3:
        where = atoms.info.get("source", atoms.get_chemical_formula())
        return (f"{where}: CHGNet needs a 3D cell (put a molecule or slab in a vacuum box "
                "with > 6 Å of vacuum)")
    return None


def to_structure(atoms: Atoms):
    """A pymatgen Structure of ``atoms``, periodic in all three directions (as CHGNet sees
    every cell)."""
    from pymatgen.core import Lattice, Structure

    return Structure(Lattice(np.array(atoms.cell)), atoms.numbers, atoms.positions,
                     coords_are_cartesian=True)


class CHGNetCalculator(Calculator):
    """ASE calculator around a CHGNet network: energy and free_energy (eV), forces (eV/Å),
    stress (eV/Å³, ASE sign; cells periodic in all directions only).

    chgnet's own ``chgnet.model.dynamics.CHGNetCalculator`` is not used: it does not offer
    ``free_energy`` (so ``ase.calculators.fd.calculate_numerical_stress`` fails), returns a
    3×3 float32 stress and prints on construction.
    """

    implemented_properties = ["energy", "free_energy", "forces", "stress"]

    def __init__(self, net: Any, **kwargs):
        super().__init__(**kwargs)
        self.net = net

    def check(self, atoms: Atoms) -> None:
        """Refuse what CHGNet cannot treat at all (subclasses raise their own error type)."""
        problem = cell_problem(atoms)
        if problem:
            raise LabelerError(problem)

    def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes):
        super().calculate(atoms, properties, system_changes)
        atoms = self.atoms
        self.check(atoms)
        periodic = bool(all(atoms.pbc))
        if set(properties) <= {"energy", "free_energy"}:
            task = "e"  # no backward pass: finite differences and MC need energies only
        else:
            task = "efs" if periodic else "ef"
        graph = self.net.graph_converter(to_structure(atoms))
        with warnings.catch_warnings():
            # chgnet builds a tensor from volumes that require grad (harmless, every call)
            warnings.filterwarnings("ignore", message="Converting a tensor with requires_grad")
            pred = self.net.predict_graph(graph, task=task)
        n = len(atoms)
        energy = float(pred["e"]) * (n if self.net.is_intensive else 1)
        self.results = {"energy": energy, "free_energy": energy}
        if "f" in pred:
            self.results["forces"] = np.asarray(pred["f"], dtype=float).reshape(n, 3)
        if "s" in pred:
            s = np.asarray(pred["s"], dtype=float).reshape(3, 3) * units.GPa  # GPa → eV/Å³
            self.results["stress"] = full_3x3_to_voigt_6_stress(s)  # same sign; symmetrised


class CHGNetLabeler(CalculatorLabeler):
    """The pretrained CHGNet (MPtrj PBE/PBE+U; or its r2SCAN transfer-learned checkpoint) as a
    teacher: energies (eV), forces (eV/Å), stress (eV/Å³). No electronic structure — a
    universal potential, not a reference method (see the module docstring)."""

    LAUNCH_FIELDS: ClassVar[frozenset[str]] = frozenset({"device"})

    name: Literal["chgnet"] = "chgnet"
    checkpoint: Literal["0.3.0", "r2scan"] = Field(
        "0.3.0", description="shipped weights: 0.3.0 (MPtrj PBE/PBE+U) or r2scan (MP r2SCAN)")
    device: Literal["cpu", "cuda", "auto"] = Field(
        "cpu", description="cpu (bit-reproducible labels), cuda, or auto (cuda if available)")

    def check(self, atoms: Atoms) -> None:
        check_elements(atoms, set(CHGNET_ELEMENTS), "CHGNet (H-Pu, Z 1-94, only)")
        problem = cell_problem(atoms)
        if problem:
            raise LabelerError(problem)

    def calculator(self, atoms: Atoms | None = None) -> CHGNetCalculator:
        return CHGNetCalculator(shared_pretrained(self.checkpoint, resolve_device(self.device)))


@functools.lru_cache(maxsize=4)
def shared_pretrained(checkpoint: str, device: str):
    """One read-only pretrained network per checkpoint and device for all labelers (loading
    costs ~0.1 s; labelers stay small to pickle and compare equal by their settings)."""
    return load_pretrained(checkpoint, device)

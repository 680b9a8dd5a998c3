"""A trained MACE (Batatia et al., NeurIPS 2022) on mace-torch: ASE calculator, feature grade,
save/load, and the torch-sim model for batched MD.

Saved as a folder: ``mace.model`` (the whole torch module, the format mace-torch's own tools,
its LAMMPS converter and its calculator read), ``active_set.npz`` (feature active set) and
``model.json`` (species, settings, training record).
"""

from __future__ import annotations

import contextlib
import copy
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

import numpy as np
import torch
from ase import Atoms
from ase.calculators.calculator import Calculator, all_changes
from ase.data import atomic_numbers, chemical_symbols
from ase.stress import full_3x3_to_voigt_6_stress
from mace.data import AtomicData
from mace.data.utils import Configuration
from mace.tools import torch_geometric
from mace.tools.utils import AtomicNumberTable

from seiflow.core.atomic import atomic_path
from seiflow.data.labels import Label, fit_weight
from seiflow.potentials.active import ActiveSet
from seiflow.potentials.base import (MODEL_FILE, ModelError, check_species, read_model_json,
                                     write_model_json)
from seiflow.potentials.graded import GradedCalculator
from seiflow.potentials.mace.features import readout_features
from seiflow.potentials.seeding import torch_default_dtype

MACE_FILE = "mace.model"
ACTIVE_FILE = "active_set.npz"


def pick_device(name: str) -> torch.device:
    """``auto``: the GPU when torch sees one, else the CPU."""
    if name == "cuda" and not torch.cuda.is_available():
        raise ModelError("device 'cuda' asked for, but torch sees no GPU (use 'auto' or 'cpu')")
    return torch.device("cuda" if name == "cuda" or (name == "auto" and
                                                     torch.cuda.is_available()) else "cpu")


def module_dtype(module: torch.nn.Module) -> torch.dtype:
    return next(module.parameters()).dtype


def configuration(atoms: Atoms, label: Label | None = None) -> Configuration:
    """mace-torch's Configuration of ``atoms`` with its labels (energy eV, forces eV/Å, stress
    eV/Å³ in ASE's Voigt order and sign, as mace expects); missing labels get weight 0."""
    props = {"energy": None, "forces": None, "stress": None}
    if label is not None:
        props = {"energy": label.energy, "forces": label.forces,
                 "stress": label.stress if atoms.pbc.all() else None}
    weights = {k: 0.0 if v is None else 1.0 for k, v in props.items()}
    return Configuration(atomic_numbers=atoms.numbers.copy(), positions=atoms.positions.copy(),
                         properties=props, property_weights=weights,
                         weight=fit_weight(atoms),
                         cell=np.array(atoms.cell), pbc=tuple(bool(p) for p in atoms.pbc))


def graphs(configs: list[Configuration], z_table: AtomicNumberTable, r_max: float,
           dtype: torch.dtype) -> list[AtomicData]:
    """Neighbour graphs (mace's AtomicData) of ``configs``, with their labels."""
    with torch_default_dtype(dtype):
        return [AtomicData.from_config(c, z_table=z_table, cutoff=r_max) for c in configs]


def batch_of(data: list[AtomicData], device: torch.device):
    return torch_geometric.batch.Batch.from_data_list(data).to(device)


@dataclass
class MACEModel:
    """A MACE torch module with its species, feature active set and training record."""

    backend: ClassVar[str] = "mace"
    module: torch.nn.Module
    species: tuple[str, ...]
    active_set: ActiveSet | None = None
    record: dict = field(default_factory=dict)
    device: torch.device = field(default_factory=lambda: pick_device("auto"))

    def __post_init__(self):
        self.module = self.module.to(self.device).eval()
        for p in self.module.parameters():
            p.requires_grad_(False)

    @property
    def r_max(self) -> float:
        return float(self.module.r_max)

    @property
    def z_table(self) -> AtomicNumberTable:
        return AtomicNumberTable([int(z) for z in self.module.atomic_numbers])

    @property
    def dtype(self) -> torch.dtype:
        return module_dtype(self.module)

    @property
    def cutoff(self) -> float:
        return self.r_max

    def calculator(self, grade: bool = True) -> Calculator:
        """ASE calculator; with ``grade`` (and an active set) a GradedCalculator that also
        returns the per-atom feature grades ``gammas`` and their maximum ``gamma``."""
        if grade and self.active_set is not None:
            return GradedCalculator(self, MACECalculator(self, rows=True))
        return MACECalculator(self)

    def predict(self, atoms: Atoms, stress: bool = True, features: bool = False) -> dict:
        """Energy (eV), forces (eV/Å), stress (eV/Å³, 3×3) and, with ``features``, the
        readout feature rows of every atom."""
        check_species(atoms, self.species, "this MACE model")
        batch = batch_of(graphs([configuration(atoms)], self.z_table, self.r_max, self.dtype),
                         self.device)
        periodic = stress and atoms.cell.rank == 3 and bool(atoms.pbc.all())
        capture = readout_features(self.module) if features else contextlib.nullcontext([])
        with capture as rows:
            out = self.module(batch.to_dict(), training=False, compute_force=True,
                              compute_stress=periodic)
        res = {"energy": float(out["energy"].detach().cpu()[0]),
               "forces": out["forces"].detach().cpu().double().numpy()}
        if periodic:
            res["stress"] = out["stress"].detach().cpu().double().numpy()[0]
        if features:
            res["rows"] = torch.cat(rows, dim=1).detach().cpu().double().numpy()
        return res

    def rows(self, atoms: Atoms) -> np.ndarray:
        """Feature rows (one per atom) for the active set: see potentials/mace/features.py."""
        return self.predict(atoms, stress=False, features=True)["rows"]

    def grade(self, atoms: Atoms) -> np.ndarray:
        """Per-atom D-optimality grade γ of the readout features (neighbourhood mode)."""
        if self.active_set is None:
            raise ModelError("this MACE model has no active set (fit it with seiflow) to grade "
                             "with")
        return self.active_set.grades(self.rows(atoms))

    def grade_from(self, results: dict) -> np.ndarray:
        """γ from the feature ``rows`` a ``MACECalculator(rows=True)`` computed."""
        return self.active_set.grades(results["rows"])

    def torchsim_model(self, device: torch.device, dtype: torch.dtype,
                       neighbor_list_fn=None):
        """torch-sim's MaceModel around a copy of this module (batched MD on GPU or CPU;
        md/batched.py). Forces only: the batched ensembles need no stress."""
        from torch_sim.models.mace import MaceModel

        module = copy.deepcopy(self.module).to(device=device, dtype=dtype)
        extra = {"neighbor_list_fn": neighbor_list_fn} if neighbor_list_fn else {}
        return MaceModel(model=module, device=device, dtype=dtype, compute_forces=True,
                         compute_stress=False, **extra)

    def save(self, path: str | Path) -> Path:
        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        with atomic_path(path / MACE_FILE) as tmp:
            try:
                torch.save(self.module.to("cpu"), tmp)
            finally:
                self.module.to(self.device)
        if self.active_set is not None:
            self.active_set.save(path / ACTIVE_FILE)
        meta = {"backend": self.backend, "species": list(self.species), **self.record}
        write_model_json(path, meta)
        return path

    @classmethod
    def load(cls, path: str | Path, device: str = "auto") -> MACEModel:
        path = Path(path)
        meta = read_model_json(path)
        module = load_module(path / MACE_FILE)
        species = tuple(meta["species"])
        in_file = {chemical_symbols[int(z)] for z in module.atomic_numbers}
        if not set(species) <= in_file:
            raise ModelError(f"{path / MACE_FILE} does not match {MODEL_FILE}: it lacks "
                             f"{', '.join(sorted(set(species) - in_file))}")
        active = ActiveSet.load(path / ACTIVE_FILE) if (path / ACTIVE_FILE).exists() else None
        record = {k: v for k, v in meta.items() if k not in ("backend", "species")}
        return cls(module=module, species=species, active_set=active, record=record,
                   device=pick_device(device))


def load_module(path: Path) -> torch.nn.Module:
    """A MACE module saved whole by torch (seiflow's ``mace.model`` or a foundation file)."""
    if not path.is_file():
        raise ModelError(f"{path} does not exist")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            module = torch.load(path, map_location="cpu", weights_only=False)
    except Exception as exc:  # noqa: BLE001 - any unpickling failure means a corrupt file
        raise ModelError(f"{path} is not a readable MACE model file ({type(exc).__name__}: "
                         f"{exc})") from None
    if not isinstance(module, torch.nn.Module) or not hasattr(module, "atomic_numbers") or \
            not hasattr(module, "r_max"):
        raise ModelError(f"{path} holds no MACE model ({type(module).__name__})")
    return module


def species_of(module: torch.nn.Module) -> tuple[str, ...]:
    return tuple(chemical_symbols[int(z)] for z in module.atomic_numbers)


def numbers_of(species) -> list[int]:
    return sorted(atomic_numbers[s] for s in species)


class MACECalculator(Calculator):
    """Energy (eV), forces (eV/Å), stress (eV/Å³); with ``rows`` also the readout feature
    rows of every atom (``results["rows"]``, what ``MACEModel.grade_from`` grades)."""

    implemented_properties = ["energy", "free_energy", "forces", "stress"]

    def __init__(self, model: MACEModel, rows: bool = False):
        super().__init__()
        self.model = model
        self.with_rows = rows

    def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes):
        super().calculate(atoms, properties, system_changes)
        res = self.model.predict(self.atoms, stress=True, features=self.with_rows)
        self.results = {"energy": res["energy"], "free_energy": res["energy"],
                        "forces": res["forces"]}
        if "stress" in res:
            self.results["stress"] = full_3x3_to_voigt_6_stress(res["stress"])
        if self.with_rows:
            self.results["rows"] = res["rows"]

"""A trained MTP: parameters (motep's MTPData), species, active set; ASE calculator; save/load.

Saved as a folder: ``potential.mtp`` (MLIP's legacy text format, which MLIP-3 and LAMMPS read),
``active_set.npz`` and ``model.json`` (species order, level, settings, training record). Plain
``.mtp`` files carry no element names; ``model.json`` maps the file's types to elements.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

import numpy as np
from ase import Atoms
from ase.calculators.calculator import Calculator, all_changes
from ase.data import atomic_numbers
from motep.calculator import make_mtp_engine
from motep.io.mlip.mtp import read_mtp, write_mtp
from motep.potentials.mtp.data import BasisData, MTPData

from seiflow.potentials.base import (MODEL_FILE, ModelError, check_species, geometry_changes,
                                     read_model_json, write_model_json)
from seiflow.potentials.active import ActiveSet, design_rows
from seiflow.potentials.graded import GradedCalculator
from seiflow.potentials.mtp import kernel
from seiflow.potentials.mtp.levels import MTPBasis

MTP_FILE = "potential.mtp"
ACTIVE_FILE = "active_set.npz"

# motep warns through logging on every call below min_dist; seiflow reports it once per fit/run
logging.getLogger("motep.potentials.mtp.base").setLevel(logging.ERROR)
# motep logs every MaxVol swap; an incomplete active set is reported by the fit instead
logging.getLogger("motep.grade.maxvol").setLevel(logging.ERROR)


def new_mtp_data(basis: MTPBasis, species: tuple[str, ...], cutoff: float, min_dist: float,
                 radial_basis_size: int, rng: np.random.Generator) -> MTPData:
    """Untrained parameters for ``basis`` and ``species`` (Chebyshev radial basis on
    [min_dist, cutoff] Å), with random starting coefficients."""
    data = MTPData(
        version="1.1.0", potential_name=f"seiflow_mtp_level{basis.level}", scaling=1.0,
        radial_basis=BasisData(type="RBChebyshev", min=np.float64(min_dist),
                               max=np.float64(cutoff), size=radial_basis_size),
        radial_funcs_count=basis.radial_funcs_count,
        alpha_moments_count=basis.alpha_moments_count,
        alpha_index_basic_count=len(basis.alpha_index_basic),
        alpha_index_basic=basis.alpha_index_basic,
        alpha_index_times_count=len(basis.alpha_index_times),
        alpha_index_times=basis.alpha_index_times,
        alpha_scalar_moments=basis.alpha_scalar_moments,
        alpha_moment_mapping=basis.alpha_moment_mapping,
    )
    data.species = [atomic_numbers[s] for s in species]
    data.initialize(rng)
    data.radial_coeffs = rng.uniform(-0.1, 0.1, data.radial_coeffs.shape)
    return data


def new_engine(data: MTPData, mode: str = "run"):
    """motep's C-extension engine. An engine keeps the neighbour list and basis arrays of the
    first structure it sees, so seiflow makes one per structure (or per atom count in MD)."""
    return make_mtp_engine("cext")(data, mode=mode)


ENGINES = ("kernel", "motep")
ENGINE_ENV = "SEIFLOW_MTP_ENGINE"
_warned = []


def default_engine() -> str:
    """The MTP evaluator: ``SEIFLOW_MTP_ENGINE`` (kernel or motep), else seiflow's compiled
    kernel when it is built, else motep's engine (with one warning)."""
    name = os.environ.get(ENGINE_ENV, "").strip().lower() or "kernel"
    if name not in ENGINES:
        raise ModelError(f"{ENGINE_ENV}={name!r}: use one of {', '.join(ENGINES)}")
    if name == "kernel" and not kernel.available():
        if not _warned:
            _warned.append(True)
            logging.getLogger(__name__).warning(
                "seiflow's compiled MTP kernel is not built (%s); using motep's engine "
                "(rebuild: pip install -e .)", kernel.LOAD_ERROR)
        return "motep"
    return name


class _MotepRun:
    """motep's run-mode engine behind the kernel engine's ``calculate(atoms, rows)``."""

    def __init__(self, data: MTPData):
        self.engine = new_engine(data)

    def calculate(self, atoms: Atoms, rows: bool = False) -> dict:
        res = self.engine.calculate(atoms)
        out = {"energy": float(res["energy"]), "energies": np.array(res["energies"]),
               "forces": np.array(res["forces"]), "stress": np.array(res["stress"])}
        if rows:
            out["basis"] = np.array(self.engine.mbd.vatoms.T)
        return out


def run_engine(data: MTPData, engine: str | None = None):
    """An evaluator of ``data`` (``engine``: kernel, motep, or None for ``default_engine``)
    whose ``calculate(atoms, rows)`` gives energy, energies, forces, stress and ``basis``."""
    engine = engine or default_engine()
    if engine not in ENGINES:
        raise ModelError(f"unknown MTP engine {engine!r} (one of {', '.join(ENGINES)})")
    return kernel.KernelEngine(data) if engine == "kernel" else _MotepRun(data)


@dataclass
class MTPModel:
    """Moment Tensor Potential (Shapeev 2016) on motep's C engine."""

    backend: ClassVar[str] = "mtp"
    data: MTPData
    species: tuple[str, ...]
    level: int
    active_set: ActiveSet | None = None
    record: dict = field(default_factory=dict)  # settings and training history

    @property
    def cutoff(self) -> float:
        return float(self.data.radial_basis.max)

    def types(self, atoms: Atoms) -> np.ndarray:
        """Index of every atom's element in the species order (motep's get_types, vectorised)."""
        return kernel.species_types(atoms, self.data.species)

    def calculator(self, grade: bool = True, engine: str | None = None) -> Calculator:
        """ASE calculator for any cell; with ``grade`` (and an active set) a GradedCalculator
        that also returns the per-atom extrapolation grades ``gammas`` and their max ``gamma``.
        ``engine``: kernel or motep (default: ``default_engine()``)."""
        if grade and self.active_set is not None:
            return GradedCalculator(self, MTPCalculator(self, rows=True, engine=engine))
        return MTPCalculator(self, engine=engine)

    def rows(self, atoms: Atoms, engine: str | None = None) -> np.ndarray:
        """Active-set rows (one per atom) of ``atoms`` at the current parameters."""
        check_species(atoms, self.species, "this MTP")
        basis = run_engine(self.data, engine).calculate(atoms, rows=True)["basis"]
        return design_rows(basis.T, self.types(atoms), len(self.species))

    def grade(self, atoms: Atoms) -> np.ndarray:
        """Per-atom extrapolation grade γ (neighbourhood mode)."""
        if self.active_set is None:
            raise ModelError("this model has no active set: no extrapolation grade γ (fit it "
                             "with seiflow, or import it with its MLIP selection state)")
        return self.active_set.grades(self.rows(atoms))

    def grade_from(self, results: dict) -> np.ndarray:
        """γ from the ``rows`` an ``MTPCalculator(rows=True)`` computed with the energy."""
        return self.active_set.grades(results["rows"])

    def torchsim_model(self, device, dtype, neighbor_list_fn=None):
        """This MTP in PyTorch as a torch-sim model (torch_model.py: energy, forces, stress of
        a batch; batched MD on GPU or CPU, md/batched.py), with the current coefficients."""
        from seiflow.potentials.mtp.torch_model import MTPTorchSimModel

        return MTPTorchSimModel(self, device=device, dtype=dtype,
                                neighbor_list_fn=neighbor_list_fn)

    def save(self, path: str | Path) -> Path:
        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        write_mtp(path / MTP_FILE, self.data, legacy=True)
        if self.active_set is not None:
            self.active_set.save(path / ACTIVE_FILE)
        meta = {"backend": self.backend, "species": list(self.species), "level": self.level,
                **self.record}
        write_model_json(path, meta)
        return path

    @classmethod
    def load(cls, path: str | Path) -> MTPModel:
        path = Path(path)
        meta = read_model_json(path)
        species = tuple(meta["species"])
        try:
            data = read_mtp(path / MTP_FILE)
            n_coeff = data.radial_coeffs.size if data.radial_coeffs is not None else -1
        except Exception as exc:  # noqa: BLE001 - any parse failure means a corrupt file
            raise ModelError(f"{path / MTP_FILE} is not a readable .mtp file ({exc})") from None
        expected = (data.species_count ** 2 * data.radial_funcs_count * data.radial_basis.size)
        if data.species_count != len(species) or n_coeff != expected or \
                data.moment_coeffs is None or len(data.moment_coeffs) != data.alpha_scalar_moments:
            raise ModelError(f"{path / MTP_FILE} is corrupt or does not match {MODEL_FILE} "
                             f"(species {', '.join(species)})")
        data.species = [atomic_numbers[s] for s in species]
        # motep optimises and grades the groups listed here; a loaded model has all of them
        data.optimized = ["moment_coeffs", "species_coeffs", "radial_coeffs"]
        active = ActiveSet.load(path / ACTIVE_FILE) if (path / ACTIVE_FILE).exists() else None
        record = {k: v for k, v in meta.items() if k not in ("backend", "species", "level")}
        return cls(data=data, species=species, level=int(meta.get("level", 0)),
                   active_set=active, record=record)



class MTPCalculator(Calculator):
    """Energy (eV), forces (eV/Å), stress (eV/Å³); with ``rows`` also the active-set rows of
    every atom (``results["rows"]``, what ``MTPModel.grade_from`` grades)."""

    implemented_properties = ["energy", "free_energy", "energies", "forces", "stress"]

    def __init__(self, model: MTPModel, rows: bool = False, engine: str | None = None):
        super().__init__()
        self.model = model
        self.with_rows = rows
        self.engine = engine or default_engine()
        self._engine = None
        self._key = None

    def check_state(self, atoms, tol=1e-15):
        return geometry_changes(self.atoms, atoms)

    def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes):
        super().calculate(atoms, properties, system_changes)
        atoms = self.atoms
        key = (tuple(atoms.numbers), tuple(atoms.pbc))
        if self._engine is None or key != self._key:
            check_species(atoms, self.model.species, "this MTP")
            self._engine, self._key = run_engine(self.model.data, self.engine), key
        self._store(self._engine.calculate(atoms, rows=self.with_rows))

    @property
    def engine_instance(self):
        """The evaluator of the last calculation (kernel.KernelEngine or motep's; None before
        the first)."""
        return self._engine

    def adopt(self, atoms: Atoms, res: dict) -> None:
        """Take ``res`` (the engine's dict for ``atoms``' current state, e.g. from the kernel's
        MD loop) as this calculator's results for that state."""
        self.atoms = atoms.copy()
        self._store(res)

    def _store(self, res: dict) -> None:
        atoms = self.atoms
        self.results = {"energy": res["energy"], "free_energy": res["energy"],
                        "energies": res["energies"], "forces": res["forces"]}
        if atoms.cell.rank == 3 and all(atoms.pbc):
            self.results["stress"] = res["stress"]
        if self.with_rows:
            self.results["rows"] = design_rows(res["basis"].T, self.model.types(atoms),
                                               len(self.model.species))

"""The capability protocols of a potential (../shared/design.md): ``Potential`` (every backend)
and ``Gradable`` (an extrapolation grade γ), and the ``model.json`` of a saved model.

A saved model is a folder holding ``model.json`` (backend, species, settings, training record)
beside the backend's own files. ``registry.load_potential`` reads the backend name from it and
hands the folder to that backend's model class (one ``register_backend`` line in registry.py).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Protocol, runtime_checkable

import numpy as np
from ase import Atoms
from ase.calculators.calculator import Calculator

from seiflow.core.atomic import write_json
from seiflow.core.errors import SeiflowError

if TYPE_CHECKING:
    from seiflow.potentials.active import ActiveSet

MODEL_FILE = "model.json"


class ModelError(SeiflowError):
    """A model folder that is missing, corrupt, or does not fit the structure it is asked about."""


@runtime_checkable
class Potential(Protocol):
    """What every backend provides: its name, the elements it knows, its cutoff (Å), an ASE
    calculator, and a model folder it saves to and loads from. ``calculator(grade=True)``
    of a ``Gradable`` potential is a ``GradedCalculator`` (potentials/graded.py)."""

    backend: str
    species: tuple[str, ...]

    @property
    def cutoff(self) -> float: ...

    def calculator(self, grade: bool = True) -> Calculator: ...

    def save(self, path: str | Path) -> Path: ...

    @classmethod
    def load(cls, path: str | Path) -> Potential: ...


@runtime_checkable
class Gradable(Protocol):
    """A potential with a per-atom extrapolation grade γ (γ ≤ 1: interpolation). ``grade``
    grades a structure on its own; ``grade_from`` grades from the results of the backend's own
    calculator (``GradedCalculator``: no second evaluation). ``rows``/``active_set``: the
    row space MaxVol selects in (``active_set`` None: select by the largest γ)."""

    active_set: ActiveSet | None

    def grade(self, atoms: Atoms) -> np.ndarray: ...

    def grade_from(self, results: dict) -> np.ndarray: ...

    def rows(self, atoms: Atoms) -> np.ndarray: ...


def implements(obj, protocol: type) -> bool:
    """Whether ``obj`` (an instance or a class) has every member of ``protocol``; unlike
    ``issubclass`` this works for protocols with data members (class defaults count)."""
    names = {n for n in vars(protocol) if not n.startswith("_")}
    names |= set(getattr(protocol, "__annotations__", {}))
    return all(hasattr(obj, n) for n in names)


def read_model_json(path: str | Path) -> dict:
    path = Path(path)
    meta_path = path / MODEL_FILE
    if not meta_path.is_file():
        raise ModelError(f"{path} is not a seiflow model folder (no {MODEL_FILE})")
    try:
        meta = json.loads(meta_path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise ModelError(f"{meta_path} is corrupt: {exc}") from None
    if not isinstance(meta, dict) or "backend" not in meta or "species" not in meta:
        raise ModelError(f"{meta_path} is corrupt: it lacks 'backend' or 'species'")
    return meta


def _jsonable(obj):
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    return str(obj)  # paths, devices


def write_model_json(path: str | Path, meta: dict) -> Path:
    """Write ``model.json`` into the folder ``path`` atomically (a reader never sees half)."""
    target = Path(path) / MODEL_FILE
    write_json(target, meta, default=_jsonable)
    return target


def geometry_changes(old: Atoms | None, new: Atoms) -> list[str]:
    """What an interatomic potential's results depend on that differs between ``old`` (a
    calculator's last state) and ``new``, compared exactly: positions, numbers, cell, pbc.
    A calculator's ``check_state`` for MD: ASE's general one compares six properties with
    tolerances (~0.3 ms per call on 200 atoms, a tenth of a fast force call); this is ~µs."""
    if old is None:
        return ["positions", "numbers", "cell", "pbc"]
    return [name for name, a, b in (
        ("positions", old.positions, new.positions), ("numbers", old.numbers, new.numbers),
        ("cell", old.cell.array, new.cell.array), ("pbc", old.pbc, new.pbc))
        if not np.array_equal(a, b)]


def check_species(atoms: Atoms, species: tuple[str, ...], what: str = "the model") -> None:
    """One clear error line when ``atoms`` holds an element that ``what`` was not trained on."""
    missing = sorted(set(atoms.get_chemical_symbols()) - set(species))
    if missing:
        where = atoms.info.get("source", atoms.get_chemical_formula())
        known = ", ".join(species) if len(species) <= 12 else \
            f"{len(species)} elements, {species[0]} to {species[-1]}"
        raise ModelError(f"{where} contains {', '.join(missing)}, which {what} (species "
                         f"{known}) was not trained on")

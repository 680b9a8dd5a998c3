"""The Potential protocol (../shared/design.md) and loading any saved model by its backend.

A saved model is a folder holding ``model.json`` (backend, species, settings, training record)
beside the backend's own files. ``load_potential`` reads the backend name from it and hands the
folder to that backend's loader (``registry.BACKENDS``).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Protocol, runtime_checkable

import numpy as np
from ase import Atoms
from ase.calculators.calculator import Calculator

from seiflow.core.errors import SeiflowError

MODEL_FILE = "model.json"


class ModelError(SeiflowError):
    """A model folder that is missing, corrupt, or does not fit the structure it is asked about."""


@runtime_checkable
class Potential(Protocol):
    """What every backend provides. ``grade`` is the per-atom extrapolation grade (None if the
    backend has no uncertainty measure); ``calculator(grade=True)`` also reports it as the
    results ``gammas`` (per atom) and ``gamma`` (their maximum)."""

    backend: str
    species: tuple[str, ...]

    def calculator(self, grade: bool = True) -> Calculator: ...

    def save(self, path: str | Path) -> Path: ...

    def grade(self, atoms: Atoms) -> np.ndarray | None: ...


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
    tmp = target.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(meta, indent=1, default=_jsonable))
    tmp.replace(target)
    return target


def check_species(atoms: Atoms, species: tuple[str, ...], what: str = "the model") -> None:
    """One clear error line when ``atoms`` holds an element that ``what`` was not trained on."""
    missing = sorted(set(atoms.get_chemical_symbols()) - set(species))
    if missing:
        where = atoms.info.get("source", atoms.get_chemical_formula())
        known = ", ".join(species) if len(species) <= 12 else \
            f"{len(species)} elements, {species[0]} to {species[-1]}"
        raise ModelError(f"{where} contains {', '.join(missing)}, which {what} (species "
                         f"{known}) was not trained on")

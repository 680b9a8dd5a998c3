"""The label store: an ASE database (SQLite file by default; a PostgreSQL URL works the same).

Every row holds the structure, its label (energy eV, forces eV/Å, stress eV/Å³ as an ASE
single-point result) or the failure reason, the labeler and the hash of its settings, and the
origin (group, builder, iteration, trajectory, extrapolation grade). Each label is committed on
its own, so a killed run loses nothing finished; ``is_labelled`` lets a run skip what is done,
so the same structure with the same settings is never labelled twice.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

import ase.db
import numpy as np
from ase import Atoms

from seiflow.core.errors import SeiflowError
from seiflow.data.labels import Label


@dataclass
class Origin:
    """Where a structure came from; None fields are not stored."""

    group: str = "default"
    builder: str | None = None
    iteration: int | None = None
    trajectory: str | None = None
    grade: float | None = None

    def pairs(self) -> dict:
        return {k: v for k, v in asdict(self).items() if v is not None}


def structure_hash(atoms: Atoms) -> str:
    """Identity of a structure: species, positions and cell to 1e-5 Å, periodicity."""
    h = hashlib.sha256()
    h.update(np.asarray(atoms.numbers, dtype=np.int64).tobytes())
    h.update(np.round(atoms.positions, 5).astype(np.float64).tobytes() + b"|")
    h.update(np.round(atoms.cell.array, 5).astype(np.float64).tobytes() + b"|")
    h.update(np.asarray(atoms.pbc, dtype=np.int8).tobytes())
    return h.hexdigest()[:24]


class LabelStore:
    """Typed access to the ASE database of labels."""

    def __init__(self, url: str | Path):
        self.url = str(url)
        if "://" not in self.url:
            path = Path(self.url)
            if path.suffix != ".db":
                raise SeiflowError(f"label store {path}: use a .db file or a postgresql:// URL")
            path.parent.mkdir(parents=True, exist_ok=True)
        self.db = ase.db.connect(self.url)

    def is_labelled(self, atoms: Atoms, settings_hash: str) -> bool:
        """True if this structure already has a row (ok or failed) for these settings."""
        return self.db.count(structure_hash=structure_hash(atoms),
                             settings_hash=settings_hash) > 0

    def add(self, atoms: Atoms, label: Label, labeler: str, settings_hash: str,
            origin: Origin | None = None) -> int:
        """Commit one label (or failure) and return its row id."""
        origin = origin or Origin()
        kvp = {
            "structure_hash": structure_hash(atoms),
            "settings_hash": settings_hash,
            "labeler": labeler,
            "status": "ok" if label.ok else "failed",
            "wall_time": round(float(label.wall_time), 4),
            **origin.pairs(),
        }
        data = {"failure": label.failure, **label.extra} if not label.ok else {}
        source = atoms.info.get("source")
        if source:
            data["source"] = str(source)
        return self.db.write(label.attach(atoms), key_value_pairs=kvp, data=data)

    def count(self, **filters) -> int:
        return self.db.count(**filters)

    def rows(self, **filters) -> Iterator:
        yield from self.db.select(**filters)

    def frames(self, **filters) -> list[Atoms]:
        """Labelled structures (status ok) with their single-point results and origin in info."""
        out = []
        for row in self.db.select(status="ok", **filters):
            atoms = row.toatoms(add_additional_information=False)
            atoms.info.update(row.key_value_pairs)
            atoms.info["id"] = row.id
            atoms.info["source"] = row.data.get("source", f"{self.url} row {row.id}")
            out.append(atoms)
        return out

    def failures(self) -> list[dict]:
        return [{"id": r.id, "formula": r.formula, "group": r.get("group"),
                 "failure": r.data.get("failure")} for r in self.db.select(status="failed")]

    def set_split(self, ids: list[int], split: str) -> None:
        with self.db:
            for i in ids:
                self.db.update(i, split=split)

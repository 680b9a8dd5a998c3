"""NequIP-style ``.npz`` data sets (one atom count per file): reader.

Recognised keys (NequIP's AtomicDataDict names; Å, eV, eV/Å, eV/Å³):

=================== =================================== ==========================================
key                 shape                               meaning
=================== =================================== ==========================================
``pos``             (F, N, 3) or (N, 3)                 Cartesian positions, Å
``atomic_numbers``  (N,) or (F, N)                      elements
``atom_types``      (N,) or (F, N)                      0-based type, with ``type_names`` (N_types,)
                                                        or a given ``type_map``
``cell``            (3, 3), (F, 3, 3) or (F, 9)         cell rows, Å; absent: non-periodic
``pbc``             (), (3,) or (F, 3)                  default: periodic where a cell is given
``total_energy``    (F,) or (F, 1)                      total energy, eV (``energy`` also read)
``forces``          (F, N, 3)                           eV/Å
``stress``          (F, 3, 3) or (F, 6)                 eV/Å³, ASE sign (NequIP's (1/V) dE/dε)
``virial``          (F, 3, 3) or (F, 9)                 eV, ``-V * stress`` (checked against stress)
=================== =================================== ==========================================

Any other key is kept on every frame (``arrays`` when it has one row per atom, ``info``
otherwise) so that ``seiflow data import`` can name what the store does not keep. NequIP
itself is unit-agnostic: a file in other units (sGDML's kcal/mol) must be converted first.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
from ase import Atoms

from seiflow.core.errors import StructureError
from seiflow.data.conventions import periodic_volume, stress_or_virial
from seiflow.data.labels import Label

NPZ_KEYS = ("pos", "atomic_numbers", "atom_types", "type_names", "cell", "pbc", "total_energy",
            "energy", "forces", "stress", "virial")


def _per_frame(value: np.ndarray, nframes: int, shape: tuple[int, ...], key: str, where: str,
               once: bool = True) -> np.ndarray:
    """``value`` as (nframes, *shape): broadcast when given once (if ``once``), else reshaped."""
    value = np.asarray(value)
    size = int(np.prod(shape))
    if once and value.size == size:
        return np.broadcast_to(value.reshape(shape), (nframes, *shape))
    if value.size == nframes * size and value.ndim >= 1 and len(value) == nframes:
        return value.reshape(nframes, *shape)
    expected = f"{shape} or " if once else ""
    raise StructureError(f"{where}: {key!r} has shape {value.shape}, expected {expected}"
                         f"({nframes}, {', '.join(map(str, shape))})")


def _numbers(data: dict, nframes: int, natoms: int, type_map: Sequence[str] | None,
             where: str) -> np.ndarray:
    """Atomic numbers (nframes, natoms) from atomic_numbers or atom_types + type names."""
    from ase.data import atomic_numbers

    if "atomic_numbers" in data:
        return _per_frame(data["atomic_numbers"], nframes, (natoms,), "atomic_numbers", where)
    if "atom_types" not in data:
        raise StructureError(f"{where}: no 'atomic_numbers' or 'atom_types' key")
    names = [str(n) for n in data["type_names"]] if "type_names" in data else list(type_map or [])
    if not names:
        raise StructureError(f"{where}: 'atom_types' without 'type_names'; give the elements "
                             "(--type-map Li,C,O)")
    unknown = [n for n in names if n not in atomic_numbers]
    if unknown:
        raise StructureError(f"{where}: type names {unknown} are not chemical elements")
    types = _per_frame(data["atom_types"], nframes, (natoms,), "atom_types", where).astype(int)
    if types.min() < 0 or types.max() >= len(names):
        raise StructureError(f"{where}: atom_types up to {types.max()} for {len(names)} names")
    return np.array([atomic_numbers[n] for n in names])[types]


def _stresses(data: dict, frames: list[Atoms], where: str) -> list[np.ndarray | None]:
    """ASE Voigt stress per frame from ``stress`` (eV/Å³) and/or ``virial`` (eV)."""
    given = {}
    for key in ("stress", "virial"):
        if key in data:
            values = np.asarray(data[key], dtype=float)
            width = 6 if values.size == 6 * len(frames) else 9
            given[key] = _per_frame(values, len(frames), (width,), key, where, once=False)
    out = []
    for k, atoms in enumerate(frames):
        here = f"{where}:frame {k}"
        volume = periodic_volume(atoms, here) if "virial" in given else None
        out.append(stress_or_virial(given["stress"][k] if "stress" in given else None,
                                    given["virial"][k] if "virial" in given else None,
                                    volume, here))
    return out


def _extra(data: dict, frames: list[Atoms]) -> None:
    """Keep keys seiflow does not read on the frames (per atom → arrays, else info)."""
    nframes, natoms = len(frames), len(frames[0])
    read = set(NPZ_KEYS) - ({"energy"} if "total_energy" in data else set())
    for key in sorted(set(data) - read):
        value = np.asarray(data[key])
        per_frame = value.ndim >= 1 and len(value) == nframes
        for k, atoms in enumerate(frames):
            v = value[k] if per_frame else value
            if getattr(v, "ndim", 0) >= 1 and len(v) == natoms and v.dtype.kind in "fiub":
                atoms.new_array(key, np.array(v))
            else:
                atoms.info[key] = v.item() if getattr(v, "ndim", 1) == 0 else np.array(v)


def _load(path: Path) -> dict[str, np.ndarray]:
    if not path.is_file():
        raise StructureError(f"npz file not found: {path}")
    try:
        with np.load(path, allow_pickle=False) as npz:
            return {k: npz[k] for k in npz.files}
    except (OSError, ValueError) as exc:
        raise StructureError(f"{path}: not a readable .npz file ({exc})") from None


def read_nequip_npz(path: str | Path, type_map: Sequence[str] | None = None) -> list[Atoms]:
    """Read a NequIP-style ``.npz`` (keys in this module's docstring) as labelled Atoms."""
    path = Path(path)
    data = _load(path)
    if "pos" not in data:
        raise StructureError(f"{path}: no 'pos' key (keys: {', '.join(sorted(data))})")
    pos = np.asarray(data["pos"], dtype=float)
    pos = pos[None] if pos.ndim == 2 else pos
    if pos.ndim != 3 or pos.shape[-1] != 3:
        raise StructureError(f"{path}: 'pos' has shape {data['pos'].shape}, expected (F, N, 3)")
    nframes, natoms = pos.shape[:2]
    numbers = _numbers(data, nframes, natoms, type_map, str(path))
    cells = _per_frame(data["cell"], nframes, (3, 3), "cell", str(path)) \
        if "cell" in data else np.zeros((nframes, 3, 3))
    pbc = np.broadcast_to(cells.any(axis=2), (nframes, 3))
    if "pbc" in data:
        given = np.asarray(data["pbc"], dtype=bool)
        pbc = _per_frame(np.repeat(given, 3) if given.size == 1 else given, nframes, (3,), "pbc",
                         str(path))
    frames = [Atoms(numbers=numbers[k], positions=pos[k], cell=cells[k], pbc=pbc[k])
              for k in range(nframes)]
    _attach_labels(data, frames, str(path))
    _extra(data, frames)
    for atoms in frames:
        atoms.info.setdefault("source", f"file {path.name}")
    return frames


def _attach_labels(data: dict, frames: list[Atoms], where: str) -> None:
    """Energy (eV), forces (eV/Å) and stress (eV/Å³) of every frame as its calculator."""
    nframes, natoms = len(frames), len(frames[0])
    key = "total_energy" if "total_energy" in data else "energy" if "energy" in data else None
    if key is None:
        raise StructureError(f"{where}: no energy key ('total_energy' or 'energy'; keys: "
                             f"{', '.join(sorted(data))})")
    energy = _per_frame(data[key], nframes, (1,), key, where, once=nframes == 1)
    forces = _per_frame(data["forces"], nframes, (natoms, 3), "forces", where, once=nframes == 1) \
        if "forces" in data else [None] * nframes
    for atoms, e, f, s in zip(frames, energy[:, 0], forces, _stresses(data, frames, where)):
        Label(float(e), f, s).attach(atoms, copy=False)

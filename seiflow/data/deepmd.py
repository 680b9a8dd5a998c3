"""DeePMD-kit systems (npy ``set.*`` directories and the raw-text variant): writer and reader.

Conventions (Å, eV, eV/Å; virial ``W = -V * stress_ASE`` in eV) are described in
:mod:`seiflow.data.formats`.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
from ase import Atoms

from seiflow.core.errors import StructureError
from seiflow.data.conventions import (
    check_type_map,
    periodic_volume,
    stress_from_virial,
    type_indices,
    virial_from_stress,
)
from seiflow.data.labels import Label

DEEPMD_KEYS = ("box", "coord", "energy", "force", "virial")
DEEPMD_META = ("type.raw", "type_map.raw", "nopbc")


def _deepmd_arrays(atoms: Atoms, types: np.ndarray, where: str) -> dict[str, np.ndarray | None]:
    """One frame's box/coord/energy/force/virial with atoms stably sorted by type."""
    lab = Label.from_atoms(atoms)
    energy, forces, stress = lab.energy, lab.forces, lab.stress
    if energy is None or forces is None:
        raise StructureError(f"{where}: DeePMD-kit needs energy and forces on every frame")
    order = np.argsort(types, kind="stable")
    periodic = bool(atoms.pbc.all())
    virial = None
    if periodic and stress is not None:
        virial = virial_from_stress(stress, periodic_volume(atoms, where)).reshape(9)
    return {
        "box": atoms.cell.array.reshape(9).copy(),
        "coord": atoms.positions[order].reshape(-1),
        "energy": np.array(energy),
        "force": forces[order].reshape(-1),
        "virial": virial,
    }


def write_deepmd(frames: Sequence[Atoms], directory: str | Path, type_map: list[str]) -> list[Path]:
    """Write frames as DeePMD-kit npy systems under ``directory``; returns the system dirs.

    Frames are grouped by formula (counts in ``type_map`` order) and periodicity; each system
    ``<directory>/<formula>`` (``<formula>-nopbc`` if non-periodic) holds ``type.raw``,
    ``type_map.raw`` and ``set.000/{box,coord,energy,force[,virial]}.npy`` in Å, eV, eV/Å and
    virial ``-V * stress`` (eV; written only when every frame of the system has a stress).
    """
    directory = Path(directory)
    index = check_type_map(type_map, f"DeePMD {directory}")
    if not frames:
        raise StructureError(f"DeePMD {directory}: no frames to write")
    systems: dict[tuple, list[dict]] = {}
    for k, atoms in enumerate(frames):
        where = f"DeePMD {directory}: frame {k}"
        if atoms.pbc.any() and not atoms.pbc.all():
            raise StructureError(f"{where}: mixed pbc {atoms.pbc.tolist()} (need all or none)")
        types = type_indices(atoms, index, where)
        counts = tuple(int(n) for n in np.bincount(types, minlength=len(type_map)))
        systems.setdefault((counts, bool(atoms.pbc.all())), []).append(
            _deepmd_arrays(atoms, types, where)
        )
    return [_write_system(directory, type_map, c, p, data) for (c, p), data in systems.items()]


def _write_system(
    directory: Path, type_map: list[str], counts: tuple[int, ...], periodic: bool, data: list[dict]
) -> Path:
    """Write one DeePMD-kit system directory; returns it."""
    formula = "".join(f"{el}{n}" for el, n in zip(type_map, counts) if n)
    system = directory / (formula if periodic else f"{formula}-nopbc")
    sets = system / "set.000"
    sets.mkdir(parents=True, exist_ok=True)
    types = np.repeat(np.arange(len(type_map)), counts)
    (system / "type.raw").write_text("".join(f"{t}\n" for t in types))
    (system / "type_map.raw").write_text("".join(f"{el}\n" for el in type_map))
    nopbc = system / "nopbc"
    if periodic:
        nopbc.unlink(missing_ok=True)
    else:
        nopbc.write_text("")
    for key in ("box", "coord", "energy", "force"):
        np.save(sets / f"{key}.npy", np.array([d[key] for d in data], dtype=np.float64))
    if all(d["virial"] is not None for d in data):
        np.save(sets / "virial.npy", np.array([d["virial"] for d in data], dtype=np.float64))
    else:
        (sets / "virial.npy").unlink(missing_ok=True)
    return system


# ---------------------------------------------------------------------------------------------
# reader
# ---------------------------------------------------------------------------------------------


def find_deepmd_systems(path: str | Path) -> list[Path]:
    """Every DeePMD-kit system (a directory holding ``type.raw``) at or below ``path``, sorted."""
    path = Path(path)
    return sorted({p.parent for p in path.rglob("type.raw")}) if path.is_dir() else []


def _system_types(system: Path, type_map: Sequence[str] | None) -> list[str]:
    """Element of every atom, from type.raw and type_map.raw (or the given type_map)."""
    try:
        types = np.loadtxt(system / "type.raw", dtype=int, ndmin=1)
    except ValueError as exc:
        raise StructureError(f"{system}/type.raw: not integer types ({exc})") from None
    map_file = system / "type_map.raw"
    names = map_file.read_text().split() if map_file.is_file() else list(type_map or [])
    if not names:
        raise StructureError(f"{system}: no type_map.raw; give the elements (--type-map Li,C,O)")
    if types.size == 0 or types.min() < 0 or types.max() >= len(names):
        raise StructureError(f"{system}/type.raw: types {sorted(set(types.tolist()))} do not fit "
                             f"type_map {names}")
    return [names[t] for t in types]


def _load_arrays(system: Path) -> dict[str, np.ndarray]:
    """Every ``set.*/*.npy`` (concatenated over sets) or, without sets, every ``*.raw`` array."""
    sets = sorted(p for p in system.glob("set.*") if p.is_dir())
    if not sets:
        files = [p for p in system.glob("*.raw") if p.name not in DEEPMD_META]
        try:
            return {p.stem: np.loadtxt(p, ndmin=2) for p in sorted(files)}
        except ValueError as exc:
            raise StructureError(f"{system}: unreadable .raw array ({exc})") from None
    arrays: dict[str, list[np.ndarray]] = {}
    for s in sets:
        for p in sorted(s.glob("*.npy")):
            arrays.setdefault(p.stem, []).append(np.load(p))
    missing = [k for k, v in arrays.items() if len(v) != len(sets)]
    if missing:
        raise StructureError(f"{system}: {missing[0]}.npy is not in every set.* directory")
    return {k: np.concatenate([a.reshape(len(a), -1) for a in v]) for k, v in arrays.items()}


def _check_shapes(arrays: dict[str, np.ndarray], natoms: int, periodic: bool,
                  system: Path) -> int:
    """Number of frames; StructureError naming the array whose shape does not fit."""
    for key in ("coord", "energy") + (("box",) if periodic else ()):
        if key not in arrays:
            raise StructureError(f"{system}: no {key} array (set.*/{key}.npy or {key}.raw)")
    nframes = len(arrays["coord"])
    width = {"box": 9, "coord": 3 * natoms, "energy": 1, "force": 3 * natoms, "virial": 9}
    for key, w in width.items():
        if key in arrays and arrays[key].shape != (nframes, w):
            raise StructureError(f"{system}: {key} has shape {arrays[key].shape}, "
                                 f"expected ({nframes}, {w}) for {natoms} atoms")
    return nframes


def _frame(symbols: list[str], arrays: dict[str, np.ndarray], k: int, periodic: bool,
           where: str) -> Atoms:
    natoms = len(symbols)
    cell = arrays["box"][k].reshape(3, 3) if "box" in arrays and periodic else None
    atoms = Atoms(symbols, positions=arrays["coord"][k].reshape(natoms, 3), cell=cell,
                  pbc=periodic)
    forces = arrays["force"][k].reshape(natoms, 3) if "force" in arrays else None
    stress = None
    if "virial" in arrays and periodic:
        stress = stress_from_virial(arrays["virial"][k], periodic_volume(atoms, where), where)
    Label(float(arrays["energy"][k, 0]), forces, stress).attach(atoms, copy=False)
    for key in sorted(set(arrays) - set(DEEPMD_KEYS)):
        atoms.info[key] = arrays[key][k].copy()  # kept on the Atoms; the store reports them
    return atoms


def read_deepmd(path: str | Path, type_map: Sequence[str] | None = None) -> list[Atoms]:
    """Read every DeePMD-kit system at or below ``path`` as labelled Atoms (systems sorted).

    A system holds ``type.raw`` and ``type_map.raw`` (or pass ``type_map``), and either
    ``set.*/{box,coord,energy[,force,virial]}.npy`` or the same arrays as ``*.raw`` text (one
    frame a row). Stress = ``-virial / V`` (eV/Å³, ASE sign); an empty ``nopbc`` file makes the
    system non-periodic (box ignored). Other arrays (``aparam``, ``fparam``, ...) are kept per
    frame in ``info`` under their name. ``info["source"]`` is "DeePMD <system dir>".
    """
    systems = find_deepmd_systems(path)
    if not systems:
        raise StructureError(f"{path}: no DeePMD-kit system (a directory with type.raw) there")
    frames = []
    for system in systems:
        symbols = _system_types(system, type_map)
        periodic = not (system / "nopbc").exists()
        arrays = _load_arrays(system)
        for k in range(_check_shapes(arrays, len(symbols), periodic, system)):
            atoms = _frame(symbols, arrays, k, periodic, f"{system}:frame {k}")
            atoms.info["source"] = f"DeePMD {system}"
            frames.append(atoms)
    return frames

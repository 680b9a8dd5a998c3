"""Labelled-structure formats: mlearn JSON, MLIP ``.cfg``, DeePMD-kit npy, extended XYZ.

A *labelled structure* in seiflow is an ASE ``Atoms`` with a ``SinglePointCalculator`` holding

- ``energy``: total energy, eV;
- ``forces``: eV/Å, shape (N, 3);
- ``stress`` (periodic cells only): eV/Å³, ASE Voigt order xx yy zz yz xz xy, ASE sign
  (tensile positive, ``stress = (1/V) dE/dstrain``, exactly ``atoms.get_stress()``).

Every reader sets ``info["source"]`` (file or data set) and ``info["group"]`` where the format
has one. The *virial* used by MLIP and DeePMD-kit is ``W = -V * stress`` (eV, V in Å³): positive
diagonal when the cell is compressed and wants to expand.

Formats and their conventions
-----------------------------
mlearn JSON (Zuo et al., J. Phys. Chem. A 124, 731 (2020))
    A list of entries: ``structure`` (pymatgen ``Structure`` dict, Å), ``outputs.energy`` (eV,
    total), ``outputs.forces`` (eV/Å), ``outputs.virial_stress`` (kbar, VASP order xx yy zz xy yz
    zx, positive = compressive, as VASP's "in kB" line), ``group``, ``description``. Converted as
    ``stress_ase[xx yy zz yz xz xy] = -0.1 GPa/kbar * virial_stress[xx yy zz yz zx xy]``.
MLIP-2/MLIP-3 ``.cfg`` (text)
    ``BEGIN_CFG`` / ``Size`` N / ``Supercell`` (three rows = cell vectors, Å) / ``AtomData: id type
    cartes_x cartes_y cartes_z fx fy fz`` (id 1-based, type 0-based index into ``type_map``, Å,
    eV/Å) / ``Energy`` (eV, total) / ``PlusStress: xx yy zz yz xz xy`` (virial, eV:
    ``PlusStress = -V * stress_ase``) / ``Feature key value`` lines / ``END_CFG``. Only fully
    periodic frames; frames without a label omit the matching block. seiflow stores string-valued
    ``info`` entries (``source``, ``group``, ...) as ``Feature`` lines and reads them back.
DeePMD-kit npy systems
    One directory per (formula in ``type_map`` order, periodicity): ``type.raw`` (type index per
    atom, one a line), ``type_map.raw`` (element per line), ``set.000/box.npy`` (nframes, 9; cell
    rows, Å), ``coord.npy`` (nframes, 3N; Å), ``energy.npy`` (nframes; eV), ``force.npy``
    (nframes, 3N; eV/Å), ``virial.npy`` (nframes, 9; ``-V * stress_3x3``, eV; only when every
    frame has a stress). Atoms are stably sorted by type so one ``type.raw`` fits all frames.
    Non-periodic systems get an empty ``nopbc`` file and no virial.
Extended XYZ
    ASE's extxyz: energy (eV), forces (eV/Å) and stress (eV/Å³, ASE sign) kept through the
    calculator, ``info`` kept as comment-line keys.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import ase.io
import numpy as np
from ase import Atoms
from ase.stress import voigt_6_to_full_3x3_stress

from seiflow.core.errors import StructureError
from seiflow.core.units import KBAR
from seiflow.data.labels import Label

MLEARN_CITATION = "Zuo et al., J. Phys. Chem. A 124, 731 (2020)"
VASP_TO_VOIGT = (0, 1, 2, 4, 5, 3)  # VASP xx yy zz xy yz zx -> ASE xx yy zz yz xz xy
CFG_STRESS_KEYS = ("xx", "yy", "zz", "yz", "xz", "xy")  # ASE Voigt order, MLIP's header names


def virial_from_stress(stress: np.ndarray, volume: float) -> np.ndarray:
    """Virial 3×3 in eV, ``-V * stress``, from a Voigt stress (eV/Å³, ASE sign) and V in Å³."""
    return -voigt_6_to_full_3x3_stress(np.asarray(stress, dtype=float)) * volume


def vasp_kbar_to_ase_stress(values: Sequence[float]) -> np.ndarray:
    """ASE Voigt stress (eV/Å³, tensile +) from VASP kbar (xx yy zz xy yz zx, compressive +)."""
    vals = np.asarray(values, dtype=float).reshape(6)
    return -KBAR * vals[list(VASP_TO_VOIGT)]


def _periodic_volume(atoms: Atoms, where: str) -> float:
    """Volume in Å³ of a fully periodic frame; StructureError otherwise."""
    if not atoms.pbc.all():
        raise StructureError(f"{where}: needs a fully periodic cell, got pbc={atoms.pbc.tolist()}")
    volume = abs(float(np.linalg.det(atoms.cell.array)))
    if volume < 1e-6:
        raise StructureError(f"{where}: periodic cell has zero volume")
    return volume


def _check_type_map(type_map: Sequence[str], where: str) -> dict[str, int]:
    """Element → type index; StructureError for an empty map or duplicate elements."""
    if not type_map:
        raise StructureError(f"{where}: type_map is empty")
    if len(set(type_map)) != len(type_map):
        raise StructureError(f"{where}: type_map has duplicate elements: {list(type_map)}")
    return {el: i for i, el in enumerate(type_map)}


def _type_indices(atoms: Atoms, index: dict[str, int], where: str) -> np.ndarray:
    """0-based type index of every atom; StructureError naming an element not in the map."""
    missing = sorted(set(atoms.get_chemical_symbols()) - set(index))
    if missing:
        names = ", ".join(missing)
        raise StructureError(f"{where}: element(s) {names} not in type_map {list(index)}")
    return np.array([index[s] for s in atoms.get_chemical_symbols()], dtype=int)


# ---------------------------------------------------------------------------------------------
# mlearn JSON
# ---------------------------------------------------------------------------------------------


def _mlearn_entry(entry: dict, source: str) -> Atoms:
    """One mlearn entry as labelled Atoms (KeyError/ValueError on a malformed entry)."""
    from pymatgen.core import Structure
    from pymatgen.io.ase import AseAtomsAdaptor

    adapted = AseAtomsAdaptor.get_atoms(Structure.from_dict(entry["structure"]))
    atoms = Atoms(numbers=adapted.numbers, positions=adapted.positions, cell=adapted.cell, pbc=True)
    out = entry["outputs"]
    forces = np.asarray(out["forces"], dtype=float)
    if forces.shape != (len(atoms), 3):
        raise ValueError(f"forces have shape {forces.shape}, expected ({len(atoms)}, 3)")
    Label(out["energy"], forces, vasp_kbar_to_ase_stress(out["virial_stress"])).attach(
        atoms, copy=False)
    atoms.info["source"] = source
    atoms.info["group"] = str(entry["group"])
    if entry.get("description"):
        atoms.info["description"] = str(entry["description"])
    return atoms


def read_mlearn_json(path: str | Path) -> list[Atoms]:
    """Read an mlearn benchmark JSON (e.g. ``mlearn-Li/training.json``) as labelled Atoms.

    Energies eV (total), forces eV/Å, stress converted from VASP kbar (compressive positive,
    xx yy zz xy yz zx) to ASE eV/Å³ (tensile positive, xx yy zz yz xz xy). ``info`` gets
    ``group``, ``description`` and ``source`` = "mlearn-Li <file> (Zuo et al., ...)".
    """
    path = Path(path)
    if not path.is_file():
        raise StructureError(f"mlearn file not found: {path}")
    try:
        entries = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise StructureError(f"{path}: not readable JSON ({exc})") from None
    if not isinstance(entries, list) or not entries:
        raise StructureError(f"{path}: expected a non-empty JSON list of mlearn entries")
    source = f"mlearn-Li {path.name} ({MLEARN_CITATION})"
    frames = []
    for i, entry in enumerate(entries):
        try:
            frames.append(_mlearn_entry(entry, source))
        except (KeyError, TypeError, ValueError, IndexError) as exc:
            detail = f"missing key {exc}" if isinstance(exc, KeyError) else str(exc)
            raise StructureError(f"{path}: entry {i} is not an mlearn entry ({detail})") from None
    return frames


# ---------------------------------------------------------------------------------------------
# MLIP .cfg
# ---------------------------------------------------------------------------------------------


def _cfg_block(atoms: Atoms, types: np.ndarray, volume: float) -> str:
    """Text of one BEGIN_CFG ... END_CFG block (Å, eV, eV/Å, PlusStress eV)."""
    lab = Label.from_atoms(atoms)
    energy, forces, stress = lab.energy, lab.forces, lab.stress
    lines = ["BEGIN_CFG", " Size", f"    {len(atoms)}", " Supercell"]
    lines += ["    " + " ".join(f"{x:17.10f}" for x in row) for row in atoms.cell.array]
    header = " AtomData:  id type       cartes_x      cartes_y      cartes_z"
    lines.append(header + ("           fx          fy          fz" if forces is not None else ""))
    for i, (t, pos) in enumerate(zip(types, atoms.positions)):
        row = f"    {i + 1:6d} {t:4d} " + " ".join(f"{x:17.10f}" for x in pos)
        if forces is not None:
            row += " " + " ".join(f"{f:19.12e}" for f in forces[i])
        lines.append(row)
    if energy is not None:
        lines += [" Energy", f"    {energy:.12f}"]
    if stress is not None:
        plus = -np.asarray(stress) * volume  # Voigt order already matches CFG_STRESS_KEYS
        lines.append(" PlusStress:  " + " ".join(f"{k:>19s}" for k in CFG_STRESS_KEYS))
        lines.append("    " + " ".join(f"{x:19.12e}" for x in plus))
    for key, value in atoms.info.items():
        if isinstance(value, str) and key and not any(c.isspace() for c in key):
            lines.append(f" Feature   {key}\t{' '.join(value.split())}")
    lines.append("END_CFG")
    return "\n".join(lines) + "\n\n"


def write_cfg(frames: Sequence[Atoms], path: str | Path, type_map: list[str]) -> Path:
    """Write frames to an MLIP-2/MLIP-3 ``.cfg`` file; returns the path.

    Types are 0-based indices into ``type_map``. Energy (eV), forces (eV/Å) and
    ``PlusStress = -V * stress`` (eV, stress in ASE sign) are written where the frame has them.
    String ``info`` entries become ``Feature`` lines. Frames must be fully periodic.
    """
    path = Path(path)
    index = _check_type_map(type_map, f"cfg {path}")
    if not frames:
        raise StructureError(f"cfg {path}: no frames to write")
    blocks = []
    for k, atoms in enumerate(frames):
        where = f"cfg {path}: frame {k}"
        volume = _periodic_volume(atoms, where)
        blocks.append(_cfg_block(atoms, _type_indices(atoms, index, where), volume))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(blocks))
    return path


def _cfg_frame(lines: list[str], type_map: list[str], where: str) -> Atoms:
    """Parse the lines between BEGIN_CFG and END_CFG into labelled Atoms."""
    size, cell, columns, rows = None, None, None, None
    energy, plus, info = None, None, {}
    i = 0
    while i < len(lines):
        words = lines[i].split()
        key = words[0]
        if key == "Size":
            size = int(lines[i + 1].split()[0])
            i += 2
        elif key in ("Supercell", "SuperCell"):
            cell = np.array([[float(x) for x in lines[i + j].split()] for j in (1, 2, 3)])
            i += 4
        elif key in ("AtomData:", "Atomic_data:"):
            if size is None:
                raise ValueError("AtomData before Size")
            columns = words[1:]
            rows = np.array([[float(x) for x in ln.split()] for ln in lines[i + 1 : i + 1 + size]])
            i += 1 + size
        elif key == "Energy":
            energy = float(lines[i + 1].split()[0])
            i += 2
        elif key == "PlusStress:":
            plus = dict(zip(words[1:], (float(x) for x in lines[i + 1].split()), strict=True))
            i += 2
        elif key == "Feature":
            info[words[1]] = " ".join(words[2:])
            i += 1
        elif key in ("Stress:", "Virial:"):
            raise ValueError(f"'{key}' blocks are not supported, only PlusStress")
        else:
            raise ValueError(f"unknown field {key!r}")
    if cell is None:
        raise StructureError(f"{where}: no Supercell (non-periodic cfg frames are not supported)")
    if rows is None or rows.shape != (size, len(columns)):
        raise ValueError("AtomData missing or not one row of all columns per atom")
    col = {name: j for j, name in enumerate(columns)}
    types = rows[:, col["type"]].astype(int) if "type" in col else np.zeros(size, dtype=int)
    if types.size and (types.min() < 0 or types.max() >= len(type_map)):
        raise StructureError(
            f"{where}: atom type {types.max()} out of range for type_map {type_map}"
        )
    if all(f"cartes_{a}" in col for a in "xyz"):
        positions = rows[:, [col[f"cartes_{a}"] for a in "xyz"]]
    else:
        positions = rows[:, [col[f"direct_{a}"] for a in "xyz"]] @ cell
    atoms = Atoms([type_map[t] for t in types], positions=positions, cell=cell, pbc=True)
    forces = rows[:, [col[f] for f in ("fx", "fy", "fz")]] if "fx" in col else None
    stress = None
    if plus is not None:
        stress = -np.array([plus[k] for k in CFG_STRESS_KEYS]) / atoms.get_volume()
    Label(energy, forces, stress).attach(atoms, copy=False)
    atoms.info.update(info)
    return atoms


def read_cfg(path: str | Path, type_map: list[str]) -> list[Atoms]:
    """Read an MLIP ``.cfg`` file; types are 0-based indices into ``type_map``.

    Returns labelled Atoms (eV, eV/Å, stress eV/Å³ in ASE sign = ``-PlusStress / V``).
    ``Feature key value`` lines go to ``info``; ``info["source"]`` defaults to the file name.
    """
    path = Path(path)
    _check_type_map(type_map, f"cfg {path}")
    if not path.is_file():
        raise StructureError(f"cfg file not found: {path}")
    try:
        text = path.read_text()
    except (OSError, UnicodeDecodeError) as exc:
        raise StructureError(f"cannot read cfg {path}: {exc}") from None
    frames: list[Atoms] = []
    block: list[str] | None = None
    for line in text.splitlines():
        word = line.split()[0] if line.split() else ""
        if word == "BEGIN_CFG":
            block = []
        elif word == "END_CFG" and block is not None:
            where = f"cfg {path}: configuration {len(frames) + 1}"
            try:
                atoms = _cfg_frame(block, type_map, where)
            except (ValueError, KeyError, IndexError) as exc:
                detail = f"missing column {exc}" if isinstance(exc, KeyError) else str(exc)
                raise StructureError(f"{where}: cannot parse ({detail})") from None
            atoms.info.setdefault("source", f"file {path.name}")
            frames.append(atoms)
            block = None
        elif block is not None and word:
            block.append(line)
        elif word:
            snippet = line.strip()[:40]
            raise StructureError(f"cfg {path}: text outside BEGIN_CFG/END_CFG: {snippet!r}")
    if block is not None:
        raise StructureError(f"cfg {path}: last configuration has no END_CFG")
    if not frames:
        raise StructureError(f"cfg {path}: no BEGIN_CFG ... END_CFG configurations")
    return frames


# ---------------------------------------------------------------------------------------------
# DeePMD-kit npy
# ---------------------------------------------------------------------------------------------


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
        virial = virial_from_stress(stress, _periodic_volume(atoms, where)).reshape(9)
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
    index = _check_type_map(type_map, f"DeePMD {directory}")
    if not frames:
        raise StructureError(f"DeePMD {directory}: no frames to write")
    systems: dict[tuple, list[dict]] = {}
    for k, atoms in enumerate(frames):
        where = f"DeePMD {directory}: frame {k}"
        if atoms.pbc.any() and not atoms.pbc.all():
            raise StructureError(f"{where}: mixed pbc {atoms.pbc.tolist()} (need all or none)")
        types = _type_indices(atoms, index, where)
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
# extended XYZ
# ---------------------------------------------------------------------------------------------


def write_extxyz(frames: Sequence[Atoms], path: str | Path) -> Path:
    """Write frames to extended XYZ with energy (eV), forces (eV/Å), stress (eV/Å³) and info."""
    path = Path(path)
    if not frames:
        raise StructureError(f"extxyz {path}: no frames to write")
    path.parent.mkdir(parents=True, exist_ok=True)
    ase.io.write(path, list(frames), format="extxyz")
    return path


def read_extxyz(path: str | Path) -> list[Atoms]:
    """Read every frame of an extended XYZ file; labels come back on a SinglePointCalculator.

    ``info["source"]`` defaults to the file name when the file does not carry one.
    """
    path = Path(path)
    if not path.is_file():
        raise StructureError(f"extxyz file not found: {path}")
    try:
        frames = ase.io.read(path, index=":", format="extxyz")
    except Exception as exc:  # ASE raises many kinds on unreadable files
        msg = " ".join(str(exc).split())[:120]
        reason = f"{type(exc).__name__}: {msg}"
        raise StructureError(f"{path}: not an extended XYZ file ({reason})") from None
    if not frames:
        raise StructureError(f"{path}: no structures in extended XYZ file")
    for atoms in frames:
        atoms.info.setdefault("source", f"file {path.name}")
    return frames

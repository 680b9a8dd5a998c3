"""Labelled-structure formats: mlearn JSON, MLIP ``.cfg``, extended XYZ, DeePMD-kit, NequIP npz.

A *labelled structure* in seiflow is an ASE ``Atoms`` with a ``SinglePointCalculator`` holding

- ``energy``: total energy, eV;
- ``forces``: eV/Å, shape (N, 3);
- ``stress`` (periodic cells only): eV/Å³, ASE Voigt order xx yy zz yz xz xy, ASE sign
  (tensile positive, ``stress = (1/V) dE/dstrain``, exactly ``atoms.get_stress()``).

Every reader sets ``info["source"]`` (file or data set) and ``info["group"]`` where the format
has one. The *virial* used by MLIP, DeePMD-kit and NequIP is ``W = -V * stress`` (eV, V in Å³):
positive diagonal when the cell is compressed and wants to expand. Readers keep what they do not
interpret on the Atoms (``info`` / ``arrays``), so that ``seiflow data import`` can say what the
store will not keep. Positions and cells are Å everywhere.

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
Extended XYZ (:func:`read_extxyz`)
    ASE's extxyz, with the label keys of other codes recognised (first found wins):
    energy ``REF_energy`` or ``energy`` (eV); forces per-atom ``REF_forces`` or ``forces``
    (eV/Å); stress ``REF_stress`` or ``stress`` (eV/Å³, ASE sign; Voigt 6 or 9 values, which
    ASE alone rejects); virial ``REF_virial``, ``REF_virials``, ``virial`` or ``virials`` (eV,
    ``-V * stress``, 9 values; ASE keeps it in ``info`` and never turns it into a stress).
    A frame with both a stress and a virial must have them agree. ``REF_*`` (the reference
    labels in MACE/NequIP files) win over the plain names, whose values then stay in ``info``.
    9 values are read as ASE writes them (column-major 3×3); both orders give the same
    symmetric tensor. Other results (``dipole``, ``free_energy``) stay on the calculator.
DeePMD-kit systems (:mod:`seiflow.data.deepmd`)
    One directory per (formula in ``type_map`` order, periodicity): ``type.raw`` (type index per
    atom, one a line), ``type_map.raw`` (element per line), ``set.000/box.npy`` (nframes, 9; cell
    rows, Å), ``coord.npy`` (nframes, 3N; Å), ``energy.npy`` (nframes; eV), ``force.npy``
    (nframes, 3N; eV/Å), ``virial.npy`` (nframes, 9; ``-V * stress_3x3``, eV; only when every
    frame has a stress). The writer sorts atoms stably by type so one ``type.raw`` fits all
    frames; non-periodic systems get an empty ``nopbc`` file and no virial. The reader also
    takes several ``set.*`` and the raw-text variant (``box.raw coord.raw energy.raw force.raw
    virial.raw``, one frame a row), and every system below a directory.
NequIP npz (:mod:`seiflow.data.npz`)
    ``pos`` (Å), ``atomic_numbers`` or ``atom_types`` + ``type_names``, ``cell`` (Å), ``pbc``,
    ``total_energy`` or ``energy`` (eV), ``forces`` (eV/Å), ``stress`` (eV/Å³, ASE sign) or
    ``virial`` (eV, ``-V * stress``); other keys are kept on the frames and reported.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from pathlib import Path

import ase.io
import numpy as np
from ase import Atoms
from ase.calculators.singlepoint import SinglePointCalculator
from ase.io.extxyz import key_val_str_to_dict

from seiflow.core.errors import StructureError
from seiflow.data.conventions import (  # noqa: F401  (re-exported)
    VASP_TO_VOIGT,
    check_type_map,
    periodic_volume,
    stress_from_virial,
    stress_or_virial,
    type_indices,
    vasp_kbar_to_ase_stress,
    virial_from_stress,
)
from seiflow.data.deepmd import find_deepmd_systems, read_deepmd, write_deepmd  # noqa: F401
from seiflow.data.labels import Label
from seiflow.data.npz import read_nequip_npz  # noqa: F401

__all__ = ["read_cfg", "read_deepmd", "read_extxyz", "read_mlearn_json", "read_nequip_npz",
           "find_deepmd_systems", "stress_from_virial", "vasp_kbar_to_ase_stress",
           "virial_from_stress", "write_cfg", "write_deepmd", "write_extxyz"]

MLEARN_CITATION = "Zuo et al., J. Phys. Chem. A 124, 731 (2020)"
CFG_STRESS_KEYS = ("xx", "yy", "zz", "yz", "xz", "xy")  # ASE Voigt order, MLIP's header names
ENERGY_KEYS = ("REF_energy", "energy")  # extxyz label keys, first found wins
FORCE_KEYS = ("REF_forces", "forces")
STRESS_KEYS = ("REF_stress", "stress")
VIRIAL_KEYS = ("REF_virial", "REF_virials", "virial", "virials")
LABEL_KEYS = ENERGY_KEYS + FORCE_KEYS + STRESS_KEYS + VIRIAL_KEYS


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
    index = check_type_map(type_map, f"cfg {path}")
    if not frames:
        raise StructureError(f"cfg {path}: no frames to write")
    blocks = []
    for k, atoms in enumerate(frames):
        where = f"cfg {path}: frame {k}"
        volume = periodic_volume(atoms, where)
        blocks.append(_cfg_block(atoms, type_indices(atoms, index, where), volume))
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
    check_type_map(type_map, f"cfg {path}")
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


_RAW_3X3 = re.compile(r"(?<![\w-])(stress|virial)(?=\s*=)")


def _parse_comment(line: str) -> dict:
    """ASE's comment-line parser, also taking 6-value (Voigt) ``stress=`` and ``virial=``."""
    info = key_val_str_to_dict(_RAW_3X3.sub(r"\1__seiflow_raw", line))
    for key in ("stress", "virial"):
        raw = info.pop(f"{key}__seiflow_raw", None)
        if raw is not None:
            value = np.atleast_1d(np.asarray(raw, dtype=float))
            info[key] = value.reshape((3, 3), order="F") if value.size == 9 else value
    return info


def _first(found: dict, keys: Sequence[str]):
    """Pop and return the value of the first of ``keys`` in ``found`` (None if none is)."""
    key = next((k for k in keys if k in found), None)
    return None if key is None else found.pop(key)


def _extxyz_label(atoms: Atoms, where: str) -> None:
    """Rebuild the frame's calculator from ASE's results and the REF_* / virial keys."""
    found = dict(atoms.calc.results) if atoms.calc is not None else {}
    for store in (atoms.info, atoms.arrays):
        for key in [k for k in store if k in LABEL_KEYS]:
            found[key] = store.pop(key)
    energy, forces = _first(found, ENERGY_KEYS), _first(found, FORCE_KEYS)
    stress, virial = _first(found, STRESS_KEYS), _first(found, VIRIAL_KEYS)
    volume = periodic_volume(atoms, where) if virial is not None else None
    results = {k: v for k, v in found.items() if k not in LABEL_KEYS}
    for key in set(found) & set(LABEL_KEYS):  # a second label of the same kind: not used
        atoms.info[key] = found[key]
    label = {"energy": energy, "forces": forces,
             "stress": stress_or_virial(stress, virial, volume, where)}
    results.update({k: v for k, v in label.items() if v is not None})
    atoms.calc = SinglePointCalculator(atoms, **results) if results else None


def read_extxyz(path: str | Path) -> list[Atoms]:
    """Read every frame of an extended XYZ file; labels come back on a SinglePointCalculator.

    Energy, forces, stress and virial under the keys of the module docstring become energy
    (eV), forces (eV/Å) and ASE stress (eV/Å³). ``info["source"]`` defaults to the file name.
    """
    path = Path(path)
    if not path.is_file():
        raise StructureError(f"extxyz file not found: {path}")
    try:
        frames = ase.io.read(path, index=":", format="extxyz", properties_parser=_parse_comment)
    except Exception as exc:  # ASE raises many kinds on unreadable files
        msg = " ".join(str(exc).split())[:120]
        reason = f"{type(exc).__name__}: {msg}"
        raise StructureError(f"{path}: not an extended XYZ file ({reason})") from None
    if not frames:
        raise StructureError(f"{path}: no structures in extended XYZ file")
    for k, atoms in enumerate(frames):
        _extxyz_label(atoms, f"{path}:frame {k}")
        atoms.info.setdefault("source", f"file {path.name}")
    return frames

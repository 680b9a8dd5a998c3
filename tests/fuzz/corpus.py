"""A seeded corpus of structure files that no command may accept: NaN coordinates, unknown
elements, overlapping atoms, zero-volume and needle-thin cells, huge cells, empty files, binary
garbage, truncated and non-UTF-8 extxyz, broken POSCAR/CIF files, a bad frame after a good
one; and, for ``seiflow data import``, labels that are not finite or have the wrong shape.

Every generated file is invalid by construction (a truncation always loses an atom line), so a
command that accepts one has a bug; ``bad_structure(kind, seed, folder)`` is deterministic.
"""

from __future__ import annotations

import io
import random

import ase.io
import numpy as np
from ase import Atoms
from ase.build import bulk
from ase.calculators.emt import EMT
from ase.calculators.singlepoint import SinglePointCalculator

STRUCTURE_KINDS = ("nan_coordinate", "unknown_element", "overlapping", "zero_volume",
                   "thin_cell", "huge_cell", "huge_coordinate", "empty", "garbage", "truncated",
                   "non_utf8", "bad_second_frame", "bad_poscar", "bad_cif")
LABEL_KINDS = ("nan_energy", "nan_force", "forces_shape", "nan_stress", "no_energy")
GARBAGE_SUFFIXES = (".extxyz", ".xyz", ".cif", ".POSCAR", ".traj", ".json", ".npz", ".cfg",
                    ".db", ".vasp", ".pdb")


def base_frames(n: int = 2, seed: int = 0) -> list[Atoms]:
    """Small labelled Cu/Al cells (EMT energies, forces, stresses): what every command accepts."""
    rng = np.random.default_rng(seed)
    out = []
    for k in range(n):
        atoms = bulk("Cu", "fcc", 3.7, cubic=True).repeat(2)
        atoms.numbers[rng.choice(len(atoms), 8, replace=False)] = 13
        atoms.rattle(0.05, seed=int(rng.integers(1 << 30)))
        atoms.calc = EMT()
        res = {"energy": atoms.get_potential_energy(), "forces": atoms.get_forces(),
               "stress": atoms.get_stress()}
        atoms.calc = SinglePointCalculator(atoms, **res)
        atoms.info["source"] = f"fuzz base {k}"
        out.append(atoms)
    return out


def _text(frames: list[Atoms], fmt: str = "extxyz") -> str:
    if fmt == "cif":  # ASE writes CIF to binary files only
        raw = io.BytesIO()
        ase.io.write(raw, frames, format=fmt)
        return raw.getvalue().decode()
    buf = io.StringIO()
    ase.io.write(buf, frames, format=fmt)
    return buf.getvalue()


def _copy(frames: list[Atoms]) -> list[Atoms]:
    out = []
    for a in frames:
        b = a.copy()
        b.calc = SinglePointCalculator(b, **a.calc.results) if a.calc else None
        out.append(b)
    return out


def _geometry(kind: str, frames: list[Atoms], rng: random.Random) -> tuple[list[Atoms], str]:
    """Structure-level corruptions of one frame (the last for bad_second_frame)."""
    k = len(frames) - 1 if kind == "bad_second_frame" else rng.randrange(len(frames))
    a, n = frames[k], len(frames[k])
    i, j = rng.sample(range(n), 2)
    if kind in ("nan_coordinate", "bad_second_frame"):
        pos = a.positions.copy()
        pos[i, rng.randrange(3)] = rng.choice([np.nan, np.inf, -np.inf])
        a.positions = pos
        return frames, f"frame {k} atom {i} coordinate {pos[i]}"
    if kind == "overlapping":
        pos = a.positions.copy()
        pos[j] = pos[i] + rng.uniform(0.0, 0.25) * np.array([1.0, 0.3, -0.2])
        a.positions = pos
        return frames, f"frame {k} atom {j} onto atom {i}"
    cell = a.cell.array.copy()
    if kind == "zero_volume":
        how = rng.choice(["zero_vector", "collinear", "all_zero"])
        if how == "zero_vector":
            cell[rng.randrange(3)] = 0.0
        elif how == "collinear":
            cell[1] = cell[0] * rng.uniform(0.5, 2.0)
        else:
            cell[:] = 0.0
        a.set_cell(cell, scale_atoms=False)
        return frames, f"frame {k} {how} cell"
    if kind == "thin_cell":
        axis, width = rng.randrange(3), rng.choice([1e-12, 1e-7, 1e-5, 0.01, 0.3])
        cell[axis] *= width / np.linalg.norm(cell[axis])
        a.set_cell(cell, scale_atoms=False)
        return frames, f"frame {k} cell {width} Å along {'abc'[axis]}"
    if kind == "huge_cell":
        how = rng.choice(["cube", "skew"])
        if how == "cube":
            cell *= rng.choice([1e5, 1e9, 1e12, 1e300])
        else:
            cell[1, 0] = rng.choice([1e5, 1e6, 1e9])
        a.set_cell(cell, scale_atoms=False)
        return frames, f"frame {k} {how} cell of {np.abs(cell).max():g} Å"
    pos = a.positions.copy()
    pos[i, rng.randrange(3)] = rng.choice([1e7, -1e12, 1e300])
    a.positions = pos
    return frames, f"frame {k} atom {i} at {pos[i]}"


def _textual(kind: str, text: str, rng: random.Random) -> tuple[bytes, str, str]:
    """(bytes, suffix, description) of file-level corruptions of an extxyz ``text``."""
    if kind == "empty":
        data = rng.choice([b"", b"\n", b"   \n\n", b"0\n\n", b"\x00"])
        return data, rng.choice([".extxyz", ".xyz", ".cif", ".POSCAR"]), f"empty {data!r}"
    if kind == "garbage":
        data = bytes(rng.randrange(256) for _ in range(rng.randint(1, 3000)))
        return data, rng.choice(GARBAGE_SUFFIXES), f"{len(data)} random bytes"
    lines = text.splitlines(keepends=True)
    if kind == "truncated":  # before the start of the last line: an atom line is always lost
        last = len(text) - len(lines[-1])
        first_end = sum(len(line) for line in lines[:int(lines[0]) + 2])  # frame 1 complete
        cut = rng.randrange(len(lines[0]) + 1, last)
        cut = cut - 1 if cut == first_end else cut
        return text[:cut].encode(), ".extxyz", f"truncated at {cut} of {len(text)} bytes"
    if kind == "non_utf8":
        raw, at = text.encode(), rng.randrange(len(text))
        return raw[:at] + b"\xff\xfe" + raw[at:], ".extxyz", f"bytes ff fe at {at}"
    if kind == "unknown_element":  # replace the species of an atom line (not a header line)
        n = int(lines[0])
        frame = rng.randrange(len(lines) // (n + 2))
        row = frame * (n + 2) + 2 + rng.randrange(n)
        symbol = rng.choice(["X", "Xx", "Qq", "cu3", "123", "Li+"])
        lines[row] = symbol + lines[row][lines[row].index(" "):]
        return "".join(lines).encode(), ".extxyz", f"line {row + 1} species {symbol!r}"
    raise AssertionError(kind)


def _file_format(kind: str, frame: Atoms, rng: random.Random) -> tuple[bytes, str, str]:
    """Broken POSCAR (scale factor, coordinates, counts) and CIF (cell lengths, angles)."""
    if kind == "bad_poscar":
        lines = _text([frame], "vasp").splitlines(keepends=True)
        where = rng.choice(["scale", "coordinate", "count", "cell"])
        if where == "scale":
            lines[1] = rng.choice(["0\n", "-0.000001\n", "nan\n", "1e300\n", "abc\n"])
        elif where == "coordinate":
            row = rng.randrange(8, len(lines))
            lines[row] = rng.choice(["nan 0 0\n", "1 2\n", "inf inf inf\n"])
        elif where == "count":
            lines[6] = rng.choice(["0 0\n", "-3 5\n", "100000 1\n", "x y\n"])
        else:
            lines[2] = "0 0 0\n"
        return "".join(lines).encode(), ".POSCAR", f"POSCAR {where}"
    text = _text([frame], "cif")
    key = rng.choice(["_cell_length_a", "_cell_angle_beta", "_cell_length_c"])
    value = rng.choice(["0", "180", "360", "nan"] if "angle" in key else
                       ["0", "nan", "1e-9", "0.0001", "abc"])
    out = "\n".join(f"{key}       {value}" if line.startswith(key) else line
                    for line in text.splitlines())
    return out.encode(), ".cif", f"CIF {key} {value}"


def bad_structure(kind: str, seed: int, folder) -> tuple:
    """Write one invalid structure file of ``kind`` into ``folder``; (path, description)."""
    rng = random.Random(f"{kind}-{seed}")
    frames = _copy(base_frames(2, seed=seed % 7))
    if kind in ("empty", "garbage", "truncated", "non_utf8", "unknown_element"):
        data, suffix, what = _textual(kind, _text(frames), rng)
    elif kind in ("bad_poscar", "bad_cif"):
        data, suffix, what = _file_format(kind, frames[0], rng)
    else:
        frames, what = _geometry(kind, frames, rng)
        data, suffix = _text(frames).encode(), ".extxyz"
    path = folder / f"{kind}-{seed}{suffix}"
    path.write_bytes(data)
    return path, f"{kind}: {what}"


def bad_labels(kind: str, seed: int, folder) -> tuple:
    """A structurally valid extxyz whose labels ``seiflow data import`` must refuse."""
    rng = random.Random(f"{kind}-{seed}")
    frames = _copy(base_frames(2, seed=seed % 7))
    k = rng.randrange(len(frames))
    res = dict(frames[k].calc.results)
    if kind == "nan_energy":
        res["energy"] = rng.choice([np.nan, np.inf])
    elif kind == "nan_force":
        res["forces"] = res["forces"].copy()
        res["forces"][rng.randrange(len(frames[k])), rng.randrange(3)] = np.nan
    elif kind == "nan_stress":
        res["stress"] = res["stress"].copy()
        res["stress"][rng.randrange(6)] = np.inf
    elif kind == "no_energy":
        del res["energy"]
    frames[k].calc = SinglePointCalculator(frames[k], **res)
    text = _text(frames)
    if kind == "forces_shape":  # drop one force column header: the file no longer parses
        text = text.replace("forces:R:3", "forces:R:2", 1)
    path = folder / f"{kind}-{seed}.extxyz"
    path.write_text(text)
    return path, f"{kind} in frame {k}"

"""Sign, order and unit conversions shared by the format readers and writers.

Inside seiflow stress is eV/Å³, ASE Voigt order xx yy zz yz xz xy, ASE sign (tensile positive,
``stress = (1/V) dE/dstrain``). The *virial* of MLIP, DeePMD-kit and NequIP is
``W = -V * stress`` (eV, V in Å³): positive diagonal when the cell is compressed.
See :mod:`seiflow.data.formats` for every format's conventions.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from ase import Atoms
from ase.stress import full_3x3_to_voigt_6_stress, voigt_6_to_full_3x3_stress

from seiflow.core.errors import StructureError
from seiflow.core.units import KBAR

VASP_TO_VOIGT = (0, 1, 2, 4, 5, 3)  # VASP xx yy zz xy yz zx -> ASE xx yy zz yz xz xy


def virial_from_stress(stress: np.ndarray, volume: float) -> np.ndarray:
    """Virial 3×3 in eV, ``-V * stress``, from a Voigt stress (eV/Å³, ASE sign) and V in Å³."""
    return -voigt_6_to_full_3x3_stress(np.asarray(stress, dtype=float)) * volume


def as_voigt(stress: np.ndarray | Sequence[float], where: str) -> np.ndarray:
    """Voigt 6 stress from 6 values (Voigt), 9 values or a 3×3 (symmetrised)."""
    arr = np.asarray(stress, dtype=float)
    if arr.size == 9:
        return full_3x3_to_voigt_6_stress(arr.reshape(3, 3))
    if arr.size == 6:
        return arr.reshape(6)
    raise StructureError(f"{where}: stress/virial has {arr.size} values, expected 6 or 9")


def stress_from_virial(virial: np.ndarray | Sequence[float], volume: float,
                       where: str) -> np.ndarray:
    """ASE Voigt stress (eV/Å³) ``-W / V`` from a virial W (eV; 3×3, 9 or Voigt 6 values)."""
    return -as_voigt(virial, where) / volume


def vasp_kbar_to_ase_stress(values: Sequence[float]) -> np.ndarray:
    """ASE Voigt stress (eV/Å³, tensile +) from VASP kbar (xx yy zz xy yz zx, compressive +)."""
    vals = np.asarray(values, dtype=float).reshape(6)
    return -KBAR * vals[list(VASP_TO_VOIGT)]


def periodic_volume(atoms: Atoms, where: str) -> float:
    """Volume in Å³ of a fully periodic frame; StructureError otherwise."""
    if not atoms.pbc.all():
        raise StructureError(f"{where}: needs a fully periodic cell, got pbc={atoms.pbc.tolist()}")
    volume = abs(float(np.linalg.det(atoms.cell.array)))
    if volume < 1e-6:
        raise StructureError(f"{where}: periodic cell has zero volume")
    return volume


def check_type_map(type_map: Sequence[str], where: str) -> dict[str, int]:
    """Element → type index; StructureError for an empty map or duplicate elements."""
    if not type_map:
        raise StructureError(f"{where}: type_map is empty")
    if len(set(type_map)) != len(type_map):
        raise StructureError(f"{where}: type_map has duplicate elements: {list(type_map)}")
    return {el: i for i, el in enumerate(type_map)}


def type_indices(atoms: Atoms, index: dict[str, int], where: str) -> np.ndarray:
    """0-based type index of every atom; StructureError naming an element not in the map."""
    missing = sorted(set(atoms.get_chemical_symbols()) - set(index))
    if missing:
        names = ", ".join(missing)
        raise StructureError(f"{where}: element(s) {names} not in type_map {list(index)}")
    return np.array([index[s] for s in atoms.get_chemical_symbols()], dtype=int)


def stress_or_virial(stress: np.ndarray | None, virial: np.ndarray | None, volume: float | None,
                     where: str) -> np.ndarray | None:
    """ASE Voigt stress (eV/Å³) from a stress (eV/Å³) and/or a virial (eV) given with a frame.

    With both, they must agree (``virial = -V * stress`` to 1e-6 eV/Å³ or 1e-4 relative): a
    disagreement usually means the file uses another sign convention.
    """
    if virial is not None and volume is None:
        raise StructureError(f"{where}: a virial needs a fully periodic cell (V = -W/σ)")
    if stress is None:
        return None if virial is None else stress_from_virial(virial, volume, where)
    stress = as_voigt(stress, where)
    if virial is not None:
        implied = stress_from_virial(virial, volume, where)
        if not np.allclose(implied, stress, rtol=1e-4, atol=1e-6):
            raise StructureError(f"{where}: stress and virial disagree (stress "
                                 f"{np.round(stress, 6).tolist()} eV/Å³, -virial/V "
                                 f"{np.round(implied, 6).tolist()} eV/Å³)")
    return stress

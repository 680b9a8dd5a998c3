"""The thermo log of every MD path: ``thermo.csv``, one row per replica and written frame.

Columns (units in the names): step, time_fs, replica, T_K (2·E_kin / 3N k_B), Epot_eV, Ekin_eV,
Etot_eV, conserved_eV (the integrator's conserved quantity: E_tot plus the thermostat and
barostat energies; E_tot where it has none), volume_A3, pressure_GPa (instantaneous: the
calculator's virial stress of the step plus the kinetic part 2 E_kin / 3V; positive =
compressed; empty when the calculator gave no stress or the cell is not periodic), target_K
(the thermostat's target temperature of the step, which a ramp moves; empty for NVE). A restart
drops the rows after its checkpoint, as it drops the frames.
"""

from __future__ import annotations

import csv
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from ase import Atoms, units

THERMO = "thermo.csv"
THERMO_COLUMNS = ("step", "time_fs", "replica", "T_K", "Epot_eV", "Ekin_eV", "Etot_eV",
                  "conserved_eV", "volume_A3", "pressure_GPa", "target_K")


def fresh_thermo(path: Path) -> None:
    with Path(path).open("w", newline="") as f:
        csv.writer(f).writerow(THERMO_COLUMNS)


def append_thermo(path: Path, rows: Sequence[Sequence]) -> None:
    with Path(path).open("a", newline="") as f:
        csv.writer(f).writerows(rows)


def truncate_thermo(path: Path, step: int) -> None:
    """Keep the header and the rows up to ``step`` (a restart's checkpoint)."""
    path = Path(path)
    rows = []
    if path.exists():
        with path.open(newline="") as f:
            rows = list(csv.reader(f))[1:]
    fresh_thermo(path)
    append_thermo(path, [r for r in rows if r and int(r[0]) <= step])


def read_thermo(path: Path) -> dict[str, np.ndarray]:
    """The columns of a thermo.csv as float arrays (NaN where a value is empty)."""
    with Path(path).open(newline="") as f:
        rows = list(csv.DictReader(f))
    return {c: np.array([float(r[c]) if r.get(c) not in (None, "") else np.nan for r in rows])
            for c in THERMO_COLUMNS}


def ase_thermo_row(atoms: Atoms, step: int, time_fs: float, conserved: float | None,
                   target_K: float | None = None) -> list:
    """The row of one ASE MD step: energies from the calculator's cached results."""
    epot = float(atoms.get_potential_energy())
    ekin = float(atoms.get_kinetic_energy())
    temp = 2 * ekin / (3 * len(atoms) * units.kB)
    stress = atoms.calc.results.get("stress") if atoms.calc is not None else None
    volume = float(atoms.get_volume()) if atoms.pbc.all() else ""
    pressure = ""
    if stress is not None and volume != "":  # virial plus kinetic (ideal-gas) part
        p = -np.mean(np.asarray(stress)[:3]) + 2 * ekin / (3 * volume)
        pressure = f"{p / units.GPa:.8g}"
    etot = epot + ekin
    return [step, round(time_fs, 6), 0, f"{temp:.10g}", f"{epot:.10g}", f"{ekin:.10g}",
            f"{etot:.10g}", f"{etot if conserved is None else conserved:.10g}",
            volume if volume == "" else f"{volume:.8g}", pressure,
            "" if target_K is None else f"{target_K:.10g}"]

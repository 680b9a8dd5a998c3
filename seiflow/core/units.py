"""Unit conversions. Internal units are ASE's: eV, Å, fs (via ase.units), amu, e.

Stress inside seiflow is eV/Å³ with ASE's sign (tensile positive); pressure is positive when
compressive. Config files state pressure in kbar or GPa, density in g/cm³.
"""

from __future__ import annotations

from ase import units as _u

GPA = _u.GPa  # eV/Å³ per GPa
KBAR = _u.GPa / 10.0  # eV/Å³ per kbar
BAR = _u.bar  # eV/Å³ per bar
AMU_PER_A3_TO_G_PER_CM3 = 1.66053906660  # 1 amu/Å³ in g/cm³


def kbar_to_ev_per_a3(p_kbar: float) -> float:
    return p_kbar * KBAR


def density_g_cm3(atoms) -> float:
    """Mass density of a periodic cell in g/cm³."""
    vol = atoms.get_volume()
    if vol <= 0:
        raise ValueError("cell volume must be positive to compute a density")
    return float(atoms.get_masses().sum() / vol * AMU_PER_A3_TO_G_PER_CM3)

"""Birch–Murnaghan equation of state E(V) fitted to (volume, energy) points.

Data in, data out: volumes in Å³ (of one cell), energies in eV (of the same cell); the fit gives
the equilibrium volume V0 (Å³), the minimum energy E0 (eV), the bulk modulus B0 (GPa) and its
pressure derivative B0' (dimensionless). The fit itself is ASE's
``ase.eos.EquationOfState(..., eos="birchmurnaghan")`` (third-order Birch–Murnaghan,
PRB 70, 224107), whose parameters are ``(E0, B0 [eV/Å³], B0', V0)``.

A fit is refused (``EOSError``) with fewer than ``MIN_POINTS`` points, when the fitted minimum
lies outside the sampled volumes (the data do not bracket the minimum, so V0 and B0 would be
extrapolations) or when the fit fails or gives a non-positive B0.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
from ase.eos import EquationOfState, birchmurnaghan

from seiflow.core.errors import SeiflowError
from seiflow.core.units import GPA

MIN_POINTS = 5  # a 4-parameter fit needs more points than parameters to show its residual


class EOSError(SeiflowError):
    """An equation-of-state fit that cannot be trusted (too few points, unbracketed minimum...)."""


@dataclass
class EOSFit:
    """A Birch–Murnaghan fit and the points it was fitted to.

    ``volumes_A3`` / ``energies_eV``: the data (Å³ and eV per cell of ``n_atoms`` atoms);
    ``v0`` (Å³), ``e0`` (eV), ``b0`` (GPa), ``b0_prime``: the fitted parameters;
    ``rms_eV``: root-mean-square residual of the fit (eV per cell).
    """

    volumes_A3: np.ndarray
    energies_eV: np.ndarray
    v0: float
    e0: float
    b0: float
    b0_prime: float
    rms_eV: float
    n_atoms: int | None = None

    @property
    def rms_meV_per_atom(self) -> float | None:
        """RMS residual in meV/atom (None when the atom count is unknown)."""
        return None if not self.n_atoms else 1000.0 * self.rms_eV / self.n_atoms

    def energy(self, volumes_A3: np.ndarray | float) -> np.ndarray:
        """Fitted energy (eV per cell) at ``volumes_A3`` (Å³ per cell)."""
        v = np.asarray(volumes_A3, dtype=float)
        return birchmurnaghan(v, self.e0, self.b0 * GPA, self.b0_prime, self.v0)

    def curve(self, n: int = 60) -> tuple[np.ndarray, np.ndarray]:
        """``n`` points of the fitted curve over the sampled volume range (Å³, eV)."""
        v = np.linspace(float(np.min(self.volumes_A3)), float(np.max(self.volumes_A3)), n)
        return v, self.energy(v)

    def to_dict(self) -> dict:
        """JSON-serialisable form; ``from_dict`` reads it back (the curve is recomputed)."""
        cv, ce = self.curve()
        return {"volumes_A3": [float(x) for x in self.volumes_A3],
                "energies_eV": [float(x) for x in self.energies_eV],
                "v0_A3": float(self.v0), "e0_eV": float(self.e0), "b0_GPa": float(self.b0),
                "b0_prime": float(self.b0_prime), "rms_eV": float(self.rms_eV),
                "rms_meV_per_atom": self.rms_meV_per_atom, "n_atoms": self.n_atoms,
                "curve_volumes_A3": cv.tolist(), "curve_energies_eV": ce.tolist()}

    @classmethod
    def from_dict(cls, d: dict) -> EOSFit:
        return cls(np.asarray(d["volumes_A3"], dtype=float),
                   np.asarray(d["energies_eV"], dtype=float), float(d["v0_A3"]),
                   float(d["e0_eV"]), float(d["b0_GPa"]), float(d["b0_prime"]),
                   float(d["rms_eV"]), d.get("n_atoms"))


def fit_birch_murnaghan(volumes_A3, energies_eV, n_atoms: int | None = None) -> EOSFit:
    """Fit E(V) (Å³, eV per cell) with ASE's third-order Birch–Murnaghan EOS.

    ``n_atoms`` (atoms per cell) only scales the reported residual to meV/atom. Raises
    ``EOSError`` for fewer than ``MIN_POINTS`` points, non-finite or non-positive volumes,
    repeated volumes, a failed fit, B0 <= 0 or a minimum outside the sampled volumes.
    """
    v = np.asarray(volumes_A3, dtype=float).ravel()
    e = np.asarray(energies_eV, dtype=float).ravel()
    if v.shape != e.shape:
        raise EOSError(f"EOS: {v.size} volumes but {e.size} energies")
    if v.size < MIN_POINTS:
        raise EOSError(f"EOS: {v.size} points given, a Birch–Murnaghan fit needs at least "
                       f"{MIN_POINTS}")
    if not (np.isfinite(v).all() and np.isfinite(e).all()):
        raise EOSError("EOS: non-finite volume or energy")
    if (v <= 0).any():
        raise EOSError("EOS: volumes must be positive (Å³)")
    if np.unique(v).size < MIN_POINTS:
        raise EOSError(f"EOS: needs at least {MIN_POINTS} distinct volumes")
    eos = EquationOfState(v, e, eos="birchmurnaghan")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # scipy's covariance warning; checked below instead
            eos.fit(warn=False)
    except (RuntimeError, ValueError, TypeError, np.linalg.LinAlgError) as exc:
        raise EOSError(f"EOS: Birch–Murnaghan fit failed: {exc}") from None
    e0, b0, bp, v0 = (float(x) for x in eos.eos_parameters)
    if not all(np.isfinite([e0, b0, bp, v0])):
        raise EOSError("EOS: Birch–Murnaghan fit gave non-finite parameters")
    if b0 <= 0:
        raise EOSError(f"EOS: fitted bulk modulus {b0 / GPA:.3g} GPa is not positive "
                       "(the energies do not curve upwards)")
    if not v.min() < v0 < v.max():
        raise EOSError(f"EOS: fitted minimum V0 = {v0:.3f} Å³ lies outside the sampled volumes "
                       f"{v.min():.3f}–{v.max():.3f} Å³; sample around the minimum")
    rms = float(np.sqrt(np.mean((birchmurnaghan(v, e0, b0, bp, v0) - e) ** 2)))
    return EOSFit(v, e, v0, e0, b0 / GPA, bp, rms, n_atoms)

"""Nernst–Einstein ionic conductivity from a tracer diffusion coefficient.

Data in, data out: D in cm²/s, volume in Å³, T in K; sigma in S/m and mS/cm (1 S/m = 10 mS/cm).
Constants are CODATA 2018 (exact SI values of e and kB, from ``scipy.constants``).
"""

from __future__ import annotations

from dataclasses import dataclass

from scipy.constants import Avogadro, elementary_charge, k as boltzmann

from seiflow.core.errors import SeiflowError

HAVEN_CAVEAT = (
    "Nernst-Einstein conductivity from the tracer D ignores correlated ion motion: the true "
    "conductivity is sigma_NE / H with the Haven ratio H = D_tracer / D_sigma, which can be "
    "below 1 (concerted hops: true sigma larger) or above 1 (ion pairing: true sigma smaller); "
    "the collective (charge) MSD gives the correlated value."
)


@dataclass
class ConductivityResult:
    """sigma = n z² e² D / (V kB T H) of one carrier species."""

    sigma_S_m: float  # S/m
    sigma_mS_cm: float  # mS/cm
    concentration_per_A3: float  # carriers per Å³
    concentration_per_m3: float  # carriers per m³
    concentration_mol_L: float  # mol/L
    D_cm2_s: float
    T_K: float
    z: int
    haven_ratio: float  # assumed H (1 = uncorrelated, the plain Nernst-Einstein value)
    caveat: str = HAVEN_CAVEAT


def nernst_einstein(D_cm2_s: float, n_carriers: int, volume_A3: float, T_K: float, z: int = 1,
                    haven_ratio: float = 1.0) -> ConductivityResult:
    """Nernst–Einstein conductivity of ``n_carriers`` ions of charge ``z`` (e) in ``volume_A3``.

    ``sigma = n z² e² D / (V kB T H)`` in SI, with D the tracer diffusion coefficient (cm²/s) and
    H the Haven ratio (default 1: correlations ignored; see ``HAVEN_CAVEAT``).
    """
    if not T_K > 0:
        raise SeiflowError(f"temperature must be positive (K), got {T_K}")
    if not D_cm2_s >= 0:
        raise SeiflowError(f"diffusion coefficient must be >= 0 (cm²/s), got {D_cm2_s}")
    if not n_carriers > 0:
        raise SeiflowError(f"n_carriers must be positive, got {n_carriers}")
    if not volume_A3 > 0:
        raise SeiflowError(f"cell volume must be positive (Å³), got {volume_A3}")
    if z == 0:
        raise SeiflowError("carrier charge z must be non-zero")
    if not haven_ratio > 0:
        raise SeiflowError(f"haven_ratio must be positive, got {haven_ratio}")
    c_m3 = n_carriers / (volume_A3 * 1e-30)
    sigma = (c_m3 * z**2 * elementary_charge**2 * D_cm2_s * 1e-4
             / (boltzmann * T_K * haven_ratio))
    return ConductivityResult(
        sigma_S_m=sigma, sigma_mS_cm=sigma * 10.0, concentration_per_A3=n_carriers / volume_A3,
        concentration_per_m3=c_m3, concentration_mol_L=c_m3 / Avogadro / 1000.0,
        D_cm2_s=D_cm2_s, T_K=T_K, z=z, haven_ratio=haven_ratio,
    )

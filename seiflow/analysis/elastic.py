"""Elastic constants from stress–strain data: strains to apply, the least-squares fit of the
6×6 stiffness matrix, Voigt–Reuss–Hill moduli and the Born stability criterion.

Data in, data out (never drives a calculator).

Conventions
-----------
- Voigt order 1..6 = xx, yy, zz, yz, xz, xy (ASE's ``get_stress(voigt=True)`` order).
- Strain vectors are Voigt *engineering* strains: e = (ε_xx, ε_yy, ε_zz, 2ε_yz, 2ε_xz, 2ε_xy),
  where ε is the symmetric strain tensor. A shear "magnitude" of 0.01 on Voigt index 4 (yz)
  therefore means ε_yz = ε_zy = 0.005.
- Stresses are ASE's: eV/Å³, tensile positive (the physical Cauchy stress). Hooke's law is then
  σ = C·e with no sign flip: stretching a solid (e > 0) gives a tensile (positive) stress, so
  C11 > 0. Cij are returned in GPa.
- The fit includes a constant term σ0 (the residual stress of the reference cell), so the
  reference structure need not be perfectly stress free: σ = σ0 + C·e.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
from ase import Atoms

from seiflow.core.errors import SeiflowError
from seiflow.core.units import GPA

VOIGT = ("xx", "yy", "zz", "yz", "xz", "xy")
VOIGT_PAIRS = ((0, 0), (1, 1), (2, 2), (1, 2), (0, 2), (0, 1))

# Crystal system from the space-group number (International Tables).
_SYSTEMS = ((2, "triclinic"), (15, "monoclinic"), (74, "orthorhombic"), (142, "tetragonal"),
            (167, "trigonal"), (194, "hexagonal"), (230, "cubic"))

# Independent constants per crystal system in the standard setting (c along z; for hexagonal
# and tetragonal a along x), each a group of (0-based) index pairs equal by symmetry.
_INDEPENDENT = {
    "cubic": {"C11": [(0, 0), (1, 1), (2, 2)], "C12": [(0, 1), (0, 2), (1, 2)],
              "C44": [(3, 3), (4, 4), (5, 5)]},
    "hexagonal": {"C11": [(0, 0), (1, 1)], "C12": [(0, 1)], "C13": [(0, 2), (1, 2)],
                  "C33": [(2, 2)], "C44": [(3, 3), (4, 4)]},
    "tetragonal": {"C11": [(0, 0), (1, 1)], "C12": [(0, 1)], "C13": [(0, 2), (1, 2)],
                   "C33": [(2, 2)], "C44": [(3, 3), (4, 4)], "C66": [(5, 5)]},
    "orthorhombic": {f"C{i + 1}{j + 1}": [(i, j)]
                     for i, j in ((0, 0), (1, 1), (2, 2), (0, 1), (0, 2), (1, 2), (3, 3),
                                  (4, 4), (5, 5))},
}


class ElasticFitError(SeiflowError):
    """Stress–strain data from which the stiffness matrix cannot be determined."""


def crystal_system(spacegroup_number: int) -> str:
    """Crystal system name ('cubic', 'hexagonal', ...) of a space group number 1–230."""
    for last, name in _SYSTEMS:
        if 1 <= spacegroup_number <= last:
            return name
    raise ValueError(f"space group number {spacegroup_number} is not in 1–230")


def strain_set(magnitudes: Iterable[float], modes: Iterable[int] = range(6)
               ) -> list[tuple[int, float]]:
    """Every (Voigt index 0–5, magnitude) pair: each mode is strained by each magnitude.

    Magnitudes are Voigt engineering strains (see the module docstring); zero is refused
    (it carries no information about C and would only duplicate the reference point).
    """
    mags = [float(m) for m in magnitudes]
    if not mags or any(m == 0 or not np.isfinite(m) for m in mags):
        raise ValueError(f"strain magnitudes must be finite and nonzero, got {mags}")
    out = []
    for j in modes:
        if j not in range(6):
            raise ValueError(f"Voigt index {j} is not in 0–5")
        out.extend((int(j), m) for m in mags)
    return out


def voigt_strain(voigt_index: int, eps: float) -> np.ndarray:
    """The Voigt engineering-strain vector (6,) with ``eps`` on ``voigt_index`` (0–5)."""
    e = np.zeros(6)
    e[voigt_index] = eps
    return e


def strain_tensor(voigt: Sequence[float]) -> np.ndarray:
    """Symmetric 3×3 strain tensor ε from a Voigt engineering strain vector (shear halved)."""
    e = np.asarray(voigt, dtype=float)
    if e.shape != (6,):
        raise ValueError(f"a Voigt strain has 6 components, got shape {e.shape}")
    return np.array([[e[0], e[5] / 2, e[4] / 2],
                     [e[5] / 2, e[1], e[3] / 2],
                     [e[4] / 2, e[3] / 2, e[2]]])


def strained_cell(atoms: Atoms, voigt_index: int, eps: float) -> Atoms:
    """A copy of ``atoms`` deformed by the symmetric strain with Voigt component
    ``voigt_index`` (0–5: xx yy zz yz xz xy) equal to ``eps``.

    Engineering shear: for ``voigt_index`` 3 (yz) the tensor components are
    ε_yz = ε_zy = eps / 2, so the Voigt strain e4 = 2 ε_yz = eps. The deformation gradient is
    F = I + ε (no rotation); every cell vector and atom position x becomes F·x (fractional
    coordinates are kept). The calculator is not copied.
    """
    return deform(atoms, voigt_strain(voigt_index, eps))


def deform(atoms: Atoms, voigt: Sequence[float]) -> Atoms:
    """A copy of ``atoms`` deformed by F = I + ε(voigt) (Voigt engineering strain, 6 values)."""
    F = np.eye(3) + strain_tensor(voigt)
    out = atoms.copy()
    out.calc = None
    out.set_cell(atoms.cell.array @ F.T, scale_atoms=True)
    return out


@dataclass
class Moduli:
    """Voigt, Reuss and Hill (average) bulk modulus K and shear modulus G, all in GPa."""

    K_V: float
    K_R: float
    K_H: float
    G_V: float
    G_R: float
    G_H: float


def vrh_moduli(C_GPa: np.ndarray) -> Moduli:
    """Voigt (uniform strain), Reuss (uniform stress) and Hill bulk and shear moduli (GPa) of
    a stiffness matrix (GPa, Voigt engineering convention). A singular C gives Reuss = nan."""
    C = np.asarray(C_GPa, dtype=float)
    K_V = (C[0, 0] + C[1, 1] + C[2, 2] + 2 * (C[0, 1] + C[1, 2] + C[0, 2])) / 9
    G_V = (C[0, 0] + C[1, 1] + C[2, 2] - (C[0, 1] + C[1, 2] + C[0, 2])
           + 3 * (C[3, 3] + C[4, 4] + C[5, 5])) / 15
    try:
        S = np.linalg.inv(C)
        K_R = 1 / (S[0, 0] + S[1, 1] + S[2, 2] + 2 * (S[0, 1] + S[1, 2] + S[0, 2]))
        G_R = 15 / (4 * (S[0, 0] + S[1, 1] + S[2, 2]) - 4 * (S[0, 1] + S[1, 2] + S[0, 2])
                    + 3 * (S[3, 3] + S[4, 4] + S[5, 5]))
    except np.linalg.LinAlgError:
        K_R = G_R = float("nan")
    return Moduli(float(K_V), float(K_R), float((K_V + K_R) / 2), float(G_V), float(G_R),
                  float((G_V + G_R) / 2))


def born_stable(C_GPa: np.ndarray) -> tuple[bool, float]:
    """Born mechanical stability, general form (Mouhat & Coudert, PRB 90, 224104 (2014)): the
    symmetric stiffness matrix is positive definite. Returns (stable, smallest eigenvalue GPa).
    """
    C = np.asarray(C_GPa, dtype=float)
    lam = float(np.linalg.eigvalsh((C + C.T) / 2).min())
    return lam > 0, lam


def born_conditions(C_GPa: np.ndarray, system: str) -> dict[str, bool]:
    """The named necessary-and-sufficient Born conditions of a crystal system (Mouhat &
    Coudert 2014) for 'cubic' and 'hexagonal'; every other system: the general eigenvalue
    criterion only, under the name 'all eigenvalues > 0'. Values: whether each holds."""
    C = np.asarray(C_GPa, dtype=float)
    if system == "cubic":
        c11, c12, c44 = (np.mean([C[i, j] for i, j in _INDEPENDENT["cubic"][k]])
                         for k in ("C11", "C12", "C44"))
        return {"C11 > |C12|": bool(c11 > abs(c12)), "C11 + 2 C12 > 0": bool(c11 + 2 * c12 > 0),
                "C44 > 0": bool(c44 > 0)}
    if system == "hexagonal":
        c11, c12, c13, c33, c44 = (C[0, 0], C[0, 1], C[0, 2], C[2, 2], C[3, 3])
        c66 = (c11 - c12) / 2
        return {"C11 > |C12|": bool(c11 > abs(c12)),
                "2 C13² < C33 (C11 + C12)": bool(2 * c13**2 < c33 * (c11 + c12)),
                "C44 > 0": bool(c44 > 0), "C66 > 0": bool(c66 > 0)}
    return {"all eigenvalues > 0": born_stable(C)[0]}


def independent_constants(C_GPa: np.ndarray, system: str | None = None,
                          min_GPa: float = 1.0, rel_tol: float = 0.05
                          ) -> tuple[dict[str, float], bool]:
    """The independent elastic constants (GPa) by name, e.g. {'C11': 170.1, 'C12': ...}.

    For cubic, hexagonal, tetragonal and orthorhombic crystals in the standard orientation the
    symmetry-equivalent entries are averaged (C11 = mean of C11, C22, C33 for cubic). When the
    equivalent entries disagree by more than ``rel_tol`` (relative) and 1 GPa — the cell is
    not in the standard orientation, or the system is lower — every upper-triangle Cij whose
    magnitude exceeds ``min_GPa`` is listed instead, plus the diagonal. Returns
    (constants, whether the symmetry pattern was used).
    """
    C = np.asarray(C_GPa, dtype=float)
    groups = _INDEPENDENT.get(system or "")
    if groups is not None:
        values = {name: [C[i, j] for i, j in pairs] for name, pairs in groups.items()}
        spread_ok = all(np.ptp(v) <= max(1.0, rel_tol * abs(np.mean(v))) for v in values.values())
        if spread_ok:
            return {name: float(np.mean(v)) for name, v in values.items()}, True
    out = {}
    for i in range(6):
        for j in range(i, 6):
            if i == j or abs(C[i, j]) > min_GPa:
                out[f"C{i + 1}{j + 1}"] = float(C[i, j])
    return out, False


@dataclass
class ElasticFit:
    """A least-squares stiffness matrix (GPa, symmetrised) and its diagnostics.

    ``C_GPa``: (6, 6) symmetrised Cij; ``stderr_GPa``: (6, 6) standard errors of the raw
    (unsymmetrised) fit, row = stress component, column = strain component; ``asymmetry_GPa``:
    largest |Cij − Cji| / 2 of the raw fit (a measure of noise and non-linearity);
    ``residual_GPa``: (6,) RMS residual of each stress component; ``stress0_GPa``: (6,) fitted
    stress at zero strain (the reference cell's residual stress, tensile positive).
    """

    C_GPa: np.ndarray
    stderr_GPa: np.ndarray
    asymmetry_GPa: float
    residual_GPa: np.ndarray
    stress0_GPa: np.ndarray
    n_points: int

    @property
    def moduli(self) -> Moduli:
        return vrh_moduli(self.C_GPa)

    @property
    def born(self) -> tuple[bool, float]:
        return born_stable(self.C_GPa)


def fit_elastic(strains, stresses, min_points: int = 7, max_condition: float = 1e8
                ) -> ElasticFit:
    """Least-squares Cij (GPa) from Voigt engineering strains (n, 6) and ASE Voigt stresses
    (n, 6; eV/Å³, xx yy zz yz xz xy, tensile positive), with σ = σ0 + C·e.

    Each stress component is fitted separately against the six strain components and a
    constant; the result is symmetrised (C + Cᵀ)/2. Raises ``ElasticFitError`` when the shapes
    disagree, values are non-finite, there are fewer than ``min_points`` (7) points or the
    strains do not span all six components independently (condition number of the design
    matrix above ``max_condition``).
    """
    e = np.asarray(strains, dtype=float)
    s = np.asarray(stresses, dtype=float)
    if e.ndim != 2 or e.shape[1] != 6 or s.shape != e.shape:
        raise ElasticFitError(f"strains and stresses must both be (n, 6), got {e.shape} and "
                              f"{s.shape}")
    if not (np.isfinite(e).all() and np.isfinite(s).all()):
        raise ElasticFitError("non-finite strain or stress")
    n = len(e)
    if n < min_points:
        raise ElasticFitError(f"{n} strain points; fitting 6 strain components and a "
                              f"constant needs at least {min_points}")
    A = np.hstack([e, np.ones((n, 1))])
    cond = np.linalg.cond(A)
    if not np.isfinite(cond) or cond > max_condition:
        raise ElasticFitError(f"ill-conditioned strain set (condition number {cond:.3g}): the "
                              "strains must vary all six Voigt components independently")
    y = s / GPA
    coef, _, _, _ = np.linalg.lstsq(A, y, rcond=None)
    resid = y - A @ coef
    C_raw = coef[:6].T  # row i: stress component i, column j: strain component j
    dof = n - 7
    if dof > 0:
        var = (resid**2).sum(axis=0) / dof  # per stress component
        cov = np.linalg.inv(A.T @ A)
        stderr = np.sqrt(np.outer(var, np.diag(cov)[:6]))
    else:
        stderr = np.full((6, 6), np.nan)
    return ElasticFit(C_GPa=(C_raw + C_raw.T) / 2, stderr_GPa=stderr,
                      asymmetry_GPa=float(np.abs(C_raw - C_raw.T).max() / 2),
                      residual_GPa=np.sqrt((resid**2).mean(axis=0)), stress0_GPa=coef[6],
                      n_points=n)

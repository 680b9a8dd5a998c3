"""Arrhenius fit D(T) = D0 exp(-Ea / (kB T)) and its extrapolation with a confidence interval.

Data in, data out: temperatures in K, D in any one unit (D0 and extrapolations come back in the
same unit), Ea in eV (kB from ``ase.units``).

The fit is a (weighted) straight line ln D = ln D0 - (Ea / kB) (1/T). With ``D_sigma`` the weights
are 1 / sigma_lnD² with sigma_lnD = D_sigma / D; the parameter covariance is (XᵀWX)⁻¹, scaled up
by the reduced chi² when that exceeds 1 (scatter larger than the stated errors). Without
``D_sigma`` the covariance comes from the residuals (needs at least 3 points; with 2 the
uncertainties are nan). Confidence intervals use Student's t with n - 2 degrees of freedom when
the variance was estimated from the residuals, the normal distribution otherwise.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from ase.units import kB
from scipy import stats

from seiflow.core.errors import SeiflowError


@dataclass
class Extrapolation:
    """D(T) from an Arrhenius fit with a two-sided confidence interval (unit of the fit's D)."""

    T_K: np.ndarray
    D: np.ndarray
    ci_low: np.ndarray
    ci_high: np.ndarray
    confidence: float


@dataclass
class ArrheniusResult:
    """Activation energy (eV), prefactor D0 (unit of the input D) and the fit's covariance."""

    Ea_eV: float
    Ea_sigma_eV: float  # nan when it cannot be estimated (2 points, no D_sigma)
    D0: float
    ln_D0_sigma: float  # standard error of ln D0
    cov: np.ndarray  # covariance of (ln D0, -Ea/kB [K])
    chi2_reduced: float  # nan for 2 points
    n_points: int
    weighted: bool
    dof_for_ci: int | None  # Student-t degrees of freedom of the CI (None: normal)
    T_K: np.ndarray
    D: np.ndarray

    def ln_D(self, T_K: np.ndarray | float) -> np.ndarray:
        """ln D at temperatures ``T_K`` (K) from the fitted line."""
        x = 1.0 / _positive(T_K, "temperature", "K")
        return np.log(self.D0) - self.Ea_eV / kB * x

    def extrapolate(self, T_K: np.ndarray | float, confidence: float = 0.95) -> Extrapolation:
        """D at ``T_K`` (K) and its ``confidence`` interval from the fit covariance."""
        T = _positive(T_K, "temperature", "K")
        if not 0 < confidence < 1:
            raise SeiflowError(f"confidence must lie in (0, 1), got {confidence}")
        X = np.stack([np.ones_like(T), 1.0 / T], axis=-1)
        sd = np.sqrt(np.einsum("...i,ij,...j->...", X, self.cov, X))
        q = 1 - (1 - confidence) / 2
        k = stats.t.ppf(q, self.dof_for_ci) if self.dof_for_ci else stats.norm.ppf(q)
        y = self.ln_D(T)
        return Extrapolation(T_K=T, D=np.exp(y), ci_low=np.exp(y - k * sd),
                             ci_high=np.exp(y + k * sd), confidence=confidence)


def _positive(values, name: str, unit: str) -> np.ndarray:
    a = np.asarray(values, dtype=float)
    bad = a[~(np.isfinite(a) & (a > 0))]
    if bad.size:
        shown = ", ".join(f"{v:g}" for v in bad[:3]) + (", ..." if bad.size > 3 else "")
        raise SeiflowError(f"every {name} must be a positive number ({unit}); got {shown}")
    return a


def arrhenius_fit(T_K, D, D_sigma=None) -> ArrheniusResult:
    """Fit ln D against 1/T: Ea ± sigma (eV) and D0 (unit of ``D``); see the module docstring."""
    T = _positive(T_K, "temperature", "K").ravel()
    d = _positive(D, "diffusion coefficient D", "any one unit").ravel()
    n = len(T)
    if d.shape != T.shape:
        raise SeiflowError(f"{n} temperatures but {d.size} diffusion coefficients")
    if n < 2:
        raise SeiflowError("an Arrhenius fit needs at least 2 temperatures (3 for an uncertainty)")
    if len(np.unique(T)) < 2:
        raise SeiflowError("an Arrhenius fit needs at least 2 different temperatures")
    X = np.stack([np.ones(n), 1.0 / T], axis=1)
    y = np.log(d)
    if D_sigma is not None:
        s = _positive(D_sigma, "D_sigma", "unit of D").ravel()
        if s.shape != d.shape:
            raise SeiflowError(f"{n} diffusion coefficients but {s.size} D_sigma values")
        w = (d / s) ** 2  # 1 / sigma_lnD^2
    else:
        w = np.ones(n)
    A = X.T @ (w[:, None] * X)
    beta = np.linalg.solve(A, X.T @ (w * y))
    resid = y - X @ beta
    chi2 = float(np.sum(w * resid**2))
    chi2_red = chi2 / (n - 2) if n > 2 else np.nan
    dof: int | None = None
    if D_sigma is not None:
        cov = np.linalg.inv(A)
        if n > 2 and chi2_red > 1:
            cov, dof = cov * chi2_red, n - 2
    elif n > 2:
        cov, dof = np.linalg.inv(A) * chi2_red, n - 2
    else:
        cov = np.full((2, 2), np.nan)
    return ArrheniusResult(
        Ea_eV=float(-beta[1] * kB), Ea_sigma_eV=float(np.sqrt(cov[1, 1]) * kB),
        D0=float(np.exp(beta[0])), ln_D0_sigma=float(np.sqrt(cov[0, 0])), cov=cov,
        chi2_reduced=chi2_red, n_points=n, weighted=D_sigma is not None, dof_for_ci=dof,
        T_K=T, D=d,
    )

"""Arrhenius fits of noisy synthetic data with known Ea and D0."""

import numpy as np
import pytest
from ase.units import kB

from seiflow.analysis import arrhenius_fit
from seiflow.core.errors import SeiflowError

EA, D0 = 0.30, 2e-3  # eV, cm²/s
T = np.array([500.0, 600.0, 700.0, 800.0, 900.0, 1000.0])
REL_NOISE = 0.05


def truth(T_K):
    return D0 * np.exp(-EA / (kB * np.asarray(T_K)))


def noisy(rng):
    return truth(T) * np.exp(rng.normal(0, REL_NOISE, T.size))


def test_recovers_ea_within_sigma_and_extrapolation_ci_contains_truth():
    fit = arrhenius_fit(T, noisy(np.random.default_rng(3)), D_sigma=REL_NOISE * truth(T))
    # one seeded fit: inside 2 sigma (95 %); the 1-sigma rate is tested over many fits below
    assert abs(fit.Ea_eV - EA) < 2 * fit.Ea_sigma_eV
    assert 0.002 < fit.Ea_sigma_eV < 0.02  # sensible, from 5 % noise over 500-1000 K
    ext = fit.extrapolate(300.0)
    assert ext.ci_low < truth(300.0) < ext.ci_high
    assert ext.ci_low < ext.D < ext.ci_high


@pytest.mark.parametrize("weighted", [True, False])
def test_uncertainties_have_the_stated_coverage(weighted):
    rng = np.random.default_rng(7)
    n, in_sigma, in_ci = 400, 0, 0
    for _ in range(n):
        fit = arrhenius_fit(T, noisy(rng), D_sigma=REL_NOISE * truth(T) if weighted else None)
        in_sigma += abs(fit.Ea_eV - EA) < fit.Ea_sigma_eV
        ext = fit.extrapolate([300.0])
        in_ci += bool(ext.ci_low[0] < truth(300.0) < ext.ci_high[0])
    lo = 0.55 if weighted else 0.5  # the residual estimate of sigma is itself noisy (4 dof)
    assert lo < in_sigma / n < 0.85  # ~68 % inside 1 sigma: sigma neither too small nor huge
    assert 0.90 < in_ci / n < 0.99  # ~95 % inside the 95 % interval


def test_bad_input():
    with pytest.raises(SeiflowError, match="temperature must be a positive"):
        arrhenius_fit([300.0, 0.0], [1e-6, 1e-5])
    with pytest.raises(SeiflowError, match="diffusion coefficient D must be a positive"):
        arrhenius_fit([300.0, 400.0], [1e-6, -1e-5])
    with pytest.raises(SeiflowError, match="at least 2 temperatures"):
        arrhenius_fit([300.0], [1e-6])
    two = arrhenius_fit([300.0, 400.0], [1e-6, 1e-5])
    assert two.Ea_eV > 0 and np.isnan(two.Ea_sigma_eV)
    with pytest.raises(SeiflowError, match="temperature must be a positive"):
        two.extrapolate(-5.0)

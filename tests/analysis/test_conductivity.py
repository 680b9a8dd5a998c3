"""Nernst–Einstein conductivity against a hand calculation in SI."""

import pytest

from seiflow.analysis import HAVEN_CAVEAT, nernst_einstein
from seiflow.core.errors import SeiflowError


def test_matches_hand_calculation():
    # 100 Li+ in 1000 Å³ at 300 K with D = 1e-6 cm²/s
    e, kb = 1.602176634e-19, 1.380649e-23  # C, J/K (exact SI)
    n_per_m3 = 100 / 1000e-30
    d_m2_s = 1e-6 * 1e-4
    by_hand = n_per_m3 * e**2 * d_m2_s / (kb * 300.0)  # ≈ 62.0 S/m
    res = nernst_einstein(1e-6, 100, 1000.0, 300.0)
    assert res.sigma_S_m == pytest.approx(by_hand, rel=1e-12)
    assert res.sigma_S_m == pytest.approx(61.97, rel=1e-3)
    assert res.sigma_mS_cm == pytest.approx(10 * by_hand)
    assert res.concentration_mol_L == pytest.approx(166.05, rel=1e-3)  # 0.1 Å⁻³
    assert nernst_einstein(1e-6, 100, 1000.0, 300.0, z=2).sigma_S_m == pytest.approx(4 * by_hand)
    assert res.caveat == HAVEN_CAVEAT and "Haven" in res.caveat


def test_non_positive_temperature_is_an_error():
    with pytest.raises(SeiflowError, match="temperature must be positive"):
        nernst_einstein(1e-6, 100, 1000.0, 0.0)
    with pytest.raises(SeiflowError, match="volume must be positive"):
        nernst_einstein(1e-6, 100, -1.0, 300.0)

"""Birch–Murnaghan fits of synthetic E(V) with known parameters, and the refusals."""

import json

import numpy as np
import pytest
from ase.units import GPa

from seiflow.analysis.eos import EOSError, EOSFit, fit_birch_murnaghan

V0, E0, B0, BP = 47.2, -14.0, 140.0, 4.8  # Å³ (4-atom cell), eV, GPa, dimensionless
N = 4


def bm(v, v0=V0, e0=E0, b0=B0, bp=BP):
    """Third-order Birch–Murnaghan E(V), written out here (not ASE's) from the textbook form:
    E = E0 + 9 V0 B0 / 16 {[(V0/V)^(2/3) - 1]^3 B0' + [(V0/V)^(2/3) - 1]^2 [6 - 4 (V0/V)^(2/3)]}."""
    x = (v0 / np.asarray(v)) ** (2 / 3)
    b = b0 * GPa
    return e0 + 9 * v0 * b / 16 * ((x - 1) ** 3 * bp + (x - 1) ** 2 * (6 - 4 * x))


def volumes(n=7, span=0.06):
    return V0 * (1 + np.linspace(-span, span, n))


def test_recovers_known_parameters_exactly():
    v = volumes()
    fit = fit_birch_murnaghan(v, bm(v), n_atoms=N)
    assert fit.v0 == pytest.approx(V0, rel=1e-7)
    assert fit.e0 == pytest.approx(E0, abs=1e-9)
    assert fit.b0 == pytest.approx(B0, rel=1e-6)
    assert fit.b0_prime == pytest.approx(BP, rel=1e-5)
    assert fit.rms_meV_per_atom < 1e-6


def test_b0_is_the_curvature_at_the_minimum():
    """B0 = V d²E/dV² at V0, from finite differences of the data model (units: GPa)."""
    v = volumes()
    fit = fit_birch_murnaghan(v, bm(v), n_atoms=N)
    h = 1e-3
    curvature = (bm(V0 + h) - 2 * bm(V0) + bm(V0 - h)) / h**2
    assert fit.b0 == pytest.approx(V0 * curvature / GPa, rel=1e-5)


def test_noisy_data_within_tolerance_and_residual_reports_the_noise():
    rng = np.random.default_rng(0)
    v = volumes(11)
    noise = 0.2e-3 * N  # 0.2 meV/atom
    fit = fit_birch_murnaghan(v, bm(v) + rng.normal(0, noise, v.size), n_atoms=N)
    assert fit.v0 == pytest.approx(V0, rel=2e-3)
    assert fit.b0 == pytest.approx(B0, rel=0.03)
    assert 0.05 < fit.rms_meV_per_atom < 0.4
    assert fit.rms_eV == pytest.approx(fit.rms_meV_per_atom * N / 1000)


def test_too_few_points_rejected():
    v = volumes(4)
    with pytest.raises(EOSError, match="at least 5"):
        fit_birch_murnaghan(v, bm(v))


def test_repeated_volumes_rejected():
    v = np.repeat(volumes(3), 2)
    with pytest.raises(EOSError, match="distinct"):
        fit_birch_murnaghan(v, bm(v))


def test_minimum_outside_sampled_range_rejected():
    v = V0 * np.linspace(1.05, 1.2, 7)  # all expanded: energy rises monotonically
    with pytest.raises(EOSError, match="outside"):
        fit_birch_murnaghan(v, bm(v))


def test_non_convex_data_rejected():
    v = volumes()
    with pytest.raises(EOSError):
        fit_birch_murnaghan(v, -bm(v))  # a maximum, not a minimum


def test_dict_round_trip_through_json():
    v = volumes()
    fit = fit_birch_murnaghan(v, bm(v), n_atoms=N)
    d = json.loads(json.dumps(fit.to_dict()))
    back = EOSFit.from_dict(d)
    assert back.to_dict() == fit.to_dict()
    assert back.energy(V0) == pytest.approx(E0, abs=1e-9)
    cv, ce = back.curve()
    assert np.allclose(ce, bm(cv), atol=1e-8)

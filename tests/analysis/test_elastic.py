"""Stiffness fits of analytic stress–strain data, VRH moduli, Born stability and the strain and
sign conventions (checked against EMT copper, not just against the code's own algebra)."""

import numpy as np
import pytest
from ase.build import bulk
from ase.calculators.emt import EMT
from ase.units import GPa

from seiflow.analysis.elastic import (
    ElasticFitError,
    born_conditions,
    born_stable,
    crystal_system,
    fit_elastic,
    independent_constants,
    strain_set,
    strain_tensor,
    strained_cell,
    voigt_strain,
    vrh_moduli,
)

MAGS = (-0.01, -0.005, 0.005, 0.01)


def cubic(c11, c12, c44):
    C = np.zeros((6, 6))
    C[:3, :3] = c12
    C[np.arange(3), np.arange(3)] = c11
    C[np.arange(3, 6), np.arange(3, 6)] = c44
    return C


def monoclinic():
    """A positive-definite stiffness with the 13 constants of a b-unique monoclinic crystal
    (GPa): nonzero C15, C25, C35, C46 couple normal and shear components."""
    C = np.array([
        [120.0, 45.0, 38.0, 0.0, 7.0, 0.0],
        [45.0, 98.0, 31.0, 0.0, -4.0, 0.0],
        [38.0, 31.0, 140.0, 0.0, 9.0, 0.0],
        [0.0, 0.0, 0.0, 33.0, 0.0, 5.0],
        [7.0, -4.0, 9.0, 0.0, 41.0, 0.0],
        [0.0, 0.0, 0.0, 5.0, 0.0, 27.0],
    ])
    assert np.linalg.eigvalsh(C).min() > 0
    return C


def analytic_data(C_GPa, stress0_GPa=np.zeros(6)):
    """Strains of the standard set and the stresses sigma = sigma0 + C e, in ASE units."""
    points = strain_set(MAGS)
    e = np.array([voigt_strain(j, m) for j, m in points])
    s = (stress0_GPa + e @ np.asarray(C_GPa).T) * GPa
    return e, s


def test_strain_set_and_refusals():
    points = strain_set(MAGS)
    assert len(points) == 24
    assert {j for j, _ in points} == set(range(6))
    with pytest.raises(ValueError):
        strain_set([0.0, 0.01])
    with pytest.raises(ValueError):
        strain_set([0.01], modes=[6])


def test_engineering_shear_is_the_angle_change():
    """Voigt e4 = 2 eps_yz is the decrease of the angle between the y and z axes (radians)."""
    atoms = bulk("Cu", "fcc", a=3.6, cubic=True)
    eps = 0.01
    eps_t = strain_tensor(voigt_strain(3, eps))
    assert eps_t[1, 2] == eps_t[2, 1] == pytest.approx(eps / 2)
    out = strained_cell(atoms, 3, eps)
    b, c = out.cell[1], out.cell[2]
    angle = np.arccos(b @ c / np.linalg.norm(b) / np.linalg.norm(c))
    assert np.pi / 2 - angle == pytest.approx(eps, rel=1e-4)
    assert np.allclose(out.get_scaled_positions(), atoms.get_scaled_positions())
    assert np.allclose(atoms.cell, np.eye(3) * 3.6)  # input untouched
    stretched = strained_cell(atoms, 0, 0.02)
    assert stretched.cell[0, 0] == pytest.approx(3.6 * 1.02)
    assert stretched.get_volume() == pytest.approx(atoms.get_volume() * 1.02)


def test_fit_recovers_cubic_and_monoclinic_matrices_and_residual_stress():
    for C in (cubic(170.0, 122.0, 76.0), monoclinic()):
        stress0 = np.array([0.3, -0.2, 0.1, 0.05, 0.0, -0.04])
        fit = fit_elastic(*analytic_data(C, stress0))
        assert np.allclose(fit.C_GPa, C, atol=1e-8)
        assert np.allclose(fit.stress0_GPa, stress0, atol=1e-10)
        assert fit.residual_GPa.max() < 1e-10
        assert fit.asymmetry_GPa < 1e-8
        assert fit.n_points == 24


def test_fit_with_noise_gives_matching_standard_errors():
    C = monoclinic()
    e, s = analytic_data(C)
    noise = 0.05  # GPa
    fit = fit_elastic(e, s + np.random.default_rng(1).normal(0, noise, s.shape) * GPa)
    # each constant comes from 4 strains of +-0.5 and 1 %: stderr ~ noise / sqrt(sum e^2)
    expected = noise / np.sqrt(2 * 0.01**2 + 2 * 0.005**2)
    assert np.nanmedian(fit.stderr_GPa) == pytest.approx(expected, rel=0.4)
    assert np.abs(fit.C_GPa - C).max() < 5 * expected
    assert 0.02 < fit.residual_GPa.mean() < 0.08


def test_unsymmetric_data_is_symmetrised_and_reported():
    C = cubic(170.0, 122.0, 76.0)
    C_raw = C.copy()
    C_raw[0, 1] += 4.0  # sigma_xx responds more to e_yy than sigma_yy to e_xx
    fit = fit_elastic(*analytic_data(C_raw))
    assert fit.C_GPa[0, 1] == fit.C_GPa[1, 0] == pytest.approx(124.0)
    assert fit.asymmetry_GPa == pytest.approx(2.0)


def test_ill_conditioned_and_malformed_data_rejected():
    C = cubic(170.0, 122.0, 76.0)
    e = np.array([voigt_strain(j, m) for j, m in strain_set(MAGS, modes=[0, 1, 2])])
    s = e @ C.T * GPa
    with pytest.raises(ElasticFitError, match="ill-conditioned"):
        fit_elastic(e, s)
    with pytest.raises(ElasticFitError, match="at least"):
        fit_elastic(e[:5], s[:5])
    with pytest.raises(ElasticFitError):
        fit_elastic(e, s[:, :5])
    bad = s.copy()
    bad[0, 0] = np.nan
    with pytest.raises(ElasticFitError, match="non-finite"):
        fit_elastic(e, bad)


def test_vrh_of_an_isotropic_solid_is_exact():
    K, G = 100.0, 50.0
    C = cubic(K + 4 * G / 3, K - 2 * G / 3, G)
    m = vrh_moduli(C)
    for value in (m.K_V, m.K_R, m.K_H):
        assert value == pytest.approx(K)
    for value in (m.G_V, m.G_R, m.G_H):
        assert value == pytest.approx(G)


def test_vrh_bounds_for_an_anisotropic_cubic_crystal():
    """Cubic: K_V = K_R = (C11 + 2 C12)/3; G_V = (C11 - C12 + 3 C44)/5 and
    G_R = 5 (C11 - C12) C44 / (4 C44 + 3 (C11 - C12)) (textbook closed forms)."""
    c11, c12, c44 = 170.0, 122.0, 76.0
    m = vrh_moduli(cubic(c11, c12, c44))
    assert m.K_V == pytest.approx((c11 + 2 * c12) / 3)
    assert m.K_R == pytest.approx((c11 + 2 * c12) / 3)
    assert m.G_V == pytest.approx((c11 - c12 + 3 * c44) / 5)
    assert m.G_R == pytest.approx(5 * (c11 - c12) * c44 / (4 * c44 + 3 * (c11 - c12)))
    assert m.G_R < m.G_H < m.G_V


def test_born_criterion_flags_unstable_cubic_matrix():
    stable, lam = born_stable(cubic(170.0, 122.0, 76.0))
    assert stable and lam == pytest.approx(48.0)  # C11 - C12 is the smallest eigenvalue
    stable, lam = born_stable(cubic(110.0, 130.0, 60.0))  # C11 < C12: tetragonal shear soft
    assert not stable and lam == pytest.approx(-20.0)
    cond = born_conditions(cubic(110.0, 130.0, 60.0), "cubic")
    assert cond == {"C11 > |C12|": False, "C11 + 2 C12 > 0": True, "C44 > 0": True}
    stable, _ = born_stable(cubic(170.0, 122.0, -5.0))
    assert not stable
    assert born_conditions(monoclinic(), "monoclinic") == {"all eigenvalues > 0": True}


def test_independent_constants_by_crystal_system():
    consts, pattern = independent_constants(cubic(170.0, 122.0, 76.0), "cubic")
    assert pattern and consts == pytest.approx({"C11": 170.0, "C12": 122.0, "C44": 76.0})
    consts, pattern = independent_constants(monoclinic(), "monoclinic")
    assert not pattern
    assert set(consts) == {"C11", "C12", "C13", "C15", "C22", "C23", "C25", "C33", "C35",
                           "C44", "C46", "C55", "C66"}
    # a cubic crystal in a rotated frame does not show the cubic pattern: every constant listed
    consts, pattern = independent_constants(monoclinic(), "cubic")
    assert not pattern and "C15" in consts
    assert crystal_system(225) == "cubic" and crystal_system(194) == "hexagonal"
    assert crystal_system(14) == "monoclinic" and crystal_system(1) == "triclinic"
    with pytest.raises(ValueError):
        crystal_system(231)


def test_ase_stress_sign_gives_positive_c11_for_emt_copper():
    """Stretching Cu along x gives a tensile (positive in ASE) stress: sigma = C e, no flip.
    fcc Cu has one atom per primitive cell, so no ionic relaxation is needed here."""
    atoms = bulk("Cu", "fcc", a=3.59, cubic=True)
    strains, stresses = [], []
    for j, m in strain_set(MAGS):
        cell = strained_cell(atoms, j, m)
        cell.calc = EMT()
        strains.append(voigt_strain(j, m))
        stresses.append(cell.get_stress(voigt=True))
    stretched = np.array(stresses)[np.argmax(np.array(strains)[:, 0])]
    assert stretched[0] > 0  # tensile
    fit = fit_elastic(strains, stresses)
    C = fit.C_GPa
    assert 150 < C[0, 0] < 200 and 90 < C[0, 1] < 140 and 70 < C[3, 3] < 100
    assert born_stable(C)[0]

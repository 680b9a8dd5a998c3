"""Lattice/EOS, elastic constants and phonons of EMT fcc Cu and Al through the compute functions,
cross-checked against each other, against independent calculations in this file and against
experiment; failures, result round trips and overlay plots."""

import json

import numpy as np
import pytest
from ase.build import bulk
from ase.calculators.calculator import Calculator
from ase.calculators.emt import EMT
from ase.units import _amu
from scipy.optimize import minimize_scalar

from seiflow.report.properties import plot_elastic, plot_eos, plot_phonons
from seiflow.workflows.properties.base import PropertyFailed
from seiflow.workflows.properties.elastic import ElasticResult, ElasticSettings, compute_elastic
from seiflow.workflows.properties.lattice import LatticeResult, LatticeSettings, compute_lattice
from seiflow.workflows.properties.phonons import PhononResult, PhononSettings, compute_phonons


def emt(atoms):
    return EMT()


def emt_asap(atoms):
    """A second "method" for overlays: EMT with ASAP's cutoff, slightly different numbers."""
    return EMT(asap_cutoff=True)


@pytest.fixture(scope="module")
def cu():
    lat = compute_lattice(bulk("Cu", "fcc", a=3.65, cubic=True), emt, LatticeSettings())
    el = compute_elastic(lat.atoms, emt, ElasticSettings())
    ph = compute_phonons(lat.atoms, emt, PhononSettings(mesh=(12, 12, 12)))
    return lat, el, ph


@pytest.fixture(scope="module")
def al():
    lat = compute_lattice(bulk("Al", "fcc", a=4.0, cubic=True), emt, LatticeSettings())
    return lat, compute_elastic(lat.atoms, emt, ElasticSettings())


def emt_lattice_constant(symbol):
    """fcc lattice constant minimising EMT's energy, by a direct 1-D minimisation of E(a)
    (independent of seiflow's relaxation and EOS code)."""
    def energy(a):
        atoms = bulk(symbol, "fcc", a=a, cubic=True)
        atoms.calc = EMT()
        return atoms.get_potential_energy()

    return minimize_scalar(energy, bounds=(3.3, 4.4), method="bounded",
                           options={"xatol": 1e-7}).x


def test_relaxed_lattice_constant_matches_direct_minimisation(cu, al):
    lat = cu[0]
    assert lat.a == pytest.approx(emt_lattice_constant("Cu"), abs=2e-4)
    assert lat.a == pytest.approx(3.59, abs=0.005)  # ASE's EMT value for Cu (exp. 3.615 Å)
    assert lat.b == pytest.approx(lat.a) and lat.c == pytest.approx(lat.a)
    assert lat.alpha == pytest.approx(90) and lat.gamma == pytest.approx(90)
    assert lat.spacegroup_number == 225 and lat.crystal_system == "cubic"
    assert lat.volume_per_atom == pytest.approx(lat.a**3 / 4)
    assert al[0].a == pytest.approx(emt_lattice_constant("Al"), abs=2e-4)
    assert lat.relax_max_stress < 0.01 and lat.relax_fmax < 0.01


def test_eos_minimum_at_the_relaxed_volume(cu, al):
    for lat in (cu[0], al[0]):
        assert lat.eos.v0 / lat.n_atoms == pytest.approx(lat.volume_per_atom, rel=1e-3)
        assert lat.eos.rms_meV_per_atom < 0.05
        assert len(lat.eos.volumes_A3) == 7


@pytest.mark.parametrize("which", ["cu", "al"])
def test_eos_bulk_modulus_equals_elastic_bulk_modulus(which, request):
    lat, el = request.getfixturevalue(which)[:2]
    C = el.C_GPa
    K_elastic = (C[0, 0] + 2 * C[0, 1]) / 3
    assert lat.eos.b0 == pytest.approx(K_elastic, rel=0.02)
    assert el.scalars()["B_VRH"][0] == pytest.approx(K_elastic, rel=1e-6)


def test_cubic_symmetry_and_born_stability(cu, al):
    for el in (cu[1], al[1]):
        C = el.C_GPa
        assert np.ptp(np.diag(C)[:3]) < 0.5 and np.ptp(np.diag(C)[3:]) < 0.5
        assert np.ptp([C[0, 1], C[0, 2], C[1, 2]]) < 0.5
        assert np.abs(C[:3, 3:]).max() < 0.5  # no normal–shear coupling
        assert np.abs(C[3:, 3:] - np.diag(np.diag(C)[3:])).max() < 0.5
        assert el.to_dict()["born_stable"] and el.fit.born[1] > 0
        assert el.independent[1]  # the cubic pattern was recognised
        assert set(el.scalars()) == {"C11", "C12", "C44", "B_VRH", "G_VRH"}


def test_copper_elastic_constants_against_experiment(cu):
    """Experiment, extrapolated to 0 K (Overton & Gaffney, Phys. Rev. 98, 969 (1955)):
    C11 = 176.2, C12 = 124.9, C44 = 81.8 GPa (room temperature: 168.4, 121.4, 75.4).
    EMT's parameters were fitted to Cu's bulk and shear moduli, but it gives C11 172.6, C12 115.5
    and C44 90.0 GPa (-2 %, -8 %, +10 % against 0 K). Asserted: each within 12 % of the 0 K
    value, C11 inside the experimental 168-176 window, and Cu's strong elastic anisotropy
    (Zener ratio 2 C44 / (C11 - C12) = 3.2) within 10 %."""
    s = cu[1].scalars()
    c11, c12, c44 = s["C11"][0], s["C12"][0], s["C44"][0]
    assert 168 <= c11 <= 176.2
    assert c11 == pytest.approx(176.2, rel=0.12)
    assert c12 == pytest.approx(124.9, rel=0.12)
    assert c44 == pytest.approx(81.8, rel=0.12)
    assert 2 * c44 / (c11 - c12) == pytest.approx(3.2, rel=0.1)


def test_hcp_relaxed_ion_constants():
    """hcp Cu (two atoms per cell, so strains move the atoms inside the cell): relaxing the
    ions can only soften, so C(clamped) - C(relaxed) is positive semidefinite; hexagonal
    symmetry requires C66 = (C11 - C12)/2, which holds for the relaxed-ion constants only if
    shear strains and the ionic relaxation are handled right; the EOS B0 of a shape-fixed
    scan is the Voigt bound K_V. EMT measures C11 220, C12 109, C13 75, C33 254, C44 49,
    C66 55.4 GPa relaxed (69.4 clamped)."""
    lat = compute_lattice(bulk("Cu", "hcp", a=2.55, c=4.16), emt, LatticeSettings())
    assert lat.crystal_system == "hexagonal" and set(lat.scalars()) >= {"a", "c"}
    relaxed = compute_elastic(lat.atoms, emt, ElasticSettings())
    clamped = compute_elastic(lat.atoms, emt, ElasticSettings(relax_ions=False))
    assert max(relaxed.relax_steps) > 0 and max(clamped.relax_steps) == 0
    assert np.linalg.eigvalsh(clamped.C_GPa - relaxed.C_GPa).min() > -0.5
    assert clamped.C_GPa[5, 5] - relaxed.C_GPa[5, 5] > 5  # internal relaxation matters here
    C = relaxed.C_GPa
    assert C[5, 5] == pytest.approx((C[0, 0] - C[0, 1]) / 2, rel=0.01)
    assert relaxed.independent[1]
    assert set(relaxed.scalars()) == {"C11", "C12", "C13", "C33", "C44", "B_VRH", "G_VRH"}
    assert lat.eos.b0 == pytest.approx(relaxed.to_dict()["moduli_GPa"]["K_V"], rel=0.01)


def test_phonons_of_relaxed_copper(cu):
    lat, el, ph = cu
    assert np.abs(ph.gamma_frequencies_THz).max() < 1e-3
    assert ph.imaginary.n_branches == 0 and ph.imaginary.n_qpoints == 0
    assert ph.n_atoms_primitive == 1
    assert ph.supercell_matrix.tolist() == [[3, 0, 0], [0, 3, 0], [0, 0, 3]]  # ≥ 10 Å wide
    # long-wavelength slopes along Γ–X ([100]) are the sound velocities from the Cij
    rho = lat.atoms.get_masses().sum() * _amu / (lat.atoms.get_volume() * 1e-30)  # kg/m³
    d, f = ph.distances_invA[0], ph.frequencies_THz[0]
    slope = (f[2] - f[1]) / (d[2] - d[1]) * 100  # m/s (THz·Å = 100 m/s)
    v_L = np.sqrt(el.C_GPa[0, 0] * 1e9 / rho)
    v_T = np.sqrt(el.C_GPa[3, 3] * 1e9 / rho)
    assert slope[2] == pytest.approx(v_L, rel=0.02)
    assert slope[0] == pytest.approx(v_T, rel=0.02)
    # X point vs neutron data (LA ≈ 7.3, TA ≈ 5.1 THz); EMT: 8.14 and 5.53 THz
    ta, _, la = f[-1]
    assert la == pytest.approx(7.3, rel=0.15) and ta == pytest.approx(5.1, rel=0.15)


def test_unstable_bcc_copper_reports_imaginary_modes():
    bcc = bulk("Cu", "bcc", a=2.8555)  # EMT's cell-relaxed bcc: zero forces by symmetry
    ph = compute_phonons(bcc, emt, PhononSettings(min_width=9.0, mesh=(8, 8, 8)))
    assert ph.imaginary.n_branches >= 1 and ph.imaginary.lowest_THz < -0.5
    assert ph.scalars()["imaginary branches"][0] >= 1


def rattled_copper():
    atoms = bulk("Cu", "fcc", a=3.59, cubic=True) * (2, 1, 1)
    atoms.rattle(0.15, seed=2)
    atoms.set_cell(atoms.cell * [1.04, 0.98, 1.0], scale_atoms=True)
    return atoms


def test_unconverged_relaxations_raise_property_failed():
    with pytest.raises(PropertyFailed, match="did not converge"):
        compute_lattice(rattled_copper(), emt, LatticeSettings(max_steps=1))
    with pytest.raises(PropertyFailed, match="did not converge"):
        compute_elastic(rattled_copper(), emt, ElasticSettings(max_steps=1))


def test_unrelaxed_input_to_phonons_raises_property_failed():
    with pytest.raises(PropertyFailed, match="not relaxed"):
        compute_phonons(rattled_copper(), emt, PhononSettings(min_width=7.0))


class Broken(Calculator):
    implemented_properties = ["energy", "forces", "stress"]

    def calculate(self, atoms=None, properties=("energy",), system_changes=()):
        raise RuntimeError("SCF did not converge")


def test_calculator_failure_raises_property_failed():
    atoms = bulk("Cu", "fcc", a=3.59, cubic=True)
    for compute, settings in ((compute_lattice, LatticeSettings()),
                              (compute_elastic, ElasticSettings(relax_ions=False)),
                              (compute_phonons, PhononSettings(min_width=7.0))):
        with pytest.raises(PropertyFailed, match="SCF did not converge"):
            compute(atoms, lambda a: Broken(), settings)


def test_results_round_trip_through_json(cu):
    for result, cls in zip(cu, (LatticeResult, ElasticResult, PhononResult)):
        d = json.loads(json.dumps(result.to_dict()))
        back = cls.from_dict(d)
        assert back.to_dict() == result.to_dict()
        assert back.scalars() == result.scalars()
        for name, (value, unit) in result.scalars().items():
            assert isinstance(name, str) and isinstance(unit, str) and np.isfinite(value)
    lat = cu[0]
    assert {"a_A", "b0_GPa", "v0_per_atom_A3", "volume_per_atom_A3"} <= set(lat.to_dict())
    assert LatticeResult.from_dict(lat.to_dict()).atoms == lat.atoms


def test_scalars_name_the_table_rows(cu):
    lat, el, ph = cu
    assert set(lat.scalars()) == {"a", "V/atom", "E/atom", "V0/atom (EOS)", "B0 (EOS)",
                                  "B0' (EOS)"}
    assert lat.scalars()["B0 (EOS)"][1] == "GPa" and lat.scalars()["a"][1] == "Å"
    assert {"max frequency", "min frequency", "imaginary branches"} <= set(ph.scalars())
    assert ph.scalars()["max frequency"][1] == "THz"


def test_overlay_plots_write_pngs(cu, tmp_path):
    lat2 = compute_lattice(cu[0].atoms, emt_asap, LatticeSettings())
    el2 = compute_elastic(lat2.atoms, emt_asap, ElasticSettings())
    ph2 = compute_phonons(lat2.atoms, emt_asap, PhononSettings(mesh=(12, 12, 12)))
    assert lat2.a != pytest.approx(cu[0].a, abs=1e-4)  # really a different "method"
    paths = [
        plot_eos({"EMT": cu[0], "EMT (asap cutoff)": lat2.to_dict()}, tmp_path / "eos.png"),
        plot_elastic({"EMT": cu[1], "EMT (asap cutoff)": el2}, tmp_path / "elastic.png"),
        plot_phonons({"EMT": cu[2], "EMT (asap cutoff)": ph2}, tmp_path / "sub" / "ph.png"),
    ]
    for p in paths:
        assert p.exists() and p.stat().st_size > 5000
        assert p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

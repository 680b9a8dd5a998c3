"""Real reference codes on small cells; forces and stresses against finite differences of each
backend's own energy (ASE's fd helpers)."""

import numpy as np
import pytest
from ase import Atoms
from ase.build import bulk, molecule
from ase.calculators.fd import calculate_numerical_forces

from seiflow.reference import (
    CP2KSettings,
    GPAWSettings,
    LabelerError,
    VASPSettings,
    XTBSettings,
)
from seiflow.reference.kpoints import kpoint_grid
from seiflow.reference.vasp import write_inputs
from seiflow.structures.library import get_molecule


def _strain_derivative(atoms, i, j, eps):
    """(E(+eps) - E(-eps)) / (2 eps V) for the symmetric strain component (i, j), in eV/Å³."""
    energies = []
    fc = "free_energy" in atoms.calc.implemented_properties  # smeared DFT: the variational one
    for sign in (1, -1):
        strain = np.eye(3)
        strain[i, j] += sign * eps / (1 if i == j else 2)
        strain[j, i] = strain[i, j]
        work = atoms.copy()
        work.calc = atoms.calc
        work.set_cell(atoms.cell @ strain, scale_atoms=True)
        energies.append(work.get_potential_energy(force_consistent=fc))
    return (energies[0] - energies[1]) / (2 * eps * atoms.get_volume())


def _fd_check(labeler, atoms, f_tol, s_tol=None, eps=1e-4, iatoms=None):
    """Forces of `iatoms` (all by default) and the stress components xx, yz (when s_tol is
    given) against central differences of the labeler's own energy: fewer calls to slow codes
    than the full 3N + 6 components, and still one diagonal and one shear component."""
    label = labeler.label(atoms)
    assert label.ok, label.failure
    work = atoms.copy()
    work.calc = labeler.calculator(work)
    iatoms = range(len(atoms)) if iatoms is None else iatoms
    f_num = calculate_numerical_forces(work, eps=eps, iatoms=list(iatoms))
    np.testing.assert_allclose(label.forces[list(iatoms)], f_num, atol=f_tol)
    assert np.abs(label.forces).max() > 10 * f_tol  # a test that can fail: forces are not ~0
    if s_tol is not None:
        for voigt, (i, j) in ((0, (0, 0)), (3, (1, 2))):
            assert label.stress[voigt] == pytest.approx(_strain_derivative(work, i, j, eps),
                                                        abs=s_tol), voigt
    return label


def test_xtb_molecule_forces_match_finite_differences():
    mol = get_molecule("li2edc")
    mol.rattle(0.05, seed=1)
    label = _fd_check(XTBSettings(), mol, f_tol=2e-3)
    assert label.stress is None


def test_xtb_periodic_forces_and_stress_match_finite_differences():
    atoms = bulk("LiF", "rocksalt", a=4.1, cubic=True)
    atoms.rattle(0.05, seed=2)
    # tight SCF (accuracy 0.01) and a 2e-3 Å step keep SCF noise out of the differences; in this
    # 4 Å cell tblite's periodic sums leave single components off by up to ~5 meV/Å
    _fd_check(XTBSettings(allow_thin=True, accuracy=0.01), atoms, f_tol=6e-3, s_tol=2e-4,
              eps=2e-3, iatoms=[0, 5])


def test_xtb_refuses_thin_cells_and_foreign_elements():
    with pytest.raises(LabelerError, match="thin"):
        XTBSettings().check(bulk("LiF", "rocksalt", a=4.03))
    with pytest.raises(LabelerError, match="Og"):
        XTBSettings().check(Atoms("Og", positions=[[0, 0, 0]]))
    # allow_thin is a run-time choice: it does not change the numbers, so not the hash
    assert XTBSettings(allow_thin=True).settings_hash() == XTBSettings().settings_hash()
    assert XTBSettings(method="GFN2-xTB").settings_hash() != XTBSettings().settings_hash()


def test_scf_failure_is_a_failed_label_not_an_exception():
    label = XTBSettings(max_iterations=2).label(molecule("C6H6"))
    assert not label.ok and "SCF not converged" in label.failure


@pytest.mark.slow
def test_gpaw_forces_and_stress_match_finite_differences():
    atoms = bulk("Li", "bcc", a=3.44, cubic=True)
    atoms.rattle(0.08, seed=3)
    gpaw = GPAWSettings(ecut=300, kspacing=0.6, smearing=0.1, energy_tolerance=1e-8,
                        density_tolerance=1e-8)
    _fd_check(gpaw, atoms, f_tol=5e-3, s_tol=3e-4, eps=2e-3, iatoms=[0])


@pytest.mark.slow
def test_gpaw_lcao_forces_match_finite_differences():
    mol = Atoms("LiF", positions=[[0, 0, 0], [1.6, 0.1, 0.05]])
    mol.center(vacuum=3.0)
    lcao = GPAWSettings(mode="lcao", energy_tolerance=1e-8, density_tolerance=1e-8)
    _fd_check(lcao, mol, f_tol=5e-3, eps=2e-3)
    # GPAW's LCAO has no stress: a periodic label carries none
    crystal = GPAWSettings(mode="lcao", kspacing=1.0).label(bulk("Li", "bcc", a=3.44))
    assert crystal.ok and crystal.stress is None
    # pw labels keep their hashes; lcao is another method
    assert GPAWSettings(mode="pw", basis="dzp").settings_hash() == GPAWSettings().settings_hash()
    assert lcao.settings_hash() != GPAWSettings(energy_tolerance=1e-8,
                                                density_tolerance=1e-8).settings_hash()


@pytest.mark.slow
def test_gpaw_d3_adds_dftd3_energy():
    from dftd3.ase import DFTD3

    mol = molecule("H2O")
    mol.center(vacuum=2.5)
    plain = GPAWSettings(ecut=250).label(mol)
    with_d3 = GPAWSettings(ecut=250, d3="bj").label(mol)
    ref = mol.copy()
    ref.calc = DFTD3(method="PBE", damping="d3bj")
    assert with_d3.energy - plain.energy == pytest.approx(ref.get_potential_energy(), abs=1e-6)


def test_gpaw_refuses_elements_without_setups():
    with pytest.raises(LabelerError, match="Tc"):
        GPAWSettings().check(Atoms("Tc", positions=[[0, 0, 0]], cell=[5, 5, 5]))


@pytest.mark.slow
def test_cp2k_forces_match_directional_finite_difference():
    """-F·d equals the energy derivative along a random direction d (3 CP2K runs)."""
    mol = molecule("H2O")
    mol.center(vacuum=3.0)
    mol.rattle(0.05, seed=4)
    cp2k = CP2KSettings(cutoff=300)
    cp2k.check(mol)
    label = cp2k.label(mol)
    assert label.ok, label.failure
    d = np.random.default_rng(0).normal(size=mol.positions.shape)
    d /= np.linalg.norm(d)
    h = 5e-3
    e = []
    for sign in (1, -1):
        shifted = mol.copy()
        shifted.positions += sign * h * d
        e.append(cp2k.label(shifted).energy)
    slope = (e[0] - e[1]) / (2 * h)
    assert slope == pytest.approx(-np.sum(label.forces * d), abs=0.01)
    assert abs(slope) > 0.1


def test_cp2k_input_and_missing_binary():
    atoms = bulk("Li", "bcc", a=3.44, cubic=True)
    inp = CP2KSettings(d3="bj").input_section(atoms)
    assert "MONKHORST-PACK 6 6 6" in inp and "SYMMETRY F" in inp and "DFTD3(BJ)" in inp
    with pytest.raises(LabelerError, match="not found"):
        CP2KSettings(command="cp2k_shell_that_does_not_exist").check(atoms)


def test_vasp_profile_writes_inputs(tmp_path, monkeypatch):
    monkeypatch.delenv("VASP_PP_PATH", raising=False)
    atoms = bulk("LiF", "rocksalt", a=4.03)
    files = write_inputs(VASPSettings(d3="bj"), atoms, tmp_path)
    incar = (tmp_path / "INCAR").read_text().upper()
    for tag in ("ENCUT = 520", "KSPACING = 0.35", "IVDW = 12", "GGA = PE", "NSW = 0"):
        assert tag.replace(" ", "") in incar.replace(" ", ""), tag
    assert [f.name for f in files] == ["INCAR", "POSCAR"]
    with pytest.raises(LabelerError, match="not found"):
        VASPSettings(command="vasp_std_missing").check(atoms)


def test_kpoint_grid_follows_vasp_kspacing():
    cubic = bulk("Li", "bcc", a=4.0, cubic=True)
    assert kpoint_grid(cubic, 0.35) == (5, 5, 5)  # 2π/4 / 0.35 = 4.49 -> 5
    slab = cubic.copy()
    slab.pbc = [True, True, False]
    assert kpoint_grid(slab, 0.35)[2] == 1

"""Interface and surface energies, checked on a Cu(111)/Cu(111) homo-interface with EMT: a
perfectly stacked film on its own substrate is bulk, so its interface energy is zero and the
work of adhesion is the two surface energies; and on the formulas themselves."""

import numpy as np
import pytest
from ase.build import bulk, fcc111
from ase.calculators.emt import EMT

from seiflow.analysis.interfaces import (
    EV_PER_A2_TO_J_PER_M2,
    bulk_units,
    interface_energy,
    surface_energy,
)
from seiflow.workflows.properties.base import PropertyFailed, relax
from seiflow.workflows.properties.interface import (
    InterfaceEnergyResult,
    InterfaceEnergySettings,
    compute_interface_energy,
    interface_steps,
    slab_with_vacuum,
)


def emt(atoms):
    return EMT()


@pytest.fixture(scope="module")
def cu():
    a0 = relax(bulk("Cu", "fcc", a=3.6, cubic=True), emt).atoms.cell[0, 0]
    # 6 close-packed layers, periodic along c: ABCABC, a stacking the cell continues exactly
    stack = fcc111("Cu", size=(2, 2, 6), a=a0, periodic=True)
    layer = np.round(stack.positions[:, 2] / (a0 / np.sqrt(3))).astype(int)
    stack.arrays["is_film"] = layer >= 3
    return a0, stack


def test_formulas():
    assert EV_PER_A2_TO_J_PER_M2 == pytest.approx(16.0218, rel=1e-5)
    # 1 eV over two 10 Å² faces = 0.05 eV/Å²
    assert surface_energy(-9.0, 2, -5.0, 10.0) == pytest.approx(0.05 * 16.0218, rel=1e-5)
    # 1 eV above the bulk references over two 5 Å² interfaces = 0.1 eV/Å²
    assert interface_energy(-10.0, [(1, -4.0), (2, -3.5)], 5.0) == pytest.approx(0.1 * 16.0218,
                                                                                  rel=1e-5)


def test_bulk_units_rejects_non_stoichiometric_part():
    cu3al = bulk("Cu", "fcc", a=3.6, cubic=True)
    cu3al[0].symbol = "Al"
    assert bulk_units(cu3al * (2, 1, 1), cu3al, "film") == pytest.approx(2.0)
    part = cu3al.copy()
    part[1].symbol = "Al"  # Cu2Al2
    with pytest.raises(ValueError, match="not stoichiometric"):
        bulk_units(part, cu3al, "film")


def test_slab_with_vacuum_unwraps_a_slab_across_the_boundary(cu):
    _, stack = cu
    film = stack[stack.arrays["is_film"]]
    film.positions[:, 2] += 0.7 * stack.cell[2, 2]  # push it across the periodic boundary
    film.wrap()
    slab = slab_with_vacuum(film, 10.0)
    z = slab.positions[:, 2]
    assert np.ptp(z) == pytest.approx(2 * 3.59 / np.sqrt(3), abs=0.05)  # 3 layers
    assert z.min() == pytest.approx(5.0, abs=1e-6)
    assert slab.cell[2, 2] - z.max() == pytest.approx(5.0, abs=1e-6)


def test_cu_homo_interface_has_zero_energy_and_adhesion_twice_the_surface_energy(cu):
    a0, stack = cu
    res = compute_interface_energy(stack, bulk("Cu", "fcc", a=a0), bulk("Cu", "fcc", a=a0),
                                   emt, InterfaceEnergySettings(bulk_min_width=6.0))
    assert res.gamma_J_m2 == pytest.approx(0.0, abs=2e-3)
    assert res.sigma_film_J_m2 == pytest.approx(res.sigma_substrate_J_m2, rel=1e-6)
    # EMT Cu(111): about 1.3 J/m² (experiment for Cu, all faces averaged: ~1.8)
    assert 0.8 < res.sigma_film_J_m2 < 1.8
    assert res.work_of_adhesion_J_m2 == pytest.approx(2 * res.sigma_film_J_m2, abs=2e-3)
    back = InterfaceEnergyResult.from_dict(res.to_dict())
    assert back == res
    assert back.scalars()["interface energy"][1] == "J/m²"


def test_an_interface_without_film_flags_is_refused(cu):
    _, stack = cu
    bare = stack.copy()
    del bare.arrays["is_film"]
    with pytest.raises(PropertyFailed, match="is_film"):
        compute_interface_energy(bare, bulk("Cu"), bulk("Cu"), emt, InterfaceEnergySettings())


def test_relax_keeps_the_callers_constraints():
    from ase.constraints import FixAtoms

    atoms = bulk("Cu", "fcc", a=3.6, cubic=True).repeat(2)
    atoms.rattle(0.05, seed=1)
    start = atoms.positions[0].copy()
    atoms.set_constraint(FixAtoms(indices=[0]))
    res = relax(atoms, emt, cell=False, symmetry=True, fmax=0.01)
    assert res.atoms.positions[0] == pytest.approx(start)  # held in place
    assert isinstance(res.atoms.constraints[0], FixAtoms) and len(res.atoms.constraints) == 1
    assert res.fmax < 0.01


def test_rigid_interface_energy_is_the_relaxed_one_for_a_perfect_homo_interface(cu):
    a0, stack = cu
    res = compute_interface_energy(stack, bulk("Cu", "fcc", a=a0), bulk("Cu", "fcc", a=a0),
                                   emt, InterfaceEnergySettings(relax=False, bulk_min_width=6.0))
    assert res.gamma_J_m2 == pytest.approx(0.0, abs=1e-6)
    assert set(res.relax_steps.values()) == {0}
    assert res.sigma_film_J_m2 > 0.8  # unrelaxed surface energy: above the relaxed one


def test_interface_calculations_fan_out_through_the_engine_and_equal_the_serial_code(cu, tmp_path):
    """The five calculations are one engine round, each distinct one computed once and kept on
    disk (film and substrate are the same Cu bulk, so they share its calculation; their slabs,
    cut from the two halves of the stack, share theirs only where LAPACK's rounding of the
    scaled positions, which depends on the CPU, makes them equal to the last bit); the result
    is the serial code's bit for bit, and a rerun computes nothing."""
    from seiflow.execution import InProcessSettings
    from seiflow.workflows.fanout import EngineRunner
    from seiflow.workflows.properties.calcs import calc_key

    a0, stack = cu
    args = (stack, bulk("Cu", "fcc", a=a0), bulk("Cu", "fcc", a=a0))
    settings = InterfaceEnergySettings(bulk_min_width=6.0)
    serial = compute_interface_energy(*args, emt, settings)
    rounds = []

    class Counted(InProcessSettings):
        def map(self, fn, items, *a, **kw):
            rounds.append(len(items))
            return super().map(fn, items, *a, **kw)

    def runner(factory):
        return EngineRunner(Counted(progress=False), factory, "emt", tmp_path / "calcs")

    planned = next(interface_steps(*args, settings))
    distinct = len({calc_key(c, "emt") for c in planned})
    assert len(planned) == 5 and distinct in (3, 4)  # the two bulks are always one
    fanned = compute_interface_energy(*args, emt, settings, runner=runner(emt))
    assert rounds == [distinct] and len(list((tmp_path / "calcs").glob("*.json"))) == distinct
    assert fanned.to_dict() == serial.to_dict()

    def no_calculator(atoms):
        raise AssertionError("a kept calculation was computed again")

    assert compute_interface_energy(*args, emt, settings,
                                    runner=runner(no_calculator)).to_dict() == serial.to_dict()
    assert rounds == [distinct]  # nothing was sent

"""The MD loop inside the MTP kernel (md/native.py) against ASE's integrators on the same
model: the same trajectory (NVE to the last bit, NVT and NPT to round-off), frames, thermo rows
and γ, through neighbour-list rebuilds in mid-step (and, NPT, a cell that grows by ~15 %);
checkpoints interchangeable between the two backends; a blown-up state is the MD's
instability; what it does not run goes to ASE."""

import ase.io
import numpy as np
import pytest
from ase.build import bulk
from ase.constraints import FixAtoms

from seiflow.core.errors import SeiflowError
from seiflow.md import GammaWatch, MDSettings, run_md
from seiflow.md.native import eligible, kernel_of
from seiflow.md.thermo import read_thermo
from seiflow.potentials.mtp.fit import fit_mtp
from tests.potentials.conftest import emt_frames


@pytest.fixture(scope="module")
def model():
    return fit_mtp(emt_frames(12, seed=1), level=6, cutoff=5.0, max_iter=40, seed=0,
                   progress=False)


def alloy():
    atoms = bulk("Cu", "fcc", 3.7, cubic=True).repeat(3)  # 108 atoms, 11.1 Å wide
    atoms.numbers[::7] = 13
    atoms.rattle(0.05, seed=2)
    return atoms


def settings(ensemble, steps=300, **kw):
    return MDSettings(ensemble=ensemble, temperature_K=1500, timestep_fs=2.0, steps=steps,
                      traj_stride=50, checkpoint_every=100, seed=3, tdamp_fs=40,
                      pdamp_fs=200, pressure_bar=1e4, **kw)


def _run(model, tmp_path, s, kernel_loop, graded, name, **kw):
    calc = model.calculator(grade=graded)
    watch = GammaWatch()
    res = run_md(alloy(), calc, s, tmp_path / name, observers=[(watch, 1)] if graded else [],
                 progress=False, kernel_loop=kernel_loop, **kw)
    return res, calc, watch


@pytest.mark.parametrize("graded", [False, True])
@pytest.mark.parametrize("ensemble", ["nve", "nvt", "npt"])
def test_the_kernel_loop_follows_ases_trajectory(model, tmp_path, ensemble, graded):
    s = settings(ensemble)
    (a, calc_a, watch_a), (b, calc_b, watch_b) = (
        _run(model, tmp_path, s, loop, graded, str(loop)) for loop in (True, False))
    engine = kernel_of(calc_a)[1]
    assert engine._md is not None and kernel_of(calc_b)[1]._md is None  # which loop ran
    assert engine._nl.builds > 2  # atoms crossed the skin: rebuilt between drift and forces
    # the chain sums momenta, the barostat diagonalises the cell momenta in another order
    tol = {"nve": 0.0, "nvt": 1e-10, "npt": 1e-9}[ensemble]
    assert np.abs(a.atoms.positions - b.atoms.positions).max() <= tol
    assert np.abs(a.atoms.get_momenta() - b.atoms.get_momenta()).max() <= 10 * tol
    assert np.abs(a.atoms.cell.array - b.atoms.cell.array).max() <= tol
    assert np.abs(a.atoms.positions - alloy().positions).max() > 0.3  # it did move
    if ensemble == "npt":  # and so did the cell
        assert a.atoms.get_volume() / alloy().get_volume() > 1.1
    fa, fb = (ase.io.read(r.trajectory, index=":") for r in (a, b))
    assert [f.info["step"] for f in fa] == [f.info["step"] for f in fb] == [0, 50, 100, 150,
                                                                             200, 250, 300]
    for x, y in zip(fa, fb, strict=True):
        assert x.info["epot_eV"] == pytest.approx(y.info["epot_eV"], abs=1e-9)
        assert ("gamma" in x.info) == ("gamma" in y.info) == graded
        if graded:
            assert x.info["gamma"] == pytest.approx(y.info["gamma"], rel=1e-9)
    ta, tb = (read_thermo(r.trajectory.parent / "thermo.csv") for r in (a, b))
    for column in ("T_K", "Epot_eV", "conserved_eV", "pressure_GPa", "volume_A3"):
        assert np.allclose(ta[column], tb[column], rtol=1e-8, atol=1e-8), column
    if graded:  # an observer at every step: graded at every step by both
        assert len(watch_a.gammas) == len(watch_b.gammas) == 301
        assert np.allclose(watch_a.gammas, watch_b.gammas, rtol=1e-9)


@pytest.mark.parametrize("ensemble", ["nvt", "npt"])
def test_checkpoints_pass_between_the_two_loops(model, tmp_path, ensemble):
    """Stopped at step 100 by ASE's loop and continued by the kernel's (and the other way
    round), a run ends where an uninterrupted one ends: the chain and barostat variables
    travel in the checkpoint."""
    whole, _, _ = _run(model, tmp_path, settings(ensemble), True, False, "whole")
    for first, then in ((False, True), (True, False)):
        name = f"{first}-{then}"
        _run(model, tmp_path, settings(ensemble, steps=100), first, False, name)
        split, _, _ = _run(model, tmp_path, settings(ensemble), then, False, name)
        assert split.restarted_from == 100
        assert np.abs(split.atoms.positions - whole.atoms.positions).max() < 1e-8
        assert np.abs(split.atoms.get_momenta() - whole.atoms.get_momenta()).max() < 1e-8
        assert np.abs(split.atoms.cell.array - whole.atoms.cell.array).max() < 1e-8


def test_a_blown_up_state_is_the_md_instability(model, tmp_path):
    atoms = alloy()
    atoms.set_momenta(np.full((len(atoms), 3), np.nan))
    s = MDSettings(ensemble="nve", steps=20, traj_stride=10, checkpoint_every=10,
                   init_velocities=False)
    assert eligible(_with(atoms, model.calculator()), s)
    with np.errstate(all="ignore"), pytest.raises(SeiflowError, match="MD became unstable"):
        run_md(atoms, model.calculator(), s, tmp_path, progress=False)


def _with(atoms, calc):
    atoms = atoms.copy()
    atoms.calc = calc
    return atoms


def test_what_the_kernel_loop_does_not_run_goes_to_ase(model):
    atoms = alloy()
    assert eligible(_with(atoms, model.calculator()), settings("nvt"))
    assert eligible(_with(atoms, model.calculator()), settings("npt"))
    slab = atoms.copy()
    slab.pbc = (True, True, False)
    assert not eligible(_with(slab, model.calculator()), settings("npt"))
    assert not eligible(_with(atoms, model.calculator()), settings("langevin"))
    assert not eligible(_with(atoms, model.calculator()),
                        settings("nvt", temperature_end_K=600))
    assert not eligible(_with(atoms, model.calculator(engine="motep")), settings("nve"))
    fixed = atoms.copy()
    fixed.set_constraint(FixAtoms(indices=[0]))
    assert not eligible(_with(fixed, model.calculator()), settings("nve"))

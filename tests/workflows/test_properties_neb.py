"""Climbing-image NEB driven by a calculator factory, tested with ASE's EMT on metals (EMT has no
Li, C or O: the Li2CO3 end points are tested geometrically in tests/structures)."""

import json

import numpy as np
import pytest
from ase.build import add_adsorbate, fcc100
from ase.build import bulk as ase_bulk
from ase.calculators.calculator import Calculator
from ase.calculators.emt import EMT
from ase.constraints import FixAtoms
from ase.optimize import BFGS

from seiflow.core.errors import SeiflowError
from seiflow.report.neb import neb_overlay_plot
from seiflow.structures.migration import vacancy_hop
from seiflow.workflows.properties.base import PropertyFailed
from seiflow.workflows.properties.neb import NEBResult, NEBSettings, compute_neb


def emt(atoms):
    return EMT()


@pytest.fixture(scope="module")
def al_hop():
    """Vacancy hop in fcc Al, 2x2x2 conventional cells (31 atoms)."""
    return vacancy_hop(ase_bulk("Al", "fcc", a=4.05, cubic=True).repeat(2), "Al")


@pytest.fixture(scope="module")
def al_result(al_hop):
    return compute_neb(*al_hop, emt, NEBSettings())


def test_vacancy_hop_is_symmetric_with_the_saddle_in_the_middle(al_hop, al_result):
    r, s = al_result, al_result.settings
    p = r.profile
    assert len(r.images) == s.n_images + 2 == len(p.path)
    # equivalent end points: no reaction energy, equal barriers both ways
    assert abs(p.reaction_energy) < 1e-3
    assert p.barrier_backward == pytest.approx(p.barrier_forward, abs=1e-3)
    # the climbing image is the middle image, the highest point, and at rest
    mid = (s.n_images + 1) // 2
    assert p.saddle_index == mid
    assert p.energies[mid] == p.energies.max()
    assert r.climbing_fmax < s.fmax and r.fmax < s.fmax
    assert p.path[mid] == pytest.approx(p.path_length / 2, abs=0.05)
    assert p.barrier_fit == pytest.approx(p.barrier_forward, abs=5e-3)
    # ... with the hopping atom halfway between its two sites
    k = al_hop[0].info["moved"][0]
    start, end, top = (r.images[i].positions[k] for i in (0, -1, mid))
    assert np.linalg.norm(top - (start + end) / 2) < 0.05
    # a positive, metal-like barrier (EMT Al: about 0.39 eV); energies match the images
    assert 0.2 < p.barrier_forward < 0.8
    assert r.image_energies - r.image_energies[0] == pytest.approx(p.energies)
    assert r.n_force_calls >= s.n_images * r.n_steps
    assert r.endpoint_separation == pytest.approx(4.05 / np.sqrt(2), abs=0.3)


def test_barrier_does_not_depend_on_optimizer_or_images(al_hop, al_result):
    other = compute_neb(*al_hop, emt, NEBSettings(n_images=3, optimizer="bfgs", fmax=0.02,
                                                  interpolation="linear"))
    assert other.profile.barrier_forward == pytest.approx(al_result.profile.barrier_forward,
                                                          abs=0.01)
    assert other.profile.saddle_index == 2


def au_on_al100():
    """Au hopping between hollow sites of Al(100), the two lower layers fixed: end points."""
    slab = fcc100("Al", size=(2, 2, 3))
    add_adsorbate(slab, "Au", 1.7, "hollow")
    slab.center(axis=2, vacuum=4.0)
    slab.set_constraint(FixAtoms(mask=[atom.tag > 1 for atom in slab]))
    final = slab.copy()
    final.positions[-1, 0] += slab.cell[0, 0] / 2
    return slab, final


def test_au_on_al100_ase_tutorial():
    """ASE's surface-diffusion tutorial (EMT): Au hops between hollow sites of Al(100), two lower
    layers fixed. ASE's documentation gives a barrier of about 0.37 eV (0.35 eV from its
    constrained-path variant); climbing-image NEB finds the saddle itself."""
    slab, final = au_on_al100()
    r = compute_neb(slab, final, emt, NEBSettings(n_images=3))
    assert r.profile.barrier_forward == pytest.approx(0.37, abs=0.02)
    assert abs(r.profile.reaction_energy) < 1e-3
    fixed = [atom.tag > 1 for atom in slab]
    for image in r.images:  # the fixed layers never moved
        assert np.allclose(image.positions[fixed], slab.positions[fixed])


def adatom_across_a_vacancy():
    """An Al adatom crossing Al(100) between two hollow sites, its straight path over a
    vacancy of the top layer: end points, and the band passes the deeper minimum of the adatom
    filling the vacancy (surface units of 2.86 Å: hollows (0.5, 1.5) and (3.5, 2.5), vacancy at
    (2, 2), halfway)."""
    slab = fcc100("Al", size=(7, 4, 3), vacuum=5.0)
    a = slab.cell[1, 1] / 4
    top = [atom.index for atom in slab if atom.tag == 1]
    del slab[[i for i in top if np.allclose(slab.positions[i, :2], [2 * a, 2 * a])]]
    add_adsorbate(slab, "Al", 1.9, position=(0.5 * a, 1.5 * a))
    slab.info.pop("adsorbate_info")  # ASE's build notes: not a structure property
    final = slab.copy()
    final.positions[-1, :2] += [3 * a, a]
    return slab, final


def test_a_band_through_a_deeper_minimum_is_refused_and_kept():
    with pytest.raises(PropertyFailed, match="intermediate minimum: image 2 lies") as failed:
        compute_neb(*adatom_across_a_vacancy(), emt, NEBSettings(n_images=3))
    band = failed.value.structures["neb-band.extxyz"]
    energies = np.array([image.get_potential_energy() for image in band])
    assert len(band) == 5 and energies[2] < min(energies[0], energies[-1]) - 0.2
    # image 2 holds the adatom in the vacancy: relaxed, it is a minimum far below both ends
    hole = band[2].copy()
    hole.calc = EMT()
    BFGS(hole, logfile=None).run(fmax=0.02)
    assert hole.get_potential_energy() < energies[0] - 0.4


def test_a_band_to_the_top_of_a_hop_has_no_barrier_and_is_kept(al_hop, al_result):
    """From a minimum to the saddle of the Al vacancy hop (end points not relaxed): the band
    rises all the way, so there is no barrier to report; the failure keeps the band."""
    top = al_result.images[al_result.profile.saddle_index].copy()
    with pytest.raises(PropertyFailed, match="no barrier: the highest point") as failed:
        compute_neb(al_result.images[0].copy(), top, emt,
                    NEBSettings(n_images=3, relax_endpoints=False))
    band = failed.value.structures["neb-band.extxyz"]
    energies = np.array([image.get_potential_energy() for image in band])
    assert len(band) == 5 and np.all(np.diff(energies) > 0)
    assert f"{energies[-1] - energies[0]:.3f} eV" in str(failed.value)


def test_not_converged(al_hop):
    with pytest.raises(PropertyFailed, match="did not converge"):
        compute_neb(*al_hop, emt, NEBSettings(max_steps=2, interpolation="linear"))


def test_identical_endpoints(al_hop):
    with pytest.raises(PropertyFailed, match="identical"):
        compute_neb(al_hop[0], al_hop[0].copy(), emt, NEBSettings())


def test_endpoints_that_relax_into_each_other(al_hop):
    # the "final" atom moved only 0.3 Å towards the vacancy: it relaxes back home
    initial = al_hop[0]
    k = initial.info["moved"][0]
    nudged = initial.copy()
    nudged.positions[k] += 0.3 * (al_hop[1].positions[k] - initial.positions[k]) / 2.86
    with pytest.raises(PropertyFailed, match="collapsed"):
        compute_neb(initial, nudged, emt, NEBSettings())


def test_mismatched_endpoints(al_hop):
    with pytest.raises(PropertyFailed, match="same atoms"):
        compute_neb(al_hop[0], al_hop[1][:-1], emt, NEBSettings())


class _Broken(Calculator):
    implemented_properties = ["energy", "forces"]

    def calculate(self, atoms=None, properties=("energy",), system_changes=()):
        raise RuntimeError("SCF did not converge")


def test_calculator_failure(al_hop):
    with pytest.raises(PropertyFailed, match="SCF did not converge"):
        compute_neb(*al_hop, lambda atoms: _Broken(), NEBSettings())
    calls = iter(range(10**6))  # end points fine, the band's images fail

    def flaky(atoms):
        return EMT() if next(calls) < 4 else _Broken()

    with pytest.raises(PropertyFailed, match="NEB failed"):
        compute_neb(*al_hop, flaky, NEBSettings(relax_endpoints=False))

    def refusing(atoms):  # a labeler's own check (e.g. cell too thin) is a failure too
        raise SeiflowError("cell is too thin for this reference")

    with pytest.raises(PropertyFailed, match="too thin"):
        compute_neb(*al_hop, refusing, NEBSettings())


def test_round_trip_and_table(al_result):
    d = json.loads(json.dumps(al_result.to_dict()))
    assert {"barrier_forward_eV", "barrier_backward_eV", "reaction_energy_eV", "path_A",
            "energies_eV", "n_force_calls"} <= set(d)
    back = NEBResult.from_dict(d)
    assert back.to_dict() == d
    assert back.images[2].get_potential_energy() == pytest.approx(al_result.image_energies[2])
    rows = al_result.scalars()
    assert rows["barrier (forward)"] == (al_result.profile.barrier_forward, "eV")
    assert set(rows) == {"barrier (forward)", "barrier (backward)", "reaction energy"}
    assert all(unit == "eV" and np.isfinite(v) for v, unit in rows.values())


def test_overlay_plot(al_result, al_hop, tmp_path):
    three = compute_neb(*al_hop, emt, NEBSettings(n_images=3), progress=True)
    out = neb_overlay_plot({"EMT, 5 images": al_result.to_dict(),
                            "EMT, 3 images": three.to_dict()}, tmp_path / "neb.png",
                           title="Al vacancy hop")
    data = out.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 5000


class _Killed(BaseException):  # as kill -9: nothing catches it
    pass


def test_neb_through_an_engine_runner_equals_the_serial_code_and_a_killed_run_resumes(tmp_path):
    """The reference's side of ``seiflow validate``: the end points are one engine round of two
    relaxations, each band evaluation one round of single points (a task per image), each kept
    on disk. Same band as the serial code; a run killed mid-band, rerun, computes only what it
    had not, and ends with the same result."""
    from seiflow.execution import InProcessSettings
    from seiflow.workflows.fanout import EngineRunner

    slab, final = au_on_al100()
    settings = NEBSettings(n_images=3)
    serial = compute_neb(slab, final, emt, settings)
    rounds, made = [], {"n": 0}

    class Counted(InProcessSettings):
        def map(self, fn, items, *a, **kw):
            rounds.append(len(items))
            return super().map(fn, items, *a, **kw)

    def runner(kill_at=None):
        def factory(atoms):
            made["n"] += 1
            if made["n"] == kill_at:
                raise _Killed
            return EMT()
        return EngineRunner(Counted(progress=False, retries=0), factory, "emt", tmp_path / "c")

    with pytest.raises(_Killed):
        compute_neb(slab, final, emt, settings, runner=runner(kill_at=20))
    kept = len(list((tmp_path / "c").glob("*.json")))
    assert kept == 2 + 3 * (len(rounds) - 2)  # end points, then whole band evaluations
    made["n"], rounds[:] = 0, []
    fanned = compute_neb(slab, final, emt, settings, runner=runner())
    assert rounds[0] == 3 and set(rounds) == {3}  # the end points and the first bands were kept
    assert made["n"] == 3 * len(rounds)  # nothing kept was computed again
    # the same band: EMT in a fresh calculator (a task) sums its neighbours in another order
    # than one kept per image, so the numbers agree to round-off, not bit for bit
    assert fanned.n_steps == serial.n_steps and fanned.n_force_calls == serial.n_force_calls
    assert fanned.image_energies == pytest.approx(serial.image_energies, abs=1e-10)
    assert fanned.profile.barrier_forward == pytest.approx(serial.profile.barrier_forward,
                                                           abs=1e-10)
    for a, b in zip(fanned.images, serial.images):
        assert np.allclose(a.positions, b.positions, atol=1e-9)

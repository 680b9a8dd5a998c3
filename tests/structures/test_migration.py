"""End points of the three Li migration mechanisms in monoclinic Li2CO3 (1x2x2, 96 atoms), checked
geometrically: no calculator covers Li, C and O here."""

import numpy as np
import pytest
from ase.build import bulk as ase_bulk
from ase.geometry import find_mic

from seiflow.core.errors import StructureError
from seiflow.structures.geometry import check_no_overlap, largest_void
from seiflow.structures.library import get_phase
from seiflow.structures.migration import (
    equivalent_sites,
    frenkel_formation,
    interstitial_knockoff,
    vacancy_hop,
)


@pytest.fixture(scope="module")
def li2co3():
    return get_phase("li2co3-c2c").repeat((1, 2, 2))


def _moved(initial, final):
    d = np.linalg.norm(final.positions - initial.positions, axis=1)
    return np.flatnonzero(d > 1e-8), d


def _nearest(atoms, index):
    others = [k for k in range(len(atoms)) if k != index]
    return atoms.get_distances(index, others, mic=True).min()


def _check_endpoints(initial, final, n_atoms, n_moved, mechanism):
    assert len(initial) == len(final) == n_atoms
    assert initial.get_chemical_symbols() == final.get_chemical_symbols()
    assert np.allclose(initial.cell.array, final.cell.array)
    moved, _ = _moved(initial, final)
    assert len(moved) == n_moved
    assert sorted(initial.info["moved"]) == sorted(moved.tolist())
    assert all(initial.get_chemical_symbols()[k] == "Li" for k in moved)
    for atoms in (initial, final):
        assert atoms.info["mechanism"] == mechanism
        assert "Effenberger" in atoms.info["source"]
        check_no_overlap(atoms, threshold=1.2)  # the shortest bond is C-O, 1.27 Å
        for k in moved:  # a moved Li is never squeezed against another atom
            assert _nearest(atoms, k) > 1.5
    return moved


def test_vacancy_hop(li2co3):
    initial, final = vacancy_hop(li2co3)
    (k,) = _check_endpoints(initial, final, 95, 1, "vacancy_hop")
    # the first Li (atom 0) is the vacancy; its nearest Li neighbour fills it
    _, arrived = find_mic(final.positions[k] - li2co3.positions[0], li2co3.cell, True)
    assert arrived < 1e-8
    hop = initial.info["hop_distances_A"][0]
    li = [i for i, s in enumerate(li2co3.get_chemical_symbols()) if s == "Li"]
    assert hop == pytest.approx(li2co3.get_distances(0, li[1:], mic=True).min(), abs=1e-4)
    assert 2.5 < hop < 3.5  # first Li-Li shell of Li2CO3
    # an explicit neighbour: any other Li in the first shell
    far = int(li[1:][np.argsort(li2co3.get_distances(0, li[1:], mic=True))[2]])
    _, final2 = vacancy_hop(li2co3, site=0, neighbour=far)
    assert 2.5 < final2.info["hop_distances_A"][0] < 3.5
    with pytest.raises(StructureError, match="not a Li atom"):
        vacancy_hop(li2co3, neighbour=[i for i, s in enumerate(li2co3.symbols) if s == "C"][0])


def test_interstitial_knockoff(li2co3):
    initial, final = interstitial_knockoff(li2co3)
    moved = _check_endpoints(initial, final, 97, 2, "interstitial_knockoff")
    extra, lattice = initial.info["moved"]
    assert extra == 96 and lattice in moved
    # the interstitial takes the lattice Li's site exactly
    _, d = find_mic(final.positions[extra] - initial.positions[lattice], li2co3.cell, True)
    assert d < 1e-8
    # legs: void -> lattice site, lattice site -> next void, pushed onwards (angle >= 90°)
    leg1 = final.positions[extra] - initial.positions[extra]
    leg2 = final.positions[lattice] - initial.positions[lattice]
    for leg in (leg1, leg2):
        assert 1.5 < np.linalg.norm(leg) < 3.6
    cos = np.dot(-leg1, leg2) / np.linalg.norm(leg1) / np.linalg.norm(leg2)
    assert np.degrees(np.arccos(cos)) >= 90.0
    # the pushed Li lands in an equivalent interstitial site: its surroundings in the final
    # state are those of the interstitial in the initial state (end points equivalent)
    others = lambda atoms, k: np.sort(  # noqa: E731
        atoms.get_distances(k, [j for j in range(len(atoms)) if j != k], mic=True))[:20]
    assert others(final, lattice) == pytest.approx(others(initial, extra), abs=1e-3)


def test_frenkel_formation(li2co3):
    initial, final = frenkel_formation(li2co3)
    (k,) = _check_endpoints(initial, final, 96, 1, "frenkel_formation")
    assert np.allclose(initial.positions, li2co3.positions)  # the perfect crystal
    hop = initial.info["hop_distances_A"][0]
    assert 3.0 <= hop < 3.5
    # the Li sits in the largest void (open channel): nearest atom at the void radius
    _, radius = largest_void(li2co3)
    assert _nearest(final, k) == pytest.approx(radius, abs=0.01)
    # no void lies between 3.0 Å and the chosen hop from any Li site
    voids = equivalent_sites(li2co3, largest_void(li2co3)[0])
    li = [i for i, s in enumerate(li2co3.symbols) if s == "Li"]
    d = find_mic((voids[:, None, :] - li2co3.positions[li][None]).reshape(-1, 3),
                 li2co3.cell, True)[1]
    assert d[d >= 3.0].min() == pytest.approx(hop, abs=1e-3)
    # the closest voids touch a Li site (~2 Å): allowed only when asked for
    _, close = frenkel_formation(li2co3, min_separation=1.0)
    assert close.info["hop_distances_A"][0] == pytest.approx(radius, abs=0.01)


def test_voids_are_symmetry_equivalent(li2co3):
    centre, radius = largest_void(li2co3)
    voids = equivalent_sites(li2co3, centre)
    assert len(voids) == 32  # 8 general positions of C2/c per conventional cell, 4 cells
    for v in voids:  # every image is as empty as the largest void
        _, d = find_mic(li2co3.positions - v, li2co3.cell, True)
        assert d.min() == pytest.approx(radius, abs=1e-3)
    _, apart = find_mic((voids[:, None] - voids[None]).reshape(-1, 3), li2co3.cell, True)
    assert np.sort(apart)[len(voids)] > 1.0  # distinct sites


@pytest.mark.parametrize("builder", [vacancy_hop, interstitial_knockoff, frenkel_formation])
def test_bad_input(li2co3, builder):
    with pytest.raises(StructureError, match="no Na"):
        builder(li2co3, "Na")
    small = get_phase("li2co3-c2c")  # 24 atoms, 4.97 Å wide: a ~2-3 Å hop meets its image
    with pytest.raises(StructureError, match="half the cell width"):
        builder(small)
    slab = li2co3.copy()
    slab.pbc = (True, True, False)
    with pytest.raises(StructureError, match="periodic"):
        builder(slab)


def test_works_for_other_species():
    al = ase_bulk("Al", "fcc", a=4.05, cubic=True).repeat(2)
    initial, final = vacancy_hop(al, "Al")
    assert len(initial) == 31
    assert initial.info["hop_distances_A"][0] == pytest.approx(4.05 / np.sqrt(2), abs=1e-4)


def test_path_images_lie_between_the_end_points_and_build_as_structures(tmp_path):
    from seiflow.core.config import parse_config
    from seiflow.structures.migration import PathSpec
    from seiflow.workflows.build import BuildConfig, run_build

    spec = PathSpec(phase="lif", mechanism="vacancy", min_width=8.0, images=3)
    initial, final = spec.endpoints()
    moved = int(initial.info["moved"][0])
    start, end = initial.positions[moved], final.positions[moved]
    for i in (1, 2, 3):  # the hopping ion advances along the hop, the others stay near
        image = spec.image(i)
        along = np.dot(image.positions[moved] - start, end - start) / np.dot(end - start,
                                                                              end - start)
        assert along == pytest.approx(i / 4, abs=0.1)
        others = np.delete(np.arange(len(image)), moved)
        assert np.abs(image.positions[others] - initial.positions[others]).max() < 0.3
    cfg = parse_config({"formats": ["extxyz"], "snapshots": False, "min_width_A": 8.0,
                        "paths": [{"phase": "lif", "mechanism": "vacancy", "images": 2}]},
                       BuildConfig)
    report = run_build(cfg, out_dir=tmp_path, progress=False)
    assert [r["name"] for r in report.built] == ["lif-vacancy-Li-image1", "lif-vacancy-Li-image2"]
    assert all(min(r["widths_A"]) >= 8.0 and r["natoms"] == 63 for r in report.built)

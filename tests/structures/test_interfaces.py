import numpy as np
import pytest
from ase.neighborlist import neighbor_list

from seiflow.core.errors import InterfaceMatchError
from seiflow.structures.interfaces import InterfaceSpec, build_interface

LI_ON_LI2CO3 = dict(film="li-bcc", film_miller=(1, 1, 1), substrate="li2co3-c2c",
                    substrate_miller=(0, 0, 1))


@pytest.mark.parametrize("max_strain", [0.03, 0.05])
def test_li111_on_li2co3_001_within_strain(max_strain):
    res = build_interface(InterfaceSpec(**LI_ON_LI2CO3, max_strain=max_strain, max_area=150))
    assert 0 <= res.strain <= max_strain
    assert 0 < res.area <= 150
    atoms = res.atoms
    a, b = atoms.cell[0], atoms.cell[1]
    assert np.linalg.norm(np.cross(a, b)) == pytest.approx(res.area, rel=1e-6)
    film = atoms.arrays["is_film"]
    sym = np.array(atoms.get_chemical_symbols())
    assert set(sym[film]) == {"Li"} and {"C", "O", "Li"} == set(sym[~film])
    assert atoms.info["strain"] == pytest.approx(res.strain, abs=1e-6)
    # carbonate groups are cut whole
    i, j = neighbor_list("ij", atoms, 1.45)
    for c in np.flatnonzero(sym == "C"):
        assert (sym[j[i == c]] == "O").sum() == 3
    assert neighbor_list("d", atoms, 1.0).size == 0


def test_film_lattice_is_strained_by_the_reported_amount():
    res = build_interface(InterfaceSpec(**LI_ON_LI2CO3, max_strain=0.05, max_area=150))
    # bcc Li(111) in-plane nearest distance a*sqrt(2) = 4.964 Å; the film takes the substrate's
    # lattice, so the shortest in-plane vector differs from it by at most the strain
    a_film = 3.51004 * np.sqrt(2)
    shortest = min(np.linalg.norm(res.atoms.cell[0]), np.linalg.norm(res.atoms.cell[1]))
    n = round(shortest / a_film)
    assert abs(shortest / (n * a_film) - 1) <= res.strain + 1e-3


def test_no_match_is_a_clear_error():
    with pytest.raises(InterfaceMatchError, match="no lattice match"):
        build_interface(InterfaceSpec(**LI_ON_LI2CO3, max_strain=0.001, max_area=30))


def test_inplane_repeat_reaches_width():
    from seiflow.structures.geometry import perpendicular_widths

    base = build_interface(InterfaceSpec(**LI_ON_LI2CO3))
    big = build_interface(InterfaceSpec(**LI_ON_LI2CO3, min_inplane_width=12.0))
    w = perpendicular_widths(big.atoms.cell)
    assert w[0] >= 12.0 and w[1] >= 12.0
    ratio = len(big.atoms) / len(base.atoms)
    assert ratio == int(ratio) and big.area == pytest.approx(base.area * ratio)
    assert big.strain == base.strain


def test_min_width_grows_the_stack_and_the_plane():
    """min_width_A in all three directions: in-plane by repeats, along the normal by more
    layers of both slabs (a stack of one layer each is ~10.5 Å thick)."""
    from seiflow.structures.geometry import perpendicular_widths

    thin = dict(LI_ON_LI2CO3, film_layers=1, substrate_layers=1)
    base = build_interface(InterfaceSpec(**thin))
    assert perpendicular_widths(base.atoms.cell)[2] < 12.0
    big = build_interface(InterfaceSpec(**thin, min_width_A=12.0))
    assert perpendicular_widths(big.atoms.cell).min() >= 12.0
    assert big.atoms.info["film_layers"] > 1 and big.atoms.info["substrate_layers"] > 1
    assert big.strain == base.strain

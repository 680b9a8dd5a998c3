import numpy as np
import pytest
from ase import Atoms
from ase.build import bulk

from seiflow.core.errors import StructureError
from seiflow.structures.geometry import (
    check_no_overlap,
    largest_void,
    make_supercell,
    perpendicular_widths,
    supercell_repeats,
)
from seiflow.structures.library import get_phase


def test_perpendicular_widths_cubic_and_hexagonal():
    assert perpendicular_widths(np.eye(3) * 4.0) == pytest.approx([4, 4, 4])
    hexa = bulk("Mg", "hcp", a=3.0, c=5.0).cell
    w = perpendicular_widths(hexa)
    assert w[0] == pytest.approx(3.0 * np.sqrt(3) / 2) and w[2] == pytest.approx(5.0)


@pytest.mark.parametrize("min_width", [8.0, 12.0, 15.0])
def test_supercell_is_the_smallest_reaching_min_width(min_width):
    atoms = get_phase("li2co3-c2c")
    reps = np.array(supercell_repeats(atoms.cell, len(atoms), min_width=min_width))
    widths = perpendicular_widths(atoms.cell)
    assert np.all(widths * reps >= min_width - 1e-9)
    assert np.all(widths * (reps - 1) < min_width)  # one fewer would be too thin
    sc = make_supercell(atoms, min_width=min_width)
    assert perpendicular_widths(sc.cell).min() >= min_width - 1e-9
    assert len(sc) == len(atoms) * reps.prod() and sc.info["source"] == atoms.info["source"]


def test_supercell_min_atoms():
    atoms = get_phase("lif")  # 8 atoms
    sc = make_supercell(atoms, min_atoms=100)
    assert len(sc) >= 100 and len(sc) == 8 * np.prod(sc.info["supercell"])


def test_overlap_is_reported_with_atoms_and_distance():
    atoms = Atoms("LiF", positions=[[0, 0, 0], [0.3, 0, 0]], cell=np.eye(3) * 5, pbc=True)
    with pytest.raises(StructureError) as e:
        check_no_overlap(atoms)
    assert "0.300 Å" in str(e.value) and "Li" in str(e.value)
    atoms.positions[1] = [2.0, 0, 0]
    check_no_overlap(atoms)


def test_largest_void_of_fcc_is_the_octahedral_site():
    a = 3.6
    atoms = bulk("Cu", "fcc", a=a, cubic=True)
    centre, radius = largest_void(atoms)
    assert radius == pytest.approx(a / 2, abs=1e-3)  # octahedral hole: a/2 from 6 atoms
    frac = atoms.cell.scaled_positions(centre[None])[0]
    # octahedral sites: (1/2,1/2,1/2) and edge centres, i.e. exactly one or three halves
    halves = np.isclose(frac % 1.0, 0.5, atol=1e-3).sum()
    zeros = (np.isclose(frac % 1.0, 0.0, atol=1e-3) | np.isclose(frac % 1.0, 1.0, atol=1e-3)).sum()
    assert halves + zeros == 3 and halves in (1, 3)


def test_check_width_names_the_widths_and_the_fix_in_one_line():
    from seiflow.structures.geometry import check_width

    atoms = bulk("Cu", "fcc", a=3.6, cubic=True)  # 3.6 Å wide
    check_width(atoms, None, "cu", "hint")  # nothing asked, nothing checked
    check_width(atoms * (3, 3, 3), 10.0, "cu", "hint")  # 10.8 Å
    with pytest.raises(StructureError, match=r"cu: perpendicular widths 3.60, 3.60, 7.20 Å, "
                       r"below min_width_A 5.0 Å; grow it$"):
        check_width(atoms * (1, 1, 2), 5.0, "cu", "grow it")

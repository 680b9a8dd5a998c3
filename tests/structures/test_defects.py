import numpy as np
import pytest

from seiflow.core.errors import StructureError, UnknownNameError
from seiflow.structures.defects import DefectSpec, make_defect, make_frenkel_pair
from seiflow.structures.geometry import check_no_overlap, make_supercell, perpendicular_widths
from seiflow.structures.library import get_phase


def _count(atoms, sym):
    return atoms.get_chemical_symbols().count(sym)


@pytest.fixture(scope="module")
def bulk():
    return make_supercell(get_phase("li2co3-c2c"), min_width=12.0)


@pytest.mark.parametrize("kind,dli", [("vacancy", -1), ("interstitial", +1), ("frenkel", 0)])
def test_defect_counts_and_width(bulk, kind, dli):
    atoms = make_defect(DefectSpec(phase="li2co3-c2c", kind=kind, min_width=12.0))
    assert _count(atoms, "Li") == _count(bulk, "Li") + dli
    for el in ("C", "O"):
        assert _count(atoms, el) == _count(bulk, el)
    assert perpendicular_widths(atoms.cell).min() >= 12.0
    assert atoms.info["defect"] == kind and "li2co3-c2c" in atoms.info["source"]
    check_no_overlap(atoms, threshold=1.0)


def test_interstitial_sits_in_open_space(bulk):
    atoms = make_defect(DefectSpec(phase="li2co3-c2c", kind="interstitial"))
    d = atoms.get_distances(len(atoms) - 1, range(len(atoms) - 1), mic=True)
    assert d.min() == pytest.approx(atoms.info["void_radius"], abs=1e-4)
    assert d.min() > 1.6  # a real void, not squeezed between atoms


def test_frenkel_pair_separation(bulk):
    atoms = make_frenkel_pair(bulk, "Li", min_separation=4.0)
    assert atoms.info["frenkel_separation"] >= 4.0
    # exactly one Li moved
    moved = np.linalg.norm(atoms.positions - bulk.positions, axis=1) > 1e-6
    assert moved.sum() == 1 and atoms.get_chemical_symbols()[int(np.argmax(moved))] == "Li"
    with pytest.raises(StructureError, match="supercell"):
        make_frenkel_pair(bulk, "Li", min_separation=50.0)


def test_min_atoms_supercell():
    atoms = make_defect(DefectSpec(phase="lif", kind="vacancy", min_width=None, min_atoms=200))
    assert len(atoms) >= 199


def test_bad_defect_input():
    with pytest.raises(UnknownNameError):
        DefectSpec(phase="lif", kind="vacancy", species="Lx")
    with pytest.raises(UnknownNameError, match="lif"):
        make_defect(DefectSpec(phase="lif2", kind="vacancy"))
    with pytest.raises(StructureError, match="no Na"):
        make_defect(DefectSpec(phase="lif", kind="vacancy", species="Na", min_width=4))

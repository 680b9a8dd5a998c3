"""The structure gate of the commands (seiflow.cli.inputs): structures that would make a
neighbour list hang or a C extension crash are refused first, in one line."""

import time

import numpy as np
import pytest
from ase import Atoms
from ase.build import bulk, fcc111

from seiflow.cli.inputs import beside_store, check_frame, existing_store, is_url
from seiflow.core.errors import SeiflowError, StructureError


def cu():
    return bulk("Cu", "fcc", a=3.61, cubic=True)


@pytest.mark.parametrize("make, message", [
    (lambda a: a.positions.__setitem__((1, 2), np.nan), "not finite"),
    (lambda a: a.set_cell([1e-5, 3.61, 3.61], scale_atoms=False), "1e-05 Å wide along a"),
    (lambda a: a.set_cell([[3.61, 0, 0], [1e6, 3.61, 0], [0, 0, 3.61]]), "longer than 10000"),
    (lambda a: a.set_cell(a.cell * 1e12, scale_atoms=False), "longer than 10000"),
    (lambda a: a.positions.__setitem__((0, 0), 1e300), "beyond"),
    (lambda a: a.set_cell([[3.61, 0, 0], [7.22, 0, 0], [0, 0, 3.61]]), "zero volume"),
    (lambda a: a.set_cell([[3.61, 0, 0], [3.61, 1e-3, 0], [0, 0, 3.61]]), "0.001 Å wide"),
    (lambda a: a.set_cell([0, 3.61, 3.61], scale_atoms=False), "cell vector is zero"),
    (lambda a: a.numbers.__setitem__(0, 0), "not a chemical element"),
    (lambda a: a.positions.__setitem__(1, a.positions[0] + 0.1), "apart"),
])
def test_bad_structures_are_refused_quickly(make, message):
    atoms = cu()
    make(atoms)
    start = time.perf_counter()
    with pytest.raises(StructureError) as e:
        check_frame(atoms, "x.extxyz:frame 0")
    assert message in str(e.value) and str(e.value).startswith("x.extxyz:frame 0: ")
    assert time.perf_counter() - start < 2.0


def test_good_structures_pass():
    check_frame(cu(), "cu")
    slab = fcc111("Cu", (2, 2, 3), vacuum=8.0)  # periodic in a and b only
    slab.pbc = (True, True, False)
    check_frame(slab, "slab")
    check_frame(Atoms("CO", positions=[[0, 0, 0], [0, 0, 1.13]]), "molecule")


def test_store_locations(tmp_path):
    assert is_url("postgresql://u@h/db") and not is_url("labels.db")
    assert existing_store("postgresql://u@h/db") == "postgresql://u@h/db"
    with pytest.raises(SeiflowError, match="not found"):
        existing_store(str(tmp_path / "none.db"))
    with pytest.raises(SeiflowError, match="is a directory"):
        existing_store(str(tmp_path))
    assert str(beside_store("runs/labels.db", ".stats.png")) == "runs/labels.stats.png"
    assert str(beside_store("postgresql://u@h:5432/sei", ".stats.png")) == "sei.stats.png"

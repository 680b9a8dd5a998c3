"""The validation gate (seiflow.data.checks): a good frame passes, each bad one raises naming it."""

from __future__ import annotations

import time

import numpy as np
import pytest
from ase import Atoms
from ase.build import bulk, fcc111, molecule
from ase.calculators.singlepoint import SinglePointCalculator

from seiflow.core.errors import StructureError
from seiflow.data.checks import check_labelled, check_structure, import_warnings
from seiflow.data.labels import Label

WHERE = "cells.extxyz:frame 3"


def good() -> Atoms:
    """Labelled 8-atom rock-salt LiF (eV, eV/Å, eV/Å³)."""
    atoms = bulk("LiF", "rocksalt", a=4.03, cubic=True)
    forces = np.random.default_rng(0).normal(0.0, 0.5, (len(atoms), 3))
    return Label(-38.2, forces, np.full(6, 0.001)).attach(atoms)


def raises(atoms: Atoms, match: str, check=check_labelled) -> None:
    """``check`` raises StructureError whose one-line message starts with WHERE."""
    with pytest.raises(StructureError, match=match) as info:
        check(atoms, WHERE)
    message = str(info.value)
    assert message.startswith(f"{WHERE}: ") and "\n" not in message


def test_good_frames_pass():
    check_labelled(good(), WHERE)
    check_structure(molecule("H2O"), WHERE)  # non-periodic, no cell
    slab = fcc111("Cu", size=(2, 2, 3))  # periodic in a and b only, c vector zero
    slab.cell[2] = 0.0
    slab.pbc = (True, True, False)
    check_structure(slab, WHERE)
    unlabelled_forces = Label(-38.2).attach(bulk("LiF", "rocksalt", a=4.03))
    check_labelled(unlabelled_forces, WHERE)  # forces and stress are optional


def test_non_finite_positions_and_cell():
    atoms = good()
    atoms.positions[5, 1] = np.nan
    raises(atoms, "position of atom 5 is not finite")
    atoms = good()
    atoms.cell[0, 0] = np.inf
    raises(atoms, "cell is not finite")


def test_zero_cell_vector_on_a_periodic_axis():
    atoms = good()
    atoms.cell[2] = 0.0
    raises(atoms, r"periodic along c but that cell vector is zero", check_structure)
    atoms.pbc = (True, True, False)  # the same cell is fine when c is not periodic
    check_structure(atoms, WHERE)


def test_flat_periodic_cell_has_zero_volume():
    atoms = good()
    atoms.set_cell([[4.03, 0, 0], [0, 4.03, 0], [4.03, 4.03, 0]])  # c = a + b: coplanar
    raises(atoms, "zero volume", check_structure)
    atoms = good()
    atoms.set_cell([[4.03, 0, 0], [8.06, 0, 0], [0, 0, 4.03]])
    atoms.pbc = (True, True, False)  # a and b parallel: no area
    raises(atoms, "zero area", check_structure)


def test_unknown_element():
    atoms = good()
    atoms.numbers[2] = 0  # what ASE gives a dummy 'X'
    raises(atoms, r"atom 2 is not a chemical element \('X', Z=0")
    raises(Atoms("HX", positions=[[0, 0, 0], [0, 0, 2]]), "atom 1", check_structure)


def test_overlapping_atoms_directly_and_through_the_boundary():
    atoms = good()
    atoms.positions[1] = atoms.positions[0] + [0.3, 0.0, 0.0]
    raises(atoms, r"atoms 0 \(Li\) and 1 \(F\) are 0\.300 Å apart")
    # 0.2 Å apart only through the periodic boundary
    pair = Atoms("Li2", positions=[[0.1, 2, 2], [5.9, 2, 2]], cell=[6, 6, 6], pbc=True)
    raises(pair, r"0\.200 Å apart", check_structure)
    pair.pbc = False  # 5.8 Å apart without images
    check_structure(pair, WHERE)
    # 0.49 Å fails, 0.51 Å passes
    close = Atoms("H2", positions=[[0, 0, 0], [0, 0, 0.49]])
    raises(close, r"0\.490 Å apart", check_structure)
    close.positions[1, 2] = 0.51
    check_structure(close, WHERE)


def test_ten_thousand_atoms_are_checked_quickly():
    atoms = bulk("Cu", "fcc", a=3.61, cubic=True).repeat((14, 14, 13))
    assert len(atoms) == 10192
    start = time.perf_counter()
    check_structure(atoms, WHERE)
    assert time.perf_counter() - start < 5.0
    atoms.positions[9000] = atoms.positions[17] + [0.2, 0.2, 0.0]
    raises(atoms, r"atoms 17 \(Cu\) and 9000 \(Cu\) are 0\.283 Å apart", check_structure)


def with_results(**results) -> Atoms:
    atoms = bulk("LiF", "rocksalt", a=4.03, cubic=True)
    atoms.calc = SinglePointCalculator(atoms, **results)
    return atoms


def test_label_rules():
    forces = np.zeros((8, 3))
    raises(with_results(energy=float("nan"), forces=forces), r"energy is not finite \(nan\)")
    raises(with_results(forces=forces), "no energy label")
    raises(bulk("LiF", "rocksalt", a=4.03), "no energy label")
    raises(with_results(energy=-1.0, forces=np.zeros((7, 3))),
           r"forces have shape \(7, 3\), expected \(8, 3\)")
    bad = forces.copy()
    bad[4, 2] = np.inf
    raises(with_results(energy=-1.0, forces=bad), "force on atom 4 is not finite")
    raises(with_results(energy=-1.0, stress=[0, 0, np.nan, 0, 0, 0]), "stress is not finite")
    raises(with_results(energy=-1.0, stress=[0, 0, 0]), r"stress has shape \(3,\)")
    check_labelled(with_results(energy=-1.0, stress=np.eye(3) * 0.01), WHERE)  # 3×3 is fine


def test_import_warnings_name_what_the_store_drops():
    frames = [good() for _ in range(4)]
    frames[0].info.update(source="file x.extxyz", group="bulk", split="test")  # all kept
    assert import_warnings(frames, "x.extxyz") is None
    frames[0].info["split"] = "validation"  # not a split the store knows
    assert "1 frames have a 'split'" in import_warnings(frames, "x.extxyz")
    del frames[0].info["split"]
    for atoms in frames[:3]:
        atoms.info["dipole_ref"] = np.ones(3)
    frames[0].new_array("charges_ref", np.zeros(8))
    frames[1].calc.results["dipole"] = np.ones(3)
    frames[3].calc.results.pop("stress")
    frames[2].calc.results.pop("forces")
    line = import_warnings(frames, "x.extxyz")
    assert line == ("x.extxyz: 1 frames have a 'charges_ref', 1 a 'dipole', 3 a 'dipole_ref' "
                    "the store does not keep; forces missing in 1 of 4 frames; "
                    "stress missing in 1 of 4 periodic frames")
    frames = [Label(-1.0, np.zeros((3, 3))).attach(molecule("H2O"))]
    assert import_warnings(frames, "m.xyz") is None  # no stress expected without a cell

"""The active set: MaxVol over neighbourhood rows, the grade γ, unspanned directions."""

import numpy as np
import pytest
from ase.build import bulk

from seiflow.potentials.active import ActiveSet
from seiflow.potentials.mtp.levels import mtp_basis
from seiflow.potentials.mtp.model import MTPModel, new_mtp_data


def test_full_rank_rows_interpolate_and_far_rows_extrapolate():
    rows = np.random.default_rng(0).normal(size=(200, 6))
    active = ActiveSet.from_matrix(rows)
    assert active.complete and active.missing == 0
    assert active.grades(rows).max() <= 1 + 1e-9
    # the active neighbourhoods themselves, scaled 10x, are graded 10
    assert active.grades(10 * active.rows * active.scale) == pytest.approx(10.0)


def test_directions_no_row_visits_are_counted_and_graded_as_extrapolation():
    rows = np.random.default_rng(1).normal(size=(200, 6))
    rows[:, 5] = rows[:, 0] + rows[:, 1]  # an exact identity: one direction never visited
    active = ActiveSet.from_matrix(rows)
    assert not active.complete and active.missing == 1
    assert active.grades(rows).max() <= 1 + 1e-6  # rows obeying the identity interpolate
    off = rows[:1].copy()
    off[0, 5] += 1.0  # a row that breaks it moves along the unvisited direction
    assert active.grades(off)[0] > 1e3
    assert ActiveSet.from_matrix(rows[:4]).missing == 2  # fewer rows than columns


def test_level16_mtp_basis_has_one_identity_that_leaves_the_grade_alone():
    """From level 16 on some MTP basis functions obey exact identities (docs/potentials.md):
    one unspanned direction at level 16 for one species, however varied the cells."""
    data = new_mtp_data(mtp_basis(16), ("Li",), 5.0, 2.0, 8, np.random.default_rng(0))
    model = MTPModel(data=data, species=("Li",), level=16)
    rng = np.random.default_rng(2)
    frames = []
    for k in range(12):
        atoms = bulk("Li", "bcc", 3.44, cubic=True).repeat(3)
        atoms.set_cell(atoms.cell @ (np.eye(3) + rng.normal(0, 0.04, (3, 3))), scale_atoms=True)
        atoms.rattle(0.15, seed=k)
        frames.append(atoms)
    rows = np.vstack([model.rows(a) for a in frames])
    active = ActiveSet.from_matrix(rows[:-54])
    assert active.missing == 1
    assert active.grades(rows[:-54]).max() == pytest.approx(1.0, abs=1e-3)
    assert active.grades(rows[-54:]).max() < 3  # an unseen cell of the same kind


def test_select_add_meets_maxvols_stopping_rule_over_every_candidate_row():
    """The selection passes over rows graded above 1 end where MaxVol over all rows ends: no
    candidate row is graded above 1 + threshold against the grown set, whose volume is at
    least as large as the active set's and close to full MaxVol's."""
    from motep.grade.maxvol import _maxvol

    from seiflow.potentials.active import _MAXVOL_THRESHOLD, grow_active_rows, select_add

    rng = np.random.default_rng(3)
    active = ActiveSet.from_matrix(rng.normal(size=(300, 8)))
    # 40 frames of 50 rows: most interpolate, a few frames hold wider rows
    blocks = [rng.normal(size=(50, 8)) * (2.5 if k % 9 == 0 else 0.6) for k in range(40)]
    rows = np.vstack(blocks) / active.scale
    grades = np.max(np.abs(rows @ active.inverse), axis=1)
    basis, picked = grow_active_rows(active, rows, grades)
    assert np.max(np.abs(rows @ np.linalg.inv(basis))) <= 1 + _MAXVOL_THRESHOLD + 1e-9
    full = _maxvol(np.vstack([active.rows, rows]), np.arange(8), threshold=_MAXVOL_THRESHOLD)
    logvol = [np.linalg.slogdet(b)[1] for b in (active.rows, basis, full.submatrix)]
    assert logvol[1] > logvol[0] and logvol[1] == pytest.approx(logvol[2], abs=0.5)
    chosen = select_add(active, blocks)
    owners = {int(i) // 50 for i in picked if i >= 0}
    assert set(chosen) == owners and all(k % 9 == 0 for k in chosen)
    assert select_add(active, blocks, max_frames=2) == chosen[:2]
    assert select_add(active, [b * 0.01 for b in blocks]) == []  # all interpolations

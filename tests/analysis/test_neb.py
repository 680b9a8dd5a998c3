"""NEB profile analysis on synthetic bands whose barrier is known exactly."""

import json

import numpy as np
import pytest

from seiflow.analysis.neb import NEBProfile, neb_profile
from seiflow.core.errors import SeiflowError

H, DE, LENGTH = 0.8, 0.3, 3.0  # eV forward barrier, eV reaction energy, Å path
CELL = np.diag([6.0, 6.0, 6.0])
DIRECTION = np.array([1.0, 2.0, 2.0]) / 3.0
OFFSET = -1234.5  # eV: an absolute energy scale that must drop out


def _energy(x):
    """Asymmetric cosine barrier on x in [0, 1]: rises H to its top at x = 1/2 with zero slope,
    then falls to DE. Smooth (C1) everywhere."""
    x = np.asarray(x, dtype=float)
    return np.where(x <= 0.5, H * np.sin(np.pi * x) ** 2,
                    DE + (H - DE) * np.sin(np.pi * x) ** 2)


def _slope(x):
    """dE/dx."""
    x = np.asarray(x, dtype=float)
    amp = np.where(x <= 0.5, H, H - DE)
    return amp * np.pi * np.sin(2 * np.pi * x)


def _band(xs, wrap=False):
    """Two atoms: atom 0 moves along DIRECTION over LENGTH Å, atom 1 stays. Returns energies,
    positions, forces (forces = -dE/ds along the path on the moving atom)."""
    start = np.array([[5.5, 3.0, 3.0], [1.0, 1.0, 1.0]])
    pos = np.array([start + np.outer([1.0, 0.0], DIRECTION * LENGTH * x) for x in xs])
    if wrap:  # positions folded into the cell, as a calculator may return them
        pos = pos % 6.0
    forces = np.zeros_like(pos)
    forces[:, 0, :] = -(_slope(xs) / LENGTH)[:, None] * DIRECTION
    return _energy(xs) + OFFSET, pos, forces


def test_known_asymmetric_barrier_with_forces():
    xs = np.linspace(0, 1, 9)
    e, pos, f = _band(xs)
    p = neb_profile(e, pos, CELL, True, forces=f)
    assert p.barrier_forward == pytest.approx(H, abs=1e-12)
    assert p.barrier_backward == pytest.approx(H - DE, abs=1e-12)
    assert p.reaction_energy == pytest.approx(DE, abs=1e-12)
    assert p.saddle_index == 4
    assert p.energy_initial == pytest.approx(OFFSET)
    assert p.energies[0] == 0.0
    assert p.path_length == pytest.approx(LENGTH, rel=1e-12)
    assert np.allclose(np.diff(p.path), LENGTH / 8)
    # the force-based cubic (ASE's fit) follows the true curve closely everywhere
    true = _energy(p.fit_path / LENGTH)
    assert np.abs(p.fit_energies - true).max() < 2e-3
    assert p.barrier_fit == pytest.approx(H, abs=2e-3)


def test_fit_finds_a_maximum_between_images():
    # no image on the top (x = 0.5): the images underestimate, the force-based fit does not
    xs = np.linspace(0, 1, 6)
    e, pos, f = _band(xs)
    p = neb_profile(e, pos, CELL, True, forces=f)
    assert p.saddle_index == 3  # x = 0.6, just past the top
    assert p.barrier_forward == pytest.approx(_energy(0.6), abs=1e-12)
    assert p.barrier_fit > p.barrier_forward + 0.04
    assert p.barrier_fit == pytest.approx(H, abs=0.01)


def test_without_forces_spline_through_images():
    xs = np.linspace(0, 1, 9)
    e, pos, _ = _band(xs)
    p = neb_profile(e, pos, CELL, True)
    assert p.barrier_forward == pytest.approx(H)
    assert p.reaction_energy == pytest.approx(DE)
    assert np.interp(p.path, p.fit_path, p.fit_energies) == pytest.approx(p.energies, abs=1e-9)
    assert p.barrier_fit == pytest.approx(H, abs=0.02)


def test_minimum_image_path_and_reversal():
    xs = np.linspace(0, 1, 7)
    e, pos, f = _band(xs)
    _, wrapped, _ = _band(xs, wrap=True)
    assert (wrapped != pos).any()  # the moving atom does cross the cell boundary
    a = neb_profile(e, pos, CELL, True, forces=f)
    b = neb_profile(e, wrapped, CELL, True, forces=f)
    assert b.path == pytest.approx(a.path)
    assert b.fit_energies == pytest.approx(a.fit_energies)
    # without the cell the folded band jumps across the box: a longer, wrong path
    assert neb_profile(e, wrapped).path_length > a.path_length + 1.0
    back = neb_profile(e[::-1], pos[::-1], CELL, True, forces=f[::-1])
    assert back.barrier_forward == pytest.approx(a.barrier_backward)
    assert back.barrier_backward == pytest.approx(a.barrier_forward)
    assert back.reaction_energy == pytest.approx(-a.reaction_energy)


def test_round_trip_json():
    e, pos, f = _band(np.linspace(0, 1, 5))
    p = neb_profile(e, pos, CELL, True, forces=f)
    d = json.loads(json.dumps(p.to_dict()))
    assert {"path_A", "energies_eV", "barrier_forward_eV", "reaction_energy_eV"} <= set(d)
    q = NEBProfile.from_dict(d)
    assert q.to_dict() == p.to_dict()
    assert isinstance(q.saddle_index, int) and isinstance(q.path, np.ndarray)


def test_bad_bands():
    e, pos, f = _band(np.linspace(0, 1, 5))
    with pytest.raises(SeiflowError, match="images"):
        neb_profile(e[:3], pos, CELL)
    with pytest.raises(SeiflowError, match="identical"):
        neb_profile(e, np.concatenate([pos[:1], pos[:1], pos[2:]]), CELL)
    with pytest.raises(SeiflowError, match="forces"):
        neb_profile(e, pos, CELL, forces=f[:, :1])
    with pytest.raises(SeiflowError, match="finite"):
        neb_profile(np.where(np.arange(5) == 2, np.nan, e), pos, CELL)

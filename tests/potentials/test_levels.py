"""MTP basis sets generated from the level definition, checked against motep's independent
enumeration (precomputed contraction trees, levels 2-24) and for rotation invariance."""

import numpy as np
import pytest
from motep.potentials.mtp.jax.moment import MomentBasis
from scipy.spatial.transform import Rotation

from seiflow.potentials.mtp.levels import mtp_basis


def _tree_value(node, radial, units):
    """Value of a motep contraction tree (tensordot of moment tensors)."""
    if not isinstance(node[0], (tuple, list)):
        mu, nu, _ = node
        tensor = radial[mu]  # (neighbours,), then one unit-vector factor per index
        for _ in range(nu):
            shape = (len(units),) + (1,) * (tensor.ndim - 1) + (3,)
            tensor = tensor[..., None] * units.reshape(shape)
        return tensor.sum(axis=0)
    left, right, _, axes = node
    return np.tensordot(_tree_value(left, radial, units), _tree_value(right, radial, units),
                        axes=[list(axes[0]), list(axes[1])])


def _flat_values(basis, radial, units):
    """Value of every scalar basis function from MLIP's flat arrays."""
    vals = np.zeros(basis.alpha_moments_count)
    for k, (mu, a, b, c) in enumerate(basis.alpha_index_basic):
        vals[k] = np.sum(radial[mu] * units[:, 0] ** a * units[:, 1] ** b * units[:, 2] ** c)
    for i, j, mult, k in basis.alpha_index_times:
        vals[k] += mult * vals[i] * vals[j]
    return vals[basis.alpha_moment_mapping]


def _neighbourhood(seed, n=7, mus=6):
    rng = np.random.default_rng(seed)
    r = rng.normal(size=(n, 3))
    units = r / np.linalg.norm(r, axis=1)[:, None]
    radial = rng.uniform(0.3, 1.2, (mus, n))
    return radial, units


@pytest.mark.parametrize("level", range(2, 22, 2))
def test_same_functions_as_motep_enumeration(level):
    ours = mtp_basis(level)
    trees = MomentBasis(level).read_moments()
    assert ours.alpha_scalar_moments == len(trees)
    radial, units = _neighbourhood(level)
    mine = np.sort(_flat_values(ours, radial, units))
    theirs = np.sort([float(_tree_value(t, radial, units)) for t in trees])
    np.testing.assert_allclose(mine, theirs, rtol=1e-9)


def test_levels_22_24_counts_match_motep():
    for level in (22, 24):
        assert mtp_basis(level).alpha_scalar_moments == len(MomentBasis(level).read_moments())


@pytest.mark.parametrize("level", [10, 16])
def test_basis_is_rotation_invariant(level):
    basis = mtp_basis(level)
    radial, units = _neighbourhood(1)
    rot = Rotation.random(random_state=3).as_matrix()
    np.testing.assert_allclose(_flat_values(basis, radial, units @ rot.T),
                               _flat_values(basis, radial, units), rtol=1e-9, atol=1e-12)


def test_levels_grow_and_bad_level():
    counts = [mtp_basis(level).alpha_scalar_moments for level in range(2, 28, 2)]
    assert counts == sorted(counts) and len(set(counts)) == len(counts)
    assert mtp_basis(16).alpha_scalar_moments == 92  # "level 16 (92 descriptors)", Li et al.
    with pytest.raises(Exception, match="even number"):
        mtp_basis(7)

"""Seeding the process-wide generators, or setting torch's default dtype, for a library leaves
the caller's state untouched, also when the body raises."""

import random

import numpy as np
import pytest
import torch

from seiflow.potentials.seeding import global_rngs_seeded, torch_default_dtype


def _draw():
    return random.random(), float(np.random.random()), float(torch.rand(1))


def test_seeded_inside_and_restored_after():
    random.seed(1)
    np.random.seed(1)
    torch.manual_seed(1)
    expected = _draw()  # what the caller's streams give next
    random.seed(1)
    np.random.seed(1)
    torch.manual_seed(1)
    with global_rngs_seeded(7):
        first = _draw()
    with global_rngs_seeded(7):
        assert _draw() == first  # reproducible inside
    assert _draw() == expected  # and the caller's streams continue as if nothing happened
    assert first != expected


def test_default_dtype_restored_even_when_the_body_raises():
    before = torch.get_default_dtype()
    with torch_default_dtype("float64"):
        assert torch.zeros(1).dtype == torch.float64
    assert torch.get_default_dtype() == before
    with pytest.raises(KeyboardInterrupt), torch_default_dtype(torch.float64):
        raise KeyboardInterrupt  # a fit interrupted inside (mace's own context manager leaks)
    assert torch.get_default_dtype() == before

"""Seeding the process-wide generators for a library leaves the caller's streams untouched."""

import random

import numpy as np
import torch

from seiflow.potentials.seeding import global_rngs_seeded


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

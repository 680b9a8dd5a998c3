"""Seeding libraries that draw from the process-wide random generators, without leaving them
seeded: ``with global_rngs_seeded(seed): ...`` seeds Python's ``random``, NumPy's legacy
generator and torch's CPU (and CUDA) generators, and restores their states on exit, so a
fit is reproducible and the caller's random streams are untouched."""

from __future__ import annotations

import random
from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np


@contextmanager
def global_rngs_seeded(seed: int) -> Iterator[None]:
    import torch

    saved = (random.getstate(), np.random.get_state(), torch.random.get_rng_state(),
             torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None)
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    try:
        yield
    finally:
        random.setstate(saved[0])
        np.random.set_state(saved[1])
        torch.random.set_rng_state(saved[2])
        if saved[3] is not None:
            torch.cuda.set_rng_state_all(saved[3])

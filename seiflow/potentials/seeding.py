"""Process-wide library state set for the length of a fit and restored on exit, whatever the
exit (an error, a KeyboardInterrupt):

``with global_rngs_seeded(seed): ...`` seeds Python's ``random``, NumPy's legacy generator and
torch's CPU (and CUDA) generators, so a fit is reproducible and the caller's random streams are
untouched; ``with torch_default_dtype(torch.float64): ...`` sets torch's default dtype (mace's own
``default_dtype`` does not restore it when the body raises, which left float64 behind for every
later torch model in the process)."""

from __future__ import annotations

import random
from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np


@contextmanager
def torch_default_dtype(dtype) -> Iterator[None]:
    import torch

    saved = torch.get_default_dtype()
    torch.set_default_dtype(getattr(torch, dtype) if isinstance(dtype, str) else dtype)
    try:
        yield
    finally:
        torch.set_default_dtype(saved)


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

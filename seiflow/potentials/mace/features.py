"""MACE's last-layer features: the rows of a D-optimality (MaxVol) grade for MACE.

A MACE site energy is a sum of readouts, one per interaction layer (Batatia et al. 2022):
linear readouts of the scalar (0e) node features of the inner layers and, for the last layer,
W₂·σ(W₁·h). The site energy is *linear* in the readout weights W of every layer given the
features they multiply: the inner layers' scalar channels and σ(W₁·h) of the last. Those
features are to MACE what the basis values B(n_i) are to an MTP, so the same active set and
grade γ = max_j |c_j| (potentials/active.py) apply (the "last-layer" or feature-space
D-optimality of Podryabinkin & Shapeev's construction, as used for neural networks by
e.g. Zaverkin & Kästner, Mach. Learn.: Sci. Technol. 2, 035009 (2021)).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch


def _scalar_slices(irreps) -> list[slice]:
    return [sl for (mul, ir), sl in zip(irreps, irreps.slices()) if ir.l == 0 and ir.p == 1]


@contextlib.contextmanager
def readout_features(module: torch.nn.Module) -> Iterator[list[torch.Tensor]]:
    """While active, each forward pass of ``module`` appends its per-atom feature blocks
    (n_atoms × k each, one per readout) to the yielded list."""
    captured: list[torch.Tensor] = []
    handles = []
    for readout in module.readouts:
        if hasattr(readout, "linear_2"):  # non-linear readout: the features W₂ multiplies
            handles.append(readout.non_linearity.register_forward_hook(
                lambda _m, _inp, out: captured.append(out.detach())))
        else:  # linear readout: its scalar inputs
            slices = _scalar_slices(readout.linear.irreps_in)

            def hook(_m, inp, slices=slices):
                x = inp[0].detach()
                captured.append(torch.cat([x[:, sl] for sl in slices], dim=1))

            handles.append(readout.register_forward_pre_hook(hook))
    try:
        yield captured
    finally:
        for h in handles:
            h.remove()

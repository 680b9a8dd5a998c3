"""A neighbour list for torch-sim models that runs where the tensors live (vesin-torch: CPU or
CUDA), shared by the batched MD (md/batched.py) and the MTP's torch model
(potentials/mtp/torch_model.py)."""

from __future__ import annotations

import functools

import torch


@functools.lru_cache(maxsize=8)
def _vesin(cutoff: float):
    from vesin_torch import NeighborList

    return NeighborList(cutoff=cutoff, full_list=True)


def device_neighbor_list(positions: torch.Tensor, cell: torch.Tensor, pbc: bool,
                         cutoff: torch.Tensor | float, sort_id: bool = False
                         ) -> tuple[torch.Tensor, torch.Tensor]:
    """Neighbour pairs (2, n) and integer cell shifts (n, 3), computed where the positions
    live: vesin-torch runs on CUDA tensors on the GPU. A drop-in ``neighbor_list_fn`` for
    torch-sim models (``MaceModel(..., neighbor_list_fn=device_neighbor_list)``), whose default
    ``vesin_nl_ts`` copies the positions to the CPU in float64 every step. ``cell`` is in the
    row-vector (ASE) convention."""
    i, j, shifts = _vesin(float(cutoff)).compute(points=positions, box=cell,
                                                 periodic=bool(pbc), quantities="ijS")
    mapping = torch.stack((i, j)).to(torch.long)
    shifts = shifts.to(positions.dtype)
    if sort_id:
        order = torch.argsort(mapping[0])
        mapping, shifts = mapping[:, order], shifts[order]
    return mapping, shifts

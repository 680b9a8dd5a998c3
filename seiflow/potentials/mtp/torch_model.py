"""The Moment Tensor Potential in PyTorch, batched over systems, as a torch-sim model (GPU MD).

The same function as the compiled kernel (kernel.py, ``_mtpkernel.c``) and motep's engines, for
a batch of systems given as flat tensors, on any torch device, in float64 or float32.

Site energy of atom i (type t_i), over its neighbours j within the cutoff (r_ij = r_j - r_i +
shift·cell, r = |r_ij|, u = r_ij / r):

    E_i = species_coeffs[t_i] + Σ_s moment_coeffs[s] · B_s(n_i),   B_s = m[alpha_moment_mapping[s]]

* radial functions  f_μ(r) = Σ_q C[t_i, t_j, μ, q] · T_q(x) · scaling · (r_cut - r)²  with
  T_q Chebyshev polynomials of x = (2r - r_min - r_cut) / (r_cut - r_min), C = radial_coeffs
  (species, species, radial_funcs, radial_basis_size); f = 0 for r >= r_cut;
* basic moments (``alpha_index_basic`` row b = {μ, a, b, c}):  m_b = Σ_j f_μ(r) u_x^a u_y^b u_z^c;
* contractions (``alpha_index_times`` rows {i, j, mult, k}):  m_k += mult · m_i · m_j, where the
  inputs of a row are earlier moments.

Vectorised: the pairs of every atom are laid out in one padded row (N, K), K the most pairs of
an atom (empty places get a vector beyond the cutoff, so f = 0 there). All monomials of u up to
the highest degree are built by degree, and the basic moments of all atoms are one batched
matmul  Σ_j f_μ(r_ij) · P_q(u_ij)  (N, μ, q). The contraction rows are evaluated in *waves*:
wave d holds every output whose inputs all lie in waves < d (basic moments are wave 0), so one
gather, product and ``index_add`` per wave computes all of them (seiflow's levels, at most 4
moments per basis function, need at most 3 waves).

Forces are -dE/dr by autograd. The stress is the derivative of the energy with respect to a
symmetric strain ε applied to every pair vector (r_ij → (1 + ε) r_ij), over the volume:
σ = (1/V) ∂E/∂ε — ASE's sign (positive under tension) and torch-sim's, equal to the kernel's
Voigt stress. Units: Å, eV, eV/Å, eV/Å³.

No Python loop runs over atoms or pairs; the neighbour list is built per system with vesin
(``seiflow.potentials.torch_neighbours.device_neighbor_list``, on the device of the
positions).
The module copies the coefficients when it is built: rebuild it after a refit.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
from torch_sim.models.interface import ModelInterface
from torch_sim.state import SimState


def _waves(times: np.ndarray, n_basic: int, n_moments: int):
    """The contraction rows grouped into waves. Returns every moment's column in the layout
    [basic moments, moments no row computes (zero), wave 1 outputs, wave 2 outputs, ...], the
    number of zero moments, and per wave its rows as (input columns i, j, multiplicities,
    output columns relative to the wave's first, number of outputs)."""
    depth = np.zeros(n_moments, dtype=int)
    for i, j, _, k in times:  # rows come in evaluation order: inputs are final when used
        depth[k] = max(depth[k], 1 + max(depth[i], depth[j]))
    computed = np.zeros(n_moments, dtype=bool)
    computed[times[:, 3]] = True
    order = list(range(n_basic)) + [k for k in range(n_basic, n_moments) if not computed[k]]
    n_zero = len(order) - n_basic
    outputs = [np.flatnonzero(computed & (depth == d)) for d in range(1, depth.max() + 1)]
    column = np.empty(n_moments, dtype=int)
    column[order + [k for ks in outputs for k in ks]] = np.arange(n_moments)
    waves = []
    for d, ks in enumerate(outputs, start=1):
        rows = times[depth[times[:, 3]] == d]
        waves.append((column[rows[:, 0]], column[rows[:, 1]], rows[:, 2],
                      column[rows[:, 3]] - column[ks[0]], len(ks)))
    return column, n_zero, waves


def _monomials(degree: int) -> dict[tuple[int, int, int], int]:
    """Column of every monomial u_x^a u_y^b u_z^c of degree <= ``degree`` in the layout that
    ``TorchMTP.basis`` builds: degree d is u_x·(degree d-1), then u_y·(its last d monomials,
    those without x), then u_z·(its last, z^(d-1)); degrees in turn from 1 (the constant)."""
    layer, out = [(0, 0, 0)], [(0, 0, 0)]
    for d in range(1, degree + 1):
        layer = [(a + 1, b, c) for a, b, c in layer] + \
            [(0, b + 1, c) for _, b, c in layer[-d:]] + [(0, 0, d)]
        out += layer
    return {key: n for n, key in enumerate(out)}


class TorchMTP(torch.nn.Module):
    """An MTP (seiflow ``MTPModel``) as a torch module over a batch of systems."""

    def __init__(self, model, dtype: torch.dtype = torch.float64,
                 device: torch.device | str | None = None):
        super().__init__()
        d = model.data
        n_species, rfc, rbs = int(d.species_count), int(d.radial_funcs_count), \
            int(d.radial_basis.size)
        self.n_species, self.rfc = n_species, rfc
        self.cutoff = float(d.radial_basis.max)
        self.rmin = float(d.radial_basis.min)
        self.scaling = float(d.scaling)
        self.rbs = rbs
        self.species = tuple(int(z) for z in d.species)  # atomic numbers in type order

        def buf(name, array, kind=dtype):
            self.register_buffer(name, torch.as_tensor(np.asarray(array), dtype=kind,
                                                       device=device))

        coeffs = np.asarray(d.radial_coeffs, dtype=float).reshape(n_species, n_species, rfc, rbs)
        # (rbs, species pair × μ): f of a pair of types (ti, tj) is column block ti*S + tj
        buf("radial_coeffs", coeffs.transpose(3, 0, 1, 2).reshape(rbs, -1))
        buf("species_coeffs", np.asarray(d.species_coeffs, dtype=float).reshape(-1))
        buf("moment_coeffs", np.asarray(d.moment_coeffs, dtype=float).reshape(-1))
        basic = np.asarray(d.alpha_index_basic, dtype=int).reshape(-1, 4)
        times = np.asarray(d.alpha_index_times, dtype=int).reshape(-1, 4)
        n_moments = max(int(d.alpha_moments_count), len(basic),
                        int(times[:, [0, 1, 3]].max(initial=-1)) + 1)
        self.max_degree = int(basic[:, 1:].sum(1).max(initial=0))
        index = _monomials(self.max_degree)
        # basic moment b is entry (μ_b, monomial_b) of the per-atom (μ, monomial) matrix
        buf("basic_column", [row[0] * len(index) + index[tuple(row[1:])] for row in basic],
            torch.long)
        column, self.n_zero, waves = _waves(times, len(basic), n_moments)
        buf("mapping", column[np.asarray(d.alpha_moment_mapping, dtype=int)], torch.long)
        self.n_waves = len(waves)
        for w, (i, j, mult, k, n_out) in enumerate(waves):
            buf(f"wave{w}_i", i, torch.long)
            buf(f"wave{w}_j", j, torch.long)
            buf(f"wave{w}_k", k, torch.long)
            buf(f"wave{w}_mult", mult)
            setattr(self, f"wave{w}_n", n_out)
        type_of = np.full(max(self.species) + 1, -1)
        type_of[list(self.species)] = np.arange(n_species)
        buf("type_of", type_of, torch.long)

    def types(self, atomic_numbers: torch.Tensor) -> torch.Tensor:
        """Each atom's type (index in the model's species order); ValueError for other
        elements."""
        z = atomic_numbers.long()
        known = z < len(self.type_of)
        types = self.type_of[torch.where(known, z, 0)]
        bad = ~known | (types < 0)
        if bool(bad.any()):
            raise ValueError(f"elements {sorted(set(z[bad].tolist()))} are not species of "
                             f"this MTP {self.species}")
        return types

    def radial(self, r: torch.Tensor, pair_type: torch.Tensor) -> torch.Tensor:
        """f_μ(r) of every pair (..., radial_funcs); zero at and beyond the cutoff."""
        x = (2 * r - (self.rmin + self.cutoff)) / (self.cutoff - self.rmin)
        cheb = [torch.ones_like(x), x]
        for _ in range(2, self.rbs):
            cheb.append(2 * x * cheb[-1] - cheb[-2])
        smooth = torch.where(r < self.cutoff, self.scaling * (self.cutoff - r) ** 2, 0.0)
        f = (torch.stack(cheb[:self.rbs], dim=-1) * smooth[..., None]) @ self.radial_coeffs
        if self.n_species == 1:
            return f
        columns = pair_type[..., None] * self.rfc + torch.arange(self.rfc, device=r.device)
        return f.gather(-1, columns)

    def basis(self, vectors: torch.Tensor, pair_type: torch.Tensor) -> torch.Tensor:
        """The scalar basis functions B_s (N, alpha_scalar_moments) of atoms whose pair vectors
        r_ij are the rows of ``vectors`` (N, K, 3; padding rows beyond the cutoff) with pair
        types t_i·S + t_j (N, K)."""
        n_atoms = len(vectors)
        r = vectors.norm(dim=-1)
        u = vectors / r[..., None]
        ux, uy, uz = u[..., 0:1], u[..., 1:2], u[..., 2:3]
        layer, mono = torch.ones_like(ux), [torch.ones_like(ux)]
        for d in range(1, self.max_degree + 1):  # the layout of _monomials
            layer = torch.cat([layer * ux, layer[..., -d:] * uy, layer[..., -1:] * uz], dim=-1)
            mono.append(layer)
        # Σ_j f_μ(r_ij) P_q(u_ij) of every atom: one batched matmul over the padded pairs
        m = torch.bmm(self.radial(r, pair_type).transpose(1, 2), torch.cat(mono, dim=-1))
        m = m.view(n_atoms, -1).index_select(1, self.basic_column)
        if self.n_zero:
            m = torch.cat([m, m.new_zeros(n_atoms, self.n_zero)], dim=1)
        for w in range(self.n_waves):
            g = lambda name: getattr(self, f"wave{w}_{name}")  # noqa: E731
            product = m.index_select(1, g("i")) * m.index_select(1, g("j")) * g("mult")
            out = m.new_zeros(n_atoms, g("n")).index_add_(1, g("k"), product)
            m = torch.cat([m, out], dim=1)
        return m.index_select(1, self.mapping)

    def forward(self, positions: torch.Tensor, types: torch.Tensor, system_idx: torch.Tensor,
                cells: torch.Tensor, pairs: torch.Tensor, shifts: torch.Tensor,
                forces: bool = True, stress: bool = True) -> dict[str, torch.Tensor]:
        """Energies of a batch: positions (N, 3) Å, types (N,) (int64, from ``types``),
        system_idx (N,), cells (S, 3, 3) (cell vectors as rows), pairs (2, P) = (i, j) and
        integer cell shifts (P, 3) of a full neighbour list (r_ij = r_j - r_i + shift @ cell).
        Returns ``energies`` (N,) and ``energy`` (S,) eV, with ``forces`` (N, 3) eV/Å, with
        ``stress`` (S, 3, 3) eV/Å³, all detached."""
        n_atoms, n_systems = len(positions), len(cells)
        i, j = pairs[0], pairs[1]
        k, flat = _slots(i, n_atoms)
        with torch.enable_grad():
            pos = positions.detach().to(self.radial_coeffs.dtype).requires_grad_(forces)
            cells = cells.detach().to(pos.dtype)
            vectors = pos.index_select(0, j) - pos.index_select(0, i) + (
                shifts.to(pos.dtype)[:, :, None] * cells[system_idx[i]]).sum(1)
            # each atom's pairs in a row of K, the empty places beyond the cutoff
            far = vectors.new_tensor([[2 * self.cutoff, 0.0, 0.0]]).repeat(n_atoms * k, 1)
            vectors = far.index_copy(0, flat, vectors).view(n_atoms, k, 3)
            pair_type = types.new_zeros(n_atoms * k).index_copy(
                0, flat, types[i] * self.n_species + types[j]).view(n_atoms, k)
            inputs = [pos] if forces else []
            if stress:
                strain = pos.new_zeros(n_systems, 3, 3, requires_grad=True)
                sym = 0.5 * (strain + strain.transpose(1, 2))
                vectors = vectors + torch.einsum("nka,nab->nkb", vectors, sym[system_idx])
                inputs.append(strain)
            b = self.basis(vectors, pair_type)
            energies = self.species_coeffs[types] + b @ self.moment_coeffs
            energy = energies.new_zeros(n_systems).index_add_(0, system_idx, energies)
            grads = torch.autograd.grad(energy.sum(), inputs, allow_unused=True) \
                if inputs else []
        grads = [torch.zeros_like(x) if g is None else g for x, g in zip(inputs, grads)]
        out = {"energies": energies.detach(), "energy": energy.detach()}
        if forces:
            out["forces"] = -grads[0]
        if stress:
            out["stress"] = grads[-1] / torch.linalg.det(cells).abs()[:, None, None]
        return out


def _slots(centre: torch.Tensor, n_atoms: int) -> tuple[int, torch.Tensor]:
    """K, the most pairs of one atom, and every pair's place centre·K + (its rank among the
    pairs of its centre atom) in the padded (N, K) layout."""
    counts = torch.bincount(centre, minlength=n_atoms)
    k = max(int(counts.max()), 1) if len(centre) else 1
    order = torch.argsort(centre, stable=True)
    slot = torch.empty_like(centre)
    slot[order] = torch.arange(len(centre), device=centre.device) - (
        torch.cumsum(counts, 0) - counts)[centre[order]]
    return k, centre * k + slot


def batch_neighbours(positions: torch.Tensor, cells: torch.Tensor, system_idx: torch.Tensor,
                     cutoff: float, pbc: bool = True, neighbor_list_fn: Callable | None = None
                     ) -> tuple[torch.Tensor, torch.Tensor]:
    """Full neighbour list of a batch: pairs (2, P) of global atom indices and integer cell
    shifts (P, 3), one ``neighbor_list_fn`` call per system (torch-sim's signature; default
    ``seiflow.potentials.torch_neighbours.device_neighbor_list``: vesin where the positions
    live)."""
    if neighbor_list_fn is None:
        from seiflow.potentials.torch_neighbours import device_neighbor_list as neighbor_list_fn
    cut = torch.tensor(float(cutoff))  # vesin_nl_ts wants a tensor, ours takes either
    pairs, shifts = [], []
    for b in range(len(cells)):
        atoms = torch.nonzero(system_idx == b).squeeze(1)
        mapping, shift = neighbor_list_fn(positions=positions[atoms], cell=cells[b], pbc=pbc,
                                          cutoff=cut)
        pairs.append(atoms[mapping])
        shifts.append(shift)
    return torch.cat(pairs, dim=1), torch.cat(shifts)


class MTPTorchSimModel(ModelInterface):
    """A ``TorchMTP`` as a torch-sim model: ``forward(state)`` returns ``energy`` (S,) eV,
    ``forces`` (N, 3) eV/Å, ``stress`` (S, 3, 3) eV/Å³ (σ = (1/V) ∂E/∂ε, as torch-sim's own
    models) and the per-atom ``energies`` (N,)."""

    def __init__(self, model, device: torch.device | str = "cpu",
                 dtype: torch.dtype = torch.float64, neighbor_list_fn: Callable | None = None,
                 compute_forces: bool = True, compute_stress: bool = True):
        super().__init__()
        self._device, self._dtype = torch.device(device), dtype
        self._compute_forces, self._compute_stress = compute_forces, compute_stress
        self.mtp = TorchMTP(model, dtype=dtype, device=self._device)
        self.neighbor_list_fn = neighbor_list_fn

    def forward(self, state: SimState | dict, **kwargs) -> dict[str, torch.Tensor]:
        if isinstance(state, dict):
            state = SimState(**state, masses=torch.ones_like(state["positions"]))
        cells = state.row_vector_cell
        system_idx = state.system_idx
        if system_idx is None:
            system_idx = torch.zeros(len(state.positions), dtype=torch.long, device=self.device)
        pairs, shifts = batch_neighbours(state.positions, cells, system_idx, self.mtp.cutoff,
                                         state.pbc, self.neighbor_list_fn)
        out = self.mtp(state.positions, self.mtp.types(state.atomic_numbers), system_idx,
                       cells, pairs, shifts, forces=self.compute_forces,
                       stress=self.compute_stress)
        return {k: v.to(self.dtype) for k, v in out.items()}

"""The batched integrators (md/batched.py): velocity Verlet (torch-sim's), a Nosé–Hoover chain
per replica and BAOAB Langevin, all replicas of one torch-sim ``MDState`` at once. Each keeps
its own variables (``arrays``/``load``) for the checkpoint, and ``extra_energy``: what the
conserved quantity adds to E_pot + E_kin."""

from __future__ import annotations

import logging

import numpy as np
import torch
from ase import units
from torch_sim.integrators.md import MDState, momentum_step, position_step, velocity_verlet
from torch_sim.models.interface import ModelInterface

log = logging.getLogger(__name__)

# Suzuki–Yoshida fourth-order weights for the Nosé–Hoover chain propagator
_SY3 = (0.828981543588751, -0.657963087177502, 0.828981543588751)
_CHAIN_LENGTH = 3


def _evaluate(state: MDState, model: ModelInterface) -> MDState:
    out = model(state)
    state.energy, state.forces = out["energy"], out["forces"]
    return state


def _per_replica(values: torch.Tensor, state: MDState, n: int) -> torch.Tensor:
    """Sum per-atom values into one number per replica (no host sync, unlike bincount)."""
    return torch.zeros(n, dtype=values.dtype, device=values.device).index_add_(
        0, state.system_idx, values)


def _kinetic(state: MDState, n: int) -> torch.Tensor:
    return _per_replica(0.5 * (state.momenta**2).sum(-1) / state.masses, state, n)


# ---------------------------------------------------------------- integrators

class _NVE:
    """Velocity Verlet (torch-sim's). ``extra_energy`` is what the conserved quantity adds to
    E_pot + E_kin; ``arrays``/``load`` carry the integrator's own variables in a checkpoint."""

    def __init__(self, model: ModelInterface, dt: torch.Tensor, kT: torch.Tensor,
                 tau: torch.Tensor, n: int, dof: torch.Tensor, seed: int):
        self.model, self.dt, self.kT, self.tau, self.n, self.dof = model, dt, kT, tau, n, dof

    def step(self, state: MDState) -> MDState:
        return velocity_verlet(state, self.dt, self.model)

    def extra_energy(self, state: MDState) -> torch.Tensor:
        return torch.zeros(self.n, dtype=state.dtype, device=state.device)

    def arrays(self) -> dict[str, np.ndarray]:
        return {}

    def load(self, arrays: dict[str, np.ndarray], step: int) -> None:
        pass


class _NoseHooverChain(_NVE):
    """One Nosé–Hoover chain of 3 thermostats per replica (Martyna, Tuckerman & Klein, Mol.
    Phys. 87, 1117 (1996)): masses Q₀ = 3N·kT·τ², Qₖ = kT·τ²; each half step propagates the
    chain with the three Suzuki–Yoshida weights, one sub-step each, all replicas at once."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        ones = torch.ones(self.n, _CHAIN_LENGTH, dtype=self.kT.dtype, device=self.kT.device)
        self.Q = self.kT * self.tau**2 * ones
        self.Q[:, 0] *= self.dof
        self.xi = torch.zeros_like(ones)  # chain positions
        self.p = torch.zeros_like(ones)  # chain momenta

    def step(self, state: MDState) -> MDState:
        state.momenta = self._half_step(state)
        state = velocity_verlet(state, self.dt, self.model)
        state.momenta = self._half_step(state)
        return state

    def _half_step(self, state: MDState) -> torch.Tensor:
        """Propagate the chains over dt/2; return the rescaled particle momenta."""
        kT, Q, p, xi = self.kT, self.Q, self.p.clone(), self.xi.clone()
        ke2 = 2 * _kinetic(state, self.n)  # 2·E_kin per replica
        scale = torch.ones(self.n, dtype=state.dtype, device=state.device)
        last = _CHAIN_LENGTH - 1
        for w in _SY3:
            d = w * self.dt / 2  # this sub-step's length
            p[:, last] += d / 2 * (p[:, last - 1] ** 2 / Q[:, last - 1] - kT)
            for k in range(last - 1, -1, -1):  # inward: thermostat k is driven by k-1
                force = ke2 - self.dof * kT if k == 0 else p[:, k - 1] ** 2 / Q[:, k - 1] - kT
                damp = torch.exp(-d / 4 * p[:, k + 1] / Q[:, k + 1])
                p[:, k] = damp * (damp * p[:, k] + d / 2 * force)
            s = torch.exp(-d * p[:, 0] / Q[:, 0])
            scale, ke2 = scale * s, ke2 * s**2
            xi = xi + d * p / Q
            for k in range(last):  # outward
                force = ke2 - self.dof * kT if k == 0 else p[:, k - 1] ** 2 / Q[:, k - 1] - kT
                damp = torch.exp(-d / 4 * p[:, k + 1] / Q[:, k + 1])
                p[:, k] = damp * (damp * p[:, k] + d / 2 * force)
            p[:, last] += d / 2 * (p[:, last - 1] ** 2 / Q[:, last - 1] - kT)
        self.p, self.xi = p, xi
        return state.momenta * scale[state.system_idx, None]

    def extra_energy(self, state: MDState) -> torch.Tensor:
        """Chain kinetic + potential energy: E_pot + E_kin + this is conserved."""
        chain_ke = (self.p**2 / (2 * self.Q)).sum(-1)
        return chain_ke + self.dof * self.kT * self.xi[:, 0] + self.kT * self.xi[:, 1:].sum(-1)

    def arrays(self) -> dict[str, np.ndarray]:
        return {"chain_xi": self.xi.cpu().numpy(), "chain_p": self.p.cpu().numpy()}

    def load(self, arrays: dict[str, np.ndarray], step: int) -> None:
        self.xi = torch.as_tensor(arrays["chain_xi"], dtype=self.xi.dtype, device=self.xi.device)
        self.p = torch.as_tensor(arrays["chain_p"], dtype=self.p.dtype, device=self.p.device)


class _Langevin(_NVE):
    """BAOAB Langevin (Leimkuhler & Matthews 2013), friction γ = 1/τ, noise from a seeded
    generator on the device. ``heat`` sums the kinetic energy the bath put in, so E_tot − heat
    is conserved up to the integration error (a check of the time step)."""

    def __init__(self, *args, seed: int, **kwargs):
        super().__init__(*args, seed=seed, **kwargs)
        self.seed = seed
        self.gen = torch.Generator(device=self.kT.device).manual_seed(seed)
        self.heat = torch.zeros(self.n, dtype=self.kT.dtype, device=self.kT.device)
        self.c1 = torch.exp(-self.dt / self.tau)

    def step(self, state: MDState) -> MDState:
        state = position_step(momentum_step(state, self.dt / 2), self.dt / 2)
        ke0 = _kinetic(state, self.n)
        noise = torch.randn(state.momenta.shape, generator=self.gen, device=state.device,
                            dtype=state.dtype)
        sigma = torch.sqrt(self.kT * (1 - self.c1**2) * state.masses)[:, None]
        state.momenta = self.c1 * state.momenta + sigma * noise
        self.heat = self.heat + _kinetic(state, self.n) - ke0
        state = _evaluate(position_step(state, self.dt / 2), self.model)
        return momentum_step(state, self.dt / 2)

    def extra_energy(self, state: MDState) -> torch.Tensor:
        return -self.heat

    def arrays(self) -> dict[str, np.ndarray]:
        return {"heat": self.heat.cpu().numpy(),
                "rng_state": self.gen.get_state().numpy(),
                "rng_device": np.array(self.kT.device.type)}

    def load(self, arrays: dict[str, np.ndarray], step: int) -> None:
        self.heat = torch.as_tensor(arrays["heat"], dtype=self.heat.dtype,
                                    device=self.heat.device)
        if str(arrays["rng_device"]) == self.kT.device.type:
            self.gen.set_state(torch.as_tensor(arrays["rng_state"]))
        else:
            log.warning("Langevin noise reseeded: the checkpoint's generator is for %s",
                        arrays["rng_device"])
            self.gen.manual_seed(int(np.random.SeedSequence([self.seed, step])
                                     .generate_state(1)[0]))


_INTEGRATORS = {"nve": _NVE, "nvt": _NoseHooverChain, "langevin": _Langevin}


def _integrator(settings, model: ModelInterface, state: MDState, n: int):
    """The integrator of ``settings`` (BatchedMDSettings) for the replicas of ``state``."""
    def scalar(x: float) -> torch.Tensor:
        return torch.tensor(x, dtype=state.dtype, device=state.device)

    dof = 3 * _per_replica(torch.ones_like(state.masses), state, n)
    return _INTEGRATORS[settings.ensemble](
        model, scalar(settings.timestep_fs * units.fs), scalar(settings.temperature_K * units.kB),
        scalar(settings.tdamp_fs * units.fs), n, dof, seed=settings.seed)

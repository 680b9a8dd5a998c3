"""The MD loop inside seiflow's compiled MTP kernel (``_mtpmd.h``): the integrator backend that
``run_md`` picks for NVE and NVT (Nosé-Hoover chain) with an MTP on the kernel engine, so
that the steps between two events of the loop (frame, checkpoint, observer) never return to
Python. It reproduces ASE's VelocityVerlet and NoseHooverChainNVT (chain of 3, one sub-step,
fourth-order Suzuki-Yoshida weights) step for step, writes the same frames, thermo rows and
checkpoint variables (``eta``, ``p_eta``), so a run can be resumed by either backend.

At each event the state is handed back to the ``Atoms`` and the calculator takes the kernel's
results for it (no second evaluation); a graded calculator grades that state from the basis
rows the kernel computed with the last step. So with a graded potential γ is computed at the
event steps (every step for an observer with interval 1, as the learning loop's exploration
uses; every frame or observer interval otherwise) instead of at every step. Anything else
(NPT, Langevin, a temperature ramp, constraints, other calculators or motep's engine) runs on
ASE (md/runner.py).
"""

from __future__ import annotations

import numpy as np
from ase import Atoms, units

from seiflow.md.runner import AseIntegrator, MDSettings
from seiflow.potentials.graded import GradedCalculator
from seiflow.potentials.mtp.kernel import KernelEngine
from seiflow.potentials.mtp.model import MTPCalculator

ENSEMBLES = ("nve", "nvt")
CHAIN = 3  # Nosé-Hoover chain length, as ASE's default


def kernel_of(calc) -> tuple[MTPCalculator, KernelEngine] | None:
    """The MTP calculator (bare or under a GradedCalculator) and its kernel engine, or None."""
    base = calc.base if isinstance(calc, GradedCalculator) else calc
    if not isinstance(base, MTPCalculator) or base.engine != "kernel":
        return None
    return base, base.engine_instance


def eligible(work: Atoms, settings: MDSettings) -> bool:
    """Whether the kernel's loop runs this MD: NVE/NVT at one temperature, no constraints, the
    calculator an MTP on the kernel engine."""
    return (settings.ensemble in ENSEMBLES and not settings.ramp and not work.constraints
            and kernel_of(work.calc) is not None)


class KernelIntegrator(AseIntegrator):
    """NVE/NVT over one ``Atoms`` whose calculator is a kernel MTP: steps in the kernel,
    frames, thermo rows and checkpoint state as AseIntegrator's."""

    def __init__(self, work: Atoms, settings: MDSettings, start: int,
                 variables: dict | None = None):
        self.work, self.settings, self.step = work, settings, start
        self.dt_fs, self.target = settings.timestep_fs, None
        self.calc = work.calc
        self.graded = isinstance(self.calc, GradedCalculator)
        work.get_potential_energy()  # forces of the start; makes the engine
        _, self.engine = kernel_of(self.calc)
        self.engine.set_forces(work.get_forces())
        self.momenta = np.ascontiguousarray(work.get_momenta(), dtype=float)
        self.masses = np.ascontiguousarray(work.get_masses(), dtype=float)
        self.dt = settings.timestep_fs * units.fs
        self.chain = None
        if settings.ensemble == "nvt":
            kT, tau = units.kB * settings.temperature_K, settings.tdamp_fs * units.fs
            q = np.full(CHAIN, kT * tau**2)
            q[0] = 3 * len(work) * kT * tau**2
            self.chain = {"kT": kT, "Q": q, "eta": np.zeros(CHAIN), "p_eta": np.zeros(CHAIN)}
            if variables and "eta" in variables:
                self.chain["eta"][:] = variables["eta"]
                self.chain["p_eta"][:] = variables["p_eta"]

    def run(self, n: int) -> None:
        positions = self.work.arrays["positions"]
        if not (positions.flags.c_contiguous and positions.dtype == np.float64):
            self.work.arrays["positions"] = np.ascontiguousarray(positions, dtype=float)
        done, mid, res = 0, False, None
        while done < n:
            k, mid, res = self.engine.md_steps(self.work, self.momenta, self.masses, n - done,
                                               self.dt, self.chain, start_mid=mid,
                                               rows=self.graded)
            done += k
            if mid and not self.finite():  # md/loop.py says so: MD became unstable
                raise FloatingPointError("non-finite positions or momenta")
        self.step += done
        self.work.set_momenta(self.momenta, apply_constraint=False)
        self.calc.adopt(self.work, res)

    def conserved(self) -> float:
        """E_pot + E_kin (+ the chain's energy, as ASE's get_conserved_energy)."""
        energy = self.work.get_potential_energy() + self.work.get_kinetic_energy()
        if self.chain is not None:
            c = self.chain
            energy += (3 * len(self.work) * c["kT"] * c["eta"][0] + c["kT"] * c["eta"][1:].sum()
                       + (0.5 * c["p_eta"] ** 2 / c["Q"]).sum())
        return float(energy)

    def finite(self) -> bool:
        return bool(np.isfinite(self.work.positions).all() and np.isfinite(self.momenta).all())

    def state(self) -> dict[str, np.ndarray]:
        state = dict(positions=self.work.positions, momenta=self.momenta,
                     cell=self.work.cell.array[None])
        if self.chain is not None:
            state.update(eta=self.chain["eta"], p_eta=self.chain["p_eta"])
        return state

"""The MD loop inside seiflow's compiled MTP kernel (``_mtpmd.h``): the integrator backend that
``run_md`` picks for NVE, NVT (Nosé-Hoover chain) and NPT (MTK) with an MTP on the kernel
engine, so that the steps between two events of the loop (frame, checkpoint, observer) never
return to Python. It reproduces ASE's VelocityVerlet, NoseHooverChainNVT (chain of 3, one
sub-step, fourth-order Suzuki-Yoshida weights) and MTKNPT (full cell, barostat chain of 3) step
for step, writes the same frames, thermo rows and checkpoint variables (``eta``, ``p_eta``,
``xi``, ``p_xi``, ``p_g``), so a run can be resumed by either backend.

At each event the state is handed back to the ``Atoms`` and the calculator takes the kernel's
results for it (no second evaluation); a graded calculator grades that state from the basis
rows the kernel computed with the last step. So with a graded potential γ is computed at the
event steps (every step for an observer with interval 1, as the learning loop's exploration
uses; every frame or observer interval otherwise) instead of at every step. Anything else
(Langevin, a temperature ramp, constraints, other calculators or motep's engine) runs on ASE
(md/runner.py).
"""

from __future__ import annotations

import numpy as np
from ase import Atoms, units
from ase.stress import voigt_6_to_full_3x3_stress

from seiflow.core.units import BAR
from seiflow.md.runner import AseIntegrator, MDSettings
from seiflow.potentials.graded import GradedCalculator
from seiflow.potentials.mtp.kernel import KernelEngine
from seiflow.potentials.mtp.model import MTPCalculator

ENSEMBLES = ("nve", "nvt", "npt")
CHAIN = 3  # Nosé-Hoover chain length, as ASE's default


def kernel_of(calc) -> tuple[MTPCalculator, KernelEngine] | None:
    """The MTP calculator (bare or under a GradedCalculator) and its kernel engine, or None."""
    base = calc.base if isinstance(calc, GradedCalculator) else calc
    if not isinstance(base, MTPCalculator) or base.engine != "kernel":
        return None
    return base, base.engine_instance


def eligible(work: Atoms, settings: MDSettings) -> bool:
    """Whether the kernel's loop runs this MD: NVE/NVT/NPT (a full periodic cell) at one
    temperature, no constraints, the calculator an MTP on the kernel engine."""
    return (settings.ensemble in ENSEMBLES and not settings.ramp and not work.constraints
            and (settings.ensemble != "npt" or (work.pbc.all() and work.cell.rank == 3))
            and kernel_of(work.calc) is not None)


class KernelIntegrator(AseIntegrator):
    """NVE/NVT/NPT over one ``Atoms`` whose calculator is a kernel MTP: steps in the kernel,
    frames, thermo rows and checkpoint state as AseIntegrator's."""

    def __init__(self, work: Atoms, settings: MDSettings, start: int,
                 variables: dict | None = None):
        self.work, self.settings, self.step = work, settings, start
        self.dt_fs, self.target = settings.timestep_fs, None
        self.calc = work.calc
        self.graded = isinstance(self.calc, GradedCalculator)
        work.get_potential_energy()  # forces of the start; makes the engine
        _, self.engine = kernel_of(self.calc)
        virial = None
        if settings.ensemble == "npt":
            virial = voigt_6_to_full_3x3_stress(work.get_stress()) * work.get_volume()
        self.engine.set_forces(work.get_forces(), virial)
        self.momenta = np.ascontiguousarray(work.get_momenta(), dtype=float)
        self.masses = np.ascontiguousarray(work.get_masses(), dtype=float)
        self.dt = settings.timestep_fs * units.fs
        self.chain = self.barostat = None
        variables = variables or {}
        kT = units.kB * settings.temperature_K
        if settings.ensemble in ("nvt", "npt"):  # ASE's NoseHooverChainThermostat
            tau = settings.tdamp_fs * units.fs
            q = np.full(CHAIN, kT * tau**2)
            q[0] = 3 * len(work) * kT * tau**2
            self.chain = {"kT": kT, "Q": q, "eta": np.zeros(CHAIN), "p_eta": np.zeros(CHAIN)}
            for key in ("eta", "p_eta"):
                if key in variables:
                    self.chain[key][:] = variables[key]
        if settings.ensemble == "npt":  # ASE's MTKBarostat, all 9 cell degrees of freedom
            tau = settings.pdamp_fs * units.fs
            r = np.full(CHAIN, kT * tau**2)
            r[0] = 9 * kT * tau**2
            self.barostat = {"W": (len(work) + 1) * kT * tau**2,
                             "P": settings.pressure_bar * BAR, "R": r, "xi": np.zeros(CHAIN),
                             "p_xi": np.zeros(CHAIN), "p_g": np.zeros((3, 3))}
            for key in ("xi", "p_xi", "p_g"):
                if key in variables:
                    self.barostat[key][:] = variables[key]

    def run(self, n: int) -> None:
        positions = self.work.arrays["positions"]
        if not (positions.flags.c_contiguous and positions.dtype == np.float64):
            self.work.arrays["positions"] = np.ascontiguousarray(positions, dtype=float)
        done, mid, res = 0, False, None
        while done < n:
            k, mid, res = self.engine.md_steps(self.work, self.momenta, self.masses, n - done,
                                               self.dt, self.chain, start_mid=mid,
                                               rows=self.graded, barostat=self.barostat)
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
        if self.barostat is not None:  # ASE's MTKNPT.get_conserved_energy
            b, kT = self.barostat, self.chain["kT"]
            energy += ((b["p_xi"] ** 2 / b["R"]).sum() / 2 + 9 * kT * b["xi"][0]
                       + kT * b["xi"][1:].sum() + (b["p_g"] ** 2).sum() / (2 * b["W"])
                       + b["P"] * self.work.get_volume())
        return float(energy)

    def finite(self) -> bool:
        return bool(np.isfinite(self.work.positions).all() and np.isfinite(self.momenta).all())

    def state(self) -> dict[str, np.ndarray]:
        state = dict(positions=self.work.positions, momenta=self.momenta,
                     cell=self.work.cell.array[None])
        if self.chain is not None:
            state.update(eta=self.chain["eta"], p_eta=self.chain["p_eta"])
        if self.barostat is not None:
            state.update(xi=self.barostat["xi"], p_xi=self.barostat["p_xi"],
                         p_g=self.barostat["p_g"])
        return state

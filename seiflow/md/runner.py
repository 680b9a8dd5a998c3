"""The ASE integrator backend of the MD loop (md/loop.py): NVE (velocity Verlet), NVT
(Nosé-Hoover chain), NPT (MTK barostat with Nosé-Hoover chains) and Langevin, for any ASE
calculator, with the run folder written by md/output.py: ``trajectory.extxyz`` (a frame every
``traj_stride`` steps: positions, momenta, cell, step, time_fs, ``epot_eV``, the thermostat's
``target_K``), ``thermo.csv``,
``checkpoint.extxyz`` with ``checkpoint-state.npz`` (the Nosé-Hoover chain and barostat
variables and the Langevin noise generator's state travel in it), observers and a progress bar
in ns/day. A temperature ramp (``temperature_end_K``) sets the thermostat's target before every
step from the absolute step number (md/ramp.py), so a resumed ramp is the uninterrupted one.

Defaults follow Li et al., Mater. Horiz. 2025: 0.5 fs time step, thermostat τ = 100 fs,
barostat τ = 500 fs.

Restart: ``run_md`` on a folder that holds a checkpoint of the same settings continues from it
(md/output.py); frames written after it are dropped, and with its state file a restart
continues exactly as the uninterrupted run would have.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from ase import Atoms, units
from ase.calculators.calculator import Calculator
from ase.md.velocitydistribution import Stationary, thermalize_momenta
from pydantic import Field
from threadpoolctl import threadpool_limits

from seiflow.core.config import MAX_PRESSURE_BAR
from seiflow.core.errors import SeiflowError
from seiflow.core.units import BAR
from seiflow.md.gamma import current_gamma
from seiflow.md.loop import drive
from seiflow.md.output import TRAJECTORY, MDOutput
from seiflow.md.ramp import ThermostatTarget
from seiflow.md.settings import MDCommon
from seiflow.md.thermo import ase_thermo_row
from seiflow.potentials.graded import wrapped_chain

Observer = tuple[Callable[[Atoms, int], None], int]  # fn(atoms, step), every n steps

class MDSettings(MDCommon):
    """``seiflow md`` (ASE): the shared settings (md/settings.py) plus NPT and Langevin."""

    pressure_bar: float = Field(1.0, ge=-MAX_PRESSURE_BAR, le=MAX_PRESSURE_BAR,
                                description="NPT pressure, bar (1 GPa = 10 000 bar)")
    pdamp_fs: float = Field(500.0, gt=0, description="barostat time constant, fs")
    friction_per_fs: float = Field(0.01, gt=0, description="Langevin friction, 1/fs")


@dataclass
class MDResult:
    atoms: Atoms
    steps_done: int
    trajectory: Path
    restarted_from: int  # step of the checkpoint a restart began at (0: fresh run)
    wall_s: float
    ns_per_day: float


def _dynamics(atoms: Atoms, s: MDSettings, rng: np.random.Generator):
    dt = s.timestep_fs * units.fs
    if s.ensemble == "nve":
        from ase.md.verlet import VelocityVerlet

        return VelocityVerlet(atoms, timestep=dt)
    if s.ensemble == "nvt":
        from ase.md.nose_hoover_chain import NoseHooverChainNVT

        return NoseHooverChainNVT(atoms, timestep=dt, temperature_K=s.temperature_K,
                                  tdamp=s.tdamp_fs * units.fs)
    if s.ensemble == "npt":
        from ase.md.nose_hoover_chain import MTKNPT

        if not atoms.pbc.all():
            raise SeiflowError("NPT needs a cell periodic in all three directions")
        return MTKNPT(atoms, timestep=dt, temperature_K=s.temperature_K,
                      pressure_au=s.pressure_bar * BAR, tdamp=s.tdamp_fs * units.fs,
                      pdamp=s.pdamp_fs * units.fs)
    from ase.md.langevin import Langevin

    return Langevin(atoms, timestep=dt, temperature_K=s.temperature_K,
                    friction=s.friction_per_fs / units.fs, fixcm=False, rng=rng)


def _dynamics_state(dyn) -> dict[str, np.ndarray]:
    """What an integrator carries beyond positions, momenta and cell (ASE's Nosé-Hoover chain
    NVT, MTK NPT and Langevin keep it in these attributes)."""
    state = {}
    thermostat, barostat = getattr(dyn, "_thermostat", None), getattr(dyn, "_barostat", None)
    if thermostat is not None:
        state.update(eta=thermostat._eta, p_eta=thermostat._p_eta)
    if barostat is not None:
        state.update(xi=barostat._xi, p_xi=barostat._p_xi, p_g=dyn._p_g)
    if isinstance(getattr(dyn, "rng", None), np.random.Generator):
        state["rng"] = np.array(json.dumps(dyn.rng.bit_generator.state))
    return state


def _restore_dynamics(dyn, state: dict[str, np.ndarray]) -> None:
    if "eta" in state:
        dyn._thermostat._eta[:], dyn._thermostat._p_eta[:] = state["eta"], state["p_eta"]
    if "xi" in state:
        dyn._barostat._xi[:], dyn._barostat._p_xi[:] = state["xi"], state["p_xi"]
        dyn._p_g[:] = state["p_g"]
    if "rng" in state:
        dyn.rng.bit_generator.state = json.loads(str(state["rng"]))


class AseIntegrator:
    """One ASE dynamics over one ``Atoms``, at step ``start``, as an integrator backend of the
    MD loop; with a ramp, each step runs with the target of the step it ends at."""

    def __init__(self, work: Atoms, dyn, settings: MDSettings, start: int):
        self.work, self.dyn, self.settings, self.step = work, dyn, settings, start
        self.dt_fs = settings.timestep_fs
        self.conserved = getattr(dyn, "get_conserved_energy", None)
        self.target = ThermostatTarget(dyn, settings.temperature_K) if settings.ramp else None

    def run(self, n: int) -> None:
        if self.target is None:
            self.dyn.run(n)
            self.step += n
            return
        for _ in range(n):
            self.step += 1
            self.target.set(self.settings.target_K(self.step))
            self.dyn.run(1)

    def finite(self) -> bool:
        return bool(np.isfinite(self.work.positions).all()
                    and np.isfinite(self.work.get_momenta()).all())

    def frames(self, step: int) -> list[Atoms]:
        """The frame to write: positions, momenta, cell, step, time (fs), the thermostat's
        target (K), potential energy and, with a graded calculator, ``gamma`` (the largest γ,
        read from its results)."""
        snap = self.work.copy()
        snap.calc = None
        snap.info.update(step=step, time_fs=round(step * self.dt_fs, 6))
        if self.settings.target_K(step) is not None:
            snap.info["target_K"] = self.settings.target_K(step)
        if self.work.calc is not None:  # cached after a step; computed once for the first
            snap.info["epot_eV"] = float(self.work.get_potential_energy())
            graded = current_gamma(self.work)  # the same calculation's γ: never graded again
            if graded is not None:
                snap.info["gamma"] = graded[0]
        return [snap]

    def thermo_rows(self, step: int) -> list[list]:
        return [ase_thermo_row(self.work, step, step * self.dt_fs,
                               self.conserved() if self.conserved else None,
                               self.settings.target_K(step))]

    def state(self) -> dict[str, np.ndarray]:
        return dict(positions=self.work.positions, momenta=self.work.get_momenta(),
                    cell=self.work.cell.array[None], **_dynamics_state(self.dyn))


def _start(atoms: Atoms, settings: MDSettings, output: MDOutput
           ) -> tuple[Atoms, int, np.random.Generator, dict | None]:
    """The starting state: the checkpoint's (md/output.py) or ``atoms`` with fresh
    Maxwell-Boltzmann velocities; the step it is at, the random generator and the
    integrator's saved variables (None for a fresh start or a checkpoint without them)."""
    work = atoms.copy()
    ckpt = output.resume(settings.key(), [work])
    if ckpt is None:
        rng = np.random.default_rng(settings.seed)
        if settings.init_velocities:
            thermalize_momenta(work, settings.temperature_K, rng=rng)
            Stationary(work)
        output.fresh()
        return work, 0, rng, None
    variables = ckpt.restore([work])
    return work, ckpt.step, np.random.default_rng([settings.seed, ckpt.step]), variables


def _one_blas_thread_for_mtp(calc: Calculator):
    """One BLAS thread while an MTP on seiflow's kernel (under any wrapper) runs the MD: the
    kernel's OpenMP threads and OpenBLAS's (woken by the grade's small matrix products) spin
    against each other. On 2 cores that halved the kernel loop's speed at γ every 20 steps and
    cut ASE-integrator MD graded every step 2.7-fold (docs/md-transport.md)."""
    from seiflow.md.native import kernel_of

    if any(kernel_of(c) is not None for c in wrapped_chain(calc)):
        return threadpool_limits(1, user_api="blas")
    return nullcontext()


def run_md(atoms: Atoms, calc: Calculator, settings: MDSettings, out_dir: str | Path,
           observers: list[Observer] | None = None, progress: bool = True,
           kernel_loop: bool = True) -> MDResult:
    """Run (or resume) MD in ``out_dir``: ``trajectory.extxyz``, ``thermo.csv`` (md/thermo.py),
    ``checkpoint.extxyz`` with ``checkpoint-state.npz`` (md/output.py). NVE, NVT and NPT with
    an MTP on seiflow's compiled kernel run in the kernel's own loop (md/native.py: the same
    trajectory as ASE's integrators; a graded MTP is graded at the loop's event steps) unless
    ``kernel_loop`` is off; everything else on ASE's integrators."""
    from seiflow.md.native import KernelIntegrator, eligible

    output = MDOutput(out_dir, [TRAJECTORY])
    work, start, rng, variables = _start(atoms, settings, output)
    work.calc = calc
    if kernel_loop and eligible(work, settings):
        integ = KernelIntegrator(work, settings, start, variables)
    else:
        dyn = _dynamics(work, settings, rng)
        if variables:
            _restore_dynamics(dyn, variables)
        integ = AseIntegrator(work, dyn, settings, start)
    t0 = time.perf_counter()
    with _one_blas_thread_for_mtp(calc):
        step = drive(integ, output, settings, start,
                     [(lambda step, fn=fn: fn(work, step), every) for fn, every in observers or []],
                     progress, settings.ensemble.upper())
    wall = time.perf_counter() - t0
    final = work.copy()
    final.calc = None
    done = step - start
    return MDResult(final, step, output.trajectories[0], start, wall,
                    done * settings.timestep_fs * 1e-6 * 86400 / wall if wall > 0 else 0.0)

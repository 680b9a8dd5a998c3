"""The MD runner: NVE (velocity Verlet), NVT (Nosé-Hoover chain), NPT (MTK barostat with
Nosé-Hoover chains) and Langevin, over ASE, with a trajectory written every ``traj_stride``
steps, checkpoints, restart after a kill, observers and a progress bar in ns/day.

Defaults follow Li et al., Mater. Horiz. 2025: 0.5 fs time step, thermostat τ = 100 fs,
barostat τ = 500 fs.

Restart: ``run_md`` on a folder that holds a checkpoint of the same settings continues from it;
frames written after it are dropped. A checkpoint is two files written at the same step:
``checkpoint.extxyz`` (readable by any tool) and ``checkpoint-state.npz`` (positions, momenta
and cell in full precision, the Nosé-Hoover chain and barostat variables, the Langevin noise
generator's state), so a restart continues exactly as the uninterrupted run would have. A
checkpoint without its state file (or from another step) restarts from the extxyz: a correct
continuation in distribution, not a bit-identical one (the thermostat starts afresh).
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import ase.io
import numpy as np
from ase import Atoms, units
from ase.calculators.calculator import Calculator
from ase.md.velocitydistribution import Stationary, thermalize_momenta
from pydantic import Field
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from seiflow.core.atomic import atomic_path
from seiflow.core.config import MAX_PRESSURE_BAR
from seiflow.core.errors import SeiflowError
from seiflow.core.units import BAR
from seiflow.md.settings import MDCommon
from seiflow.md.thermo import (THERMO, append_thermo, ase_thermo_row, fresh_thermo,
                               truncate_thermo)

log = logging.getLogger(__name__)

STATE_FILE = "checkpoint-state.npz"
Observer = tuple[Callable[[Atoms, int], None], int]  # fn(atoms, step), every n steps


class MDSettings(MDCommon):
    """``seiflow md`` (ASE): the shared settings (md/settings.py) plus NPT and Langevin."""

    ensemble: Literal["nve", "nvt", "npt", "langevin"] = "nvt"
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


def _check_finite(atoms: Atoms, step: int) -> None:
    if not (np.isfinite(atoms.positions).all() and np.isfinite(atoms.get_momenta()).all()):
        raise SeiflowError(f"MD became unstable by step {step}: non-finite positions or "
                           "velocities (the potential extrapolates, or the time step is too "
                           "large); the last checkpoint is intact")


def _write_atomic(path: Path, atoms: Atoms) -> None:
    with atomic_path(path) as tmp:
        ase.io.write(tmp, atoms, format="extxyz")


def _snapshot(atoms: Atoms, step: int, time_fs: float) -> Atoms:
    """A frame to write: positions, momenta, cell, step, time (fs), potential energy (eV)."""
    snap = atoms.copy()
    snap.calc = None
    snap.info.update(step=step, time_fs=round(time_fs, 6))
    if atoms.calc is not None:  # cached after a step; computed once for the first frame
        snap.info["epot_eV"] = float(atoms.get_potential_energy())
    return snap


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


def _write_state(path: Path, work: Atoms, dyn, step: int) -> None:
    with atomic_path(path) as tmp, open(tmp, "wb") as fh:
        np.savez(fh, step=step, positions=work.positions, momenta=work.get_momenta(),
                 cell=work.cell.array, **_dynamics_state(dyn))


def _read_state(path: Path, step: int) -> dict[str, np.ndarray] | None:
    """The full-precision state saved with the checkpoint of ``step`` (None: none usable)."""
    try:
        with np.load(path) as data:
            state = {k: data[k] for k in data.files}
    except (OSError, ValueError, EOFError):
        return None
    if int(state.pop("step")) != step:
        return None
    return state


def _start(atoms: Atoms, settings: MDSettings, out: Path, traj: Path, ckpt: Path
           ) -> tuple[Atoms, int, np.random.Generator, dict | None]:
    """The starting state: the checkpoint's (frames written after it dropped) or ``atoms``
    with fresh Maxwell-Boltzmann velocities; the step it is at, the random generator and the
    integrator's saved variables (None for a fresh start or a checkpoint without them)."""
    rng = np.random.default_rng(settings.seed)
    work = atoms.copy()
    if not ckpt.exists():
        if settings.init_velocities:
            thermalize_momenta(work, settings.temperature_K, rng=rng)
            Stationary(work)
            traj.unlink(missing_ok=True)
        return work, 0, rng, None
    saved = ase.io.read(ckpt)
    if saved.info.get("settings_key") != settings.key():
        raise SeiflowError(f"{out} holds a run with other settings; use another folder")
    start = int(saved.info["step"])
    state = _read_state(out / STATE_FILE, start)
    if state is not None:
        saved.cell = state.pop("cell")
        saved.positions = state.pop("positions")
        saved.set_momenta(state.pop("momenta"))
    else:
        log.warning("%s: no full-precision state for the checkpoint of step %d; the restart "
                    "continues in distribution, not bit-identically", out, start)
    frames = ase.io.read(traj, index=":") if traj.exists() else []
    frames = [f for f in frames if f.info["step"] <= start]  # drop frames after it
    if frames:
        ase.io.write(traj, frames, format="extxyz")
    else:
        traj.unlink(missing_ok=True)
    log.info("resuming %s from step %d", out, start)
    return saved, start, np.random.default_rng([settings.seed, start]), state


def _run_chunks(dyn, work: Atoms, settings: MDSettings, start: int, progress: bool,
                t0: float) -> None:
    """Advance ``dyn`` to ``settings.steps`` in chunks, checking for blow-ups, with a bar."""
    dt_fs, remaining = settings.timestep_fs, settings.steps - start
    with Progress(TextColumn("[bold]MD {task.fields[ens]}"), BarColumn(),
                  TextColumn("{task.completed}/{task.total} steps"),
                  TextColumn("{task.fields[rate]}"), TimeElapsedColumn(),
                  disable=not progress) as bar:
        job = bar.add_task("md", total=settings.steps, completed=start,
                           ens=settings.ensemble.upper(), rate="")
        chunk = max(1, min(remaining, settings.traj_stride * 10))
        done = 0
        while done < remaining:
            n = min(chunk, remaining - done)
            dyn.run(n)
            _check_finite(work, start + dyn.nsteps)
            done += n
            elapsed = time.perf_counter() - t0
            rate = done * dt_fs * 1e-6 / (elapsed / 86400) if elapsed > 0 else 0.0
            bar.update(job, completed=start + done, rate=f"{rate:.3g} ns/day")


def run_md(atoms: Atoms, calc: Calculator, settings: MDSettings, out_dir: str | Path,
           observers: list[Observer] | None = None, progress: bool = True) -> MDResult:
    """Run (or resume) MD in ``out_dir``: ``trajectory.extxyz``, ``thermo.csv`` (md/thermo.py),
    ``checkpoint.extxyz`` with ``checkpoint-state.npz``."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    traj, ckpt, thermo = out / "trajectory.extxyz", out / "checkpoint.extxyz", out / THERMO
    work, start, rng, state = _start(atoms, settings, out, traj, ckpt)
    if start == 0:
        fresh_thermo(thermo)
    else:
        truncate_thermo(thermo, start)
    work.calc = calc
    dyn = _dynamics(work, settings, rng)
    if state:
        _restore_dynamics(dyn, state)
    dt_fs = settings.timestep_fs
    remaining = settings.steps - start
    t0 = time.perf_counter()

    def step_now() -> int:
        return start + dyn.nsteps

    conserved = getattr(dyn, "get_conserved_energy", None)

    def write_frame() -> None:
        snap = _snapshot(work, step_now(), step_now() * dt_fs)
        ase.io.write(traj, snap, format="extxyz", append=True)
        append_thermo(thermo, [ase_thermo_row(work, step_now(), step_now() * dt_fs,
                                              conserved() if conserved else None)])

    def checkpoint() -> None:
        _check_finite(work, step_now())  # never checkpoint a blown-up state
        snap = _snapshot(work, step_now(), step_now() * dt_fs)
        snap.info["settings_key"] = settings.key()
        _write_state(out / STATE_FILE, work, dyn, step_now())  # first: the pair then matches
        _write_atomic(ckpt, snap)

    if start == 0:
        write_frame()
    dyn.attach(lambda: write_frame() if dyn.nsteps else None, interval=settings.traj_stride)
    dyn.attach(lambda: checkpoint() if dyn.nsteps else None, interval=settings.checkpoint_every)
    for fn, every in observers or []:
        dyn.attach(lambda fn=fn: fn(work, step_now()), interval=every)
    _run_chunks(dyn, work, settings, start, progress, t0)
    if step_now() % settings.checkpoint_every:
        checkpoint()
    wall = time.perf_counter() - t0
    final = work.copy()
    final.calc = None
    return MDResult(final, step_now(), traj, start, wall,
                    remaining * dt_fs * 1e-6 / (wall / 86400) if wall > 0 else 0.0)

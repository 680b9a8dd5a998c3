"""The one MD loop: an integrator backend (ASE in md/runner.py, batched torch in
md/batched.py) advanced from a start step to ``settings.steps``, with a frame and thermo rows
every ``traj_stride`` steps, a checkpoint every ``checkpoint_every`` steps and at the end
(md/output.py), observers at their own intervals, and a progress bar in ns/day.

Events fall on absolute step numbers (a frame at every multiple of ``traj_stride``), in this
order at a step: frame, checkpoint, observers; so an observer that stops the run (a
``GammaBreak``) leaves that step's frame and checkpoint written. A non-finite state is never
written: the run stops with a one-line error and the last checkpoint intact.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Protocol

import numpy as np
from ase import Atoms
from rich.progress import TextColumn

from seiflow.core.errors import SeiflowError
from seiflow.core.progress import progress_bar
from seiflow.md.output import MDOutput
from seiflow.md.settings import MDCommon

StepObserver = tuple[Callable[[int], None], int]  # fn(step), every n steps


class Integrator(Protocol):
    """An MD backend behind the loop: all its replicas advance together."""

    def run(self, n: int) -> None:
        """Advance ``n`` steps."""

    def finite(self) -> bool:
        """Whether positions and momenta are all finite."""

    def frames(self, step: int) -> list[Atoms]:
        """One frame per replica of the current state (info step, time_fs; the energy)."""

    def thermo_rows(self, step: int) -> list[list]:
        """One thermo.csv row per replica of the current state."""

    def state(self) -> dict[str, np.ndarray]:
        """Full-precision positions, momenta and cells (rows) and the integrator's variables."""


def _unstable(step: int) -> SeiflowError:
    return SeiflowError(f"MD became unstable by step {step}: non-finite positions or "
                        "velocities (the potential extrapolates, or the time step is too "
                        "large); the last checkpoint is intact")


def check_finite(integ: Integrator, step: int) -> None:
    if not integ.finite():
        raise _unstable(step)


def _run(integ: Integrator, n: int, step: int) -> None:
    """``n`` steps; a calculator that fails on a state gone non-finite (a neighbour list of NaN
    positions) is the MD's instability, said as such, not the calculator's error."""
    try:
        integ.run(n)
    except SeiflowError:
        raise
    except Exception as exc:
        if integ.finite():
            raise
        raise _unstable(step + n) from exc


def _next_event(step: int, settings: MDCommon, observers: Sequence[StepObserver]) -> int:
    every = [settings.traj_stride, settings.checkpoint_every, *(n for _, n in observers)]
    return min(settings.steps, *(step + n - step % n for n in every))


def _events(integ: Integrator, output: MDOutput, settings: MDCommon, step: int,
            observers: Sequence[StepObserver]) -> None:
    """What happens at ``step``: frame, checkpoint, observers, each where due."""
    if step % settings.traj_stride == 0:
        check_finite(integ, step)
        output.write(integ.frames(step), integ.thermo_rows(step))
    if step % settings.checkpoint_every == 0 or step == settings.steps:
        check_finite(integ, step)  # never checkpoint a blown-up state
        output.checkpoint(integ.frames(step), step, settings.key(), integ.state())
    for fn, every in observers:
        if step % every == 0:
            fn(step)


def drive(integ: Integrator, output: MDOutput, settings: MDCommon, start: int,
          observers: Sequence[StepObserver] = (), progress: bool = True, what: str = ""
          ) -> int:
    """Write the first frame (a fresh run) and step from ``start`` to ``settings.steps``;
    return the step reached."""
    if start == 0:
        output.write(integ.frames(0), integ.thermo_rows(0))
    if start < settings.steps:  # observers see the starting state too (as ASE's do)
        for fn, _ in observers:
            fn(start)
    step, dt_fs, t0 = start, settings.timestep_fs, time.perf_counter()
    with progress_bar(progress, TextColumn("{task.fields[rate]}")) as bar:
        job = bar.add_task(f"MD {what}", total=settings.steps, completed=start, rate="")
        while step < settings.steps:
            n = _next_event(step, settings, observers) - step
            _run(integ, n, step)
            step += n
            _events(integ, output, settings, step, observers)
            elapsed = time.perf_counter() - t0
            rate = (step - start) * dt_fs * 1e-6 * 86400 / elapsed if elapsed > 0 else 0.0
            bar.update(job, completed=step, rate=f"{rate:.3g} ns/day")
    return step

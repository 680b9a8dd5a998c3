"""The γ observer: one watch over the extrapolation grade for every MD path.

``GammaWatch`` is an MD observer (``run_md(..., observers=[(watch, every)])``) that reads γ
from the ``GradedCalculator`` on the atoms (also through wrappers such as an applied field) and
records it; batched MD hands it each replica's graded frames through ``record``. A step with
γ > ``select`` is passed to ``on_select`` (a candidate for labelling); γ > ``brk`` raises
``GammaBreak`` (the potential extrapolates too far to trust its forces). Steps up to
``skip_until`` (a restart's checkpoint step) are recorded but never selected.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import ase.io
import numpy as np
from ase import Atoms

from seiflow.core.errors import SeiflowError
from seiflow.potentials.base import Gradable
from seiflow.potentials.graded import graded_of, warn_if_ungraded


class GammaBreak(SeiflowError):
    """γ exceeded γ_break: the trajectory stops (its checkpoint and frames so far are kept)."""


# on_select(atoms, step, gamma, gammas): a frame whose γ exceeds the select threshold
OnSelect = Callable[[Atoms, int, float, np.ndarray], None]


@dataclass
class GammaWatch:
    """Records γ (max over atoms) of every observed step; selects and breaks on thresholds."""

    select: float | None = None
    brk: float | None = None
    on_select: OnSelect | None = None
    skip_until: int = 0
    max_gamma: float = 0.0
    last_step: int = 0
    gammas: list[float] = field(default_factory=list)  # one per observed step
    selected: int = 0  # steps passed to on_select
    broken_at: int | None = None

    def __call__(self, atoms: Atoms, step: int) -> None:
        """The MD observer: γ of the calculation at the current positions."""
        graded = current_gamma(atoms)
        if graded is None:  # an ungraded calculator (built-in, or a model without a grade)
            self.last_step = step
            return
        self.record(atoms, step, *graded)

    def record(self, atoms: Atoms, step: int, gamma: float, gammas: np.ndarray) -> None:
        """Record one graded structure at ``step``; select it, or break, by the thresholds."""
        self.gammas.append(gamma)
        self.max_gamma = max(self.max_gamma, gamma)
        self.last_step = step
        if self.select is not None and gamma > self.select and step > self.skip_until \
                and self.on_select is not None:
            self.on_select(atoms, step, gamma, np.asarray(gammas))
            self.selected += 1
        if self.brk is not None and gamma > self.brk:
            self.broken_at = step
            raise GammaBreak(f"γ = {gamma:.3g} > γ_break = {self.brk:g} at step {step}")

    def above(self, threshold: float) -> int:
        """How many observed steps had γ above ``threshold``."""
        return sum(g > threshold for g in self.gammas)


def graded_frame(atoms: Atoms, step: int, gamma: float, gammas: np.ndarray) -> Atoms:
    """A copy of a graded state to keep (a candidate for labelling): no calculator, the step
    and largest γ in ``info``, per-atom γ in ``arrays["gamma"]``."""
    frame = atoms.copy()
    frame.calc = None
    frame.arrays["gamma"] = np.array(gammas, float)
    frame.info.update(step=step, gamma=gamma)
    return frame


def current_gamma(atoms: Atoms) -> tuple[float, np.ndarray] | None:
    """γ (largest over atoms) and per-atom γ of the calculation at ``atoms``' current state,
    from the GradedCalculator on it (also through wrappers such as an applied field): its
    results of this state are read, so nothing is graded twice (a state it has not seen is
    computed once). None: the calculator grades nothing."""
    calc = graded_of(atoms.calc)
    if calc is None:
        return None
    gamma = float(calc.get_property("gamma", atoms) if calc is atoms.calc
                  else calc.results["gamma"])
    return gamma, calc.results["gammas"]


def frame_grader(model) -> Callable[[Atoms], np.ndarray] | None:
    """Per-atom γ of a frame from a gradable seiflow model (None: a bare torch-sim model, or a
    model without an active set, whose frames are not graded)."""
    if isinstance(model, Gradable) and model.active_set is not None:
        return model.grade
    warn_if_ungraded(model, "this MD")
    return None


def gamma_trace(trajectory: Path) -> tuple[np.ndarray, np.ndarray] | None:
    """(time in fs, largest γ) of the frames of a trajectory that carry ``info["gamma"]``
    (None: no frame graded, e.g. a built-in calculator)."""
    points = [(f.info["time_fs"], f.info["gamma"])
              for f in ase.io.iread(trajectory, index=":") if "gamma" in f.info] \
        if Path(trajectory).is_file() else []
    if not points:
        return None
    t, g = np.array(points, float).T
    return t, g

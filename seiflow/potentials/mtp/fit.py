"""Fitting an MTP to labelled structures.

The loss and its two weightings (``structures``, ``mlip``) are defined exactly in
:mod:`seiflow.potentials.mtp.problem`; the optimizers in :mod:`seiflow.potentials.mtp.optimize`.

1. Start: random radial coefficients (seeded), or a previous model's; the linear coefficients
   (moment and species coefficients) are then solved exactly by weighted least squares.
2. Then all coefficients by Levenberg–Marquardt (default; or variable projection, or BFGS);
   only steps that lower the loss are kept, so the fit never ends above its linear start.
3. The linear coefficients are re-solved exactly at the end (variable projection does so at
   every step), and the model's mean energy residual on its training set is reported (≈ 0); an
   offset above ``offset_tolerance`` is logged as a warning and recorded.

Passes over the data are shared among ``workers`` processes (about equal atom counts), each
summing its structures' normal-equation blocks, so memory does not grow with the data and a pass
takes about 1/workers of the time. ``max_time`` is checked inside every pass (time is kept for
the final exact solve): the fit ends at the limit with the best model so far. A ``checkpoint``
file holds the best coefficients and the optimizer's state after every step: a killed fit
started again with the same settings and data continues from there. Progress is a bar on a
terminal and a log line per step otherwise.
"""

from __future__ import annotations

import copy
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from ase import Atoms
from ase.neighborlist import neighbor_list
from motep.potentials.mtp.data import MTPData

from seiflow.core.atomic import atomic_path
from seiflow.core.fingerprint import Fingerprint, canonical_json
from seiflow.core.progress import progress_bar
from seiflow.data.labels import Label, fit_weight
from seiflow.potentials.active import ActiveSet
from seiflow.potentials.mtp.levels import mtp_basis
from seiflow.potentials.mtp.model import MTPModel, new_mtp_data
from seiflow.potentials.mtp.optimize import OPTIMIZERS, Projection, Step, project, resolve_linear
from seiflow.potentials.mtp.problem import (ALL, Blocks, FitError, FitTimeLimit, Problem,
                                           make_targets)
from seiflow.potentials.mtp.settings import DEFAULT_MAX_ITER, DEFAULT_WEIGHTS

log = logging.getLogger(__name__)

__all__ = ["FitError", "FitHistory", "fit_mtp", "fit_parameters", "shortest_distance"]


def shortest_distance(frames: Sequence[Atoms], cutoff: float) -> float:
    """Shortest interatomic distance (Å) in ``frames`` within ``cutoff``."""
    dmin = np.inf
    for atoms in frames:
        d = neighbor_list("d", atoms, cutoff)
        if d.size:
            dmin = min(dmin, float(d.min()))
    return dmin


@dataclass
class FitHistory:
    """The fit's course: per accepted step the wall time (s), train-mode passes and loss per
    component (energy, forces, stress); why it stopped; the final training residuals."""

    time: list[float]
    passes: list[int]
    loss: list[list[float]]
    stop_reason: str
    wall_time: float = 0.0
    damping: float = 0.0  # the optimizer's damping λ at the end (0: not used / not recorded)
    residuals: dict = field(default_factory=dict)
    rows: np.ndarray | None = None  # active-set rows of the training atoms at the end

    @property
    def total(self) -> list[float]:
        return [float(sum(x)) for x in self.loss]

    @property
    def pass_time(self) -> float:
        """Wall time of the first recorded step per train-mode pass (s)."""
        return self.time[0] / max(self.passes[0], 1) if self.time else 0.0


_BLOCKS = ("pass_loss", "jtj", "jtr", "aa", "ar")


@dataclass
class _State:
    """Where a fit stands: what a checkpoint holds (the best coefficients, the history so far,
    the LM damping and stall count)."""

    theta: np.ndarray
    history: FitHistory
    lam: float = 1e-3
    stalls: int = 0
    projection: Projection | None = None  # varpro's last pass, so a resumed fit repeats none

    @property
    def steps(self) -> int:
        return max(len(self.history.loss) - 1, 0)

    def save(self, path: Path, key: str) -> None:
        h, p = self.history, self.projection
        blocks = {} if p is None else \
            {"theta_in": p.theta_in, **dict(zip(_BLOCKS, p.blocks._parts()))}
        with atomic_path(path) as tmp, open(tmp, "wb") as fh:
            np.savez(fh, key=key, theta=self.theta, loss=np.array(h.loss), time=np.array(h.time),
                     passes=np.array(h.passes), lam=self.lam, stalls=self.stalls, **blocks)

    @classmethod
    def load(cls, path: Path | None, key: str, n_parameters: int) -> _State | None:
        """The state saved by a killed run of this very fit, if any."""
        if path is None or not path.exists():
            return None
        try:
            with np.load(path) as f:
                if str(f["key"]) != key or f["theta"].shape != (n_parameters,):
                    log.warning("ignoring MTP fit checkpoint %s: it belongs to another fit", path)
                    return None
                history = FitHistory([float(x) for x in f["time"]],
                                     [int(x) for x in f["passes"]], f["loss"].tolist(), "")
                p = project(f["theta_in"], Blocks(*(f[b] for b in _BLOCKS))) \
                    if "theta_in" in f else None
                return cls(f["theta"].copy(), history, float(f["lam"]), int(f["stalls"]), p)
        except (OSError, ValueError, KeyError) as exc:  # a half-written file: start again
            log.warning("ignoring unreadable MTP fit checkpoint %s (%s)", path, exc)
            return None


def _describe(loss: np.ndarray, weights: tuple[float, float, float], weighting: str) -> str:
    """A step's loss per component; with the structures weighting also as RMS errors."""
    text = f"loss {loss.sum():.4e} (E {loss[0]:.3e}, F {loss[1]:.3e}, S {loss[2]:.3e})"
    if weighting == "structures" and weights[0] > 0 and weights[1] > 0:
        text += (f" ~ {1e3 * np.sqrt(loss[0] / weights[0]):.3g} meV/atom, "
                 f"{np.sqrt(loss[1] / weights[1] / 3):.3g} eV/Å")
    return text


class _Recorder:
    """The optimizers' step callback: records a step that lowered the loss (history,
    checkpoint, progress) and says whether the time budget is spent."""

    def __init__(self, state: _State, t0: float, deadline: float | None,
                 checkpoint: Path | None, key: str, show, describe):
        self.state, self.t0, self.deadline = state, t0, deadline
        self.checkpoint, self.key, self.show, self.describe = checkpoint, key, show, describe

    def __call__(self, s: Step) -> bool:
        state, h = self.state, self.state.history
        out_of_time = self.deadline is not None and time.time() > self.deadline
        if h.loss and not s.loss.sum() < sum(h.loss[-1]):
            return out_of_time
        state.theta, state.lam, state.stalls = s.theta.copy(), s.lam, s.stalls
        h.damping = s.lam
        state.projection = s.projection
        h.time.append(time.perf_counter() - self.t0)
        h.passes.append(s.passes)
        h.loss.append([float(x) for x in s.loss])
        if self.checkpoint is not None:
            state.save(self.checkpoint, self.key)
        self.show(f"{self.describe(s.loss)}, {h.time[-1]:.0f} s")
        return self.deadline is not None and time.time() > self.deadline


def _show(bar, job, steps: int, text: str, progress: bool) -> None:
    """The fit's progress: the bar on a terminal, else one log line per step."""
    bar.update(job, completed=steps, description=f"MTP fit {text}")
    if not progress or not bar.console.is_terminal:
        log.info("MTP fit step %d: %s", steps, text)


def fit_parameters(model: MTPModel, frames: Sequence[Atoms], weights: tuple[float, float, float],
                   optimizer: str = "lm", max_iter: int = DEFAULT_MAX_ITER, tol: float = 1e-6,
                   max_time: float | None = None, progress: bool = True, workers: int = 1,
                   checkpoint: Path | None = None, key: str = "",
                   weighting: str = "structures", damping: float = 0.0) -> FitHistory:
    """Fit ``model``'s coefficients in place to the labelled ``frames``; leaves the best
    coefficients seen (by the training loss) in the model.

    ``workers``: processes computing the passes (structures shared among them). ``max_time``:
    seconds, checked inside every pass (a resumed fit counts both runs). ``checkpoint``: file
    rewritten after every step, so that a killed fit with the same ``key`` continues where it
    stopped; removed at the end. ``damping``: the LM damping λ to start with (0: the
    optimizer's own; see _start_damping).
    """
    if optimizer not in OPTIMIZERS:
        raise FitError(f"unknown MTP optimizer {optimizer!r} (one of {', '.join(OPTIMIZERS)})")
    data = model.data
    data.optimized = list(ALL)
    checkpoint = Path(checkpoint) if checkpoint is not None else None
    state = _State.load(checkpoint, key, data.number_of_parameters_optimized)
    if state is None:
        state = _State(data.parameters.copy(), FitHistory([], [], [], ""), lam=damping)
    else:
        log.info("MTP fit resumed after %d steps from %s", state.steps, checkpoint)
    spent = state.history.time[-1] if state.history.time else 0.0
    t0 = time.perf_counter() - spent
    deadline = time.time() + max_time - spent if max_time is not None else None
    targets = make_targets(frames, weights, weighting)
    with Problem(model, targets, workers, deadline) as problem, \
            progress_bar(progress) as bar:
        job = bar.add_task(f"MTP fit ({optimizer})", total=max_iter, completed=state.steps)
        step = _Recorder(state, t0, deadline, checkpoint, key,
                         lambda text: _show(bar, job, state.steps, text, progress),
                         lambda loss: _describe(loss, weights, weighting))
        try:
            if not state.history.loss and optimizer != "varpro":  # varpro starts with it
                first = resolve_linear(problem, state.theta, deadline=True)
                step(Step(first.theta, first.loss, state.lam, passes=1))
            if optimizer != "varpro" and deadline is not None:  # keep time for the final solve
                problem.deadline = deadline - 1.2 * state.history.pass_time
            left, reason = max_iter - state.steps, "iteration limit"
            if left > 0 or not state.history.loss:
                reason = OPTIMIZERS[optimizer](problem, state.theta, state.lam, state.stalls,
                                               left, tol, step, state.projection)
        except FitTimeLimit:
            reason = "time limit"
        if not state.history.loss:
            raise FitError(f"the MTP fit's time limit ({max_time} s) ended it before the first "
                           "pass over the training data finished; give it more time")
        if optimizer != "varpro":  # re-solve the linear coefficients exactly, as MLIP does
            final = resolve_linear(problem, state.theta)
            if final.total <= sum(state.history.loss[-1]):
                step(Step(final.theta, final.loss, state.lam, state.stalls, 1))
        data.optimized, data.parameters, history = list(ALL), state.theta, state.history
        history.stop_reason, history.wall_time = reason, time.perf_counter() - t0
        history.residuals = _residuals(model, frames)
        history.rows = problem.rows(state.theta)
    if checkpoint is not None:
        checkpoint.unlink(missing_ok=True)  # the fit is complete
    return history


def _residuals(model: MTPModel, frames: Sequence[Atoms]) -> dict:
    """Mean and RMS per-atom energy residual (meV/atom) of ``model`` on ``frames``."""
    calc = model.calculator(grade=False)
    err = []
    for atoms in frames:
        label = Label.from_atoms(atoms)
        calc.calculate(atoms, ["energy"])
        err.append((calc.results["energy"] - label.energy) / len(atoms))
    err = 1e3 * np.asarray(err)
    return {"energy_mean_meV_per_atom": float(err.mean()),
            "energy_rmse_meV_per_atom": float(np.sqrt(np.mean(err**2)))}


def fit_mtp(train: Sequence[Atoms], level: int = 16, cutoff: float = 5.0,
            min_dist: float | None = None, radial_basis_size: int = 8,
            weights: tuple[float, float, float] = DEFAULT_WEIGHTS,
            optimizer: str = "lm", max_iter: int = DEFAULT_MAX_ITER, tol: float = 1e-6,
            max_time: float | None = None, seed: int = 0, progress: bool = True,
            start: MTPModel | None = None, workers: int = 1, checkpoint: Path | None = None,
            weighting: str = "structures", offset_tolerance: float = 1.0) -> MTPModel:
    """A new MTP fitted to ``train``, with its active set built from the same structures.

    ``start``: continue from this model's coefficients (same species, level, radial basis) —
    how the active-learning loop refits after adding structures — instead of random ones.
    ``workers``: processes for the fit. ``checkpoint``: see :func:`fit_parameters`.
    ``offset_tolerance``: meV/atom; a larger mean energy residual on the training set is warned
    about and recorded (``training.energy_offset_ok`` in model.json).
    """
    if not train:
        raise FitError("no training structures")
    species = training_species(train)
    dmin = shortest_distance(train, cutoff)
    warm = start is not None and continues(start, species, level, cutoff, radial_basis_size)
    data, min_dist = _start_data(start if warm else None, species, level, cutoff, min_dist,
                                 radial_basis_size, dmin, seed)
    model = MTPModel(data=data, species=species, level=level)
    settings = {"level": level, "cutoff_A": cutoff, "min_dist_A": min_dist,
                "radial_basis_size": radial_basis_size, "weights": list(weights),
                "weighting": weighting, "optimizer": optimizer, "max_iter": max_iter,
                "tol": tol, "max_time_s": max_time, "seed": seed, "warm_start": warm,
                "workers": workers}
    key = _fit_key(settings, data, train) if checkpoint is not None else ""
    history = fit_parameters(model, train, weights, optimizer, max_iter, tol, max_time, progress,
                             workers=workers, checkpoint=checkpoint, key=key,
                             weighting=weighting, damping=_start_damping(start) if warm else 0.0)
    model.active_set = ActiveSet.from_matrix(history.rows)
    _warn_incomplete(model.active_set, level)
    offset = history.residuals["energy_mean_meV_per_atom"]
    if abs(offset) > offset_tolerance:
        log.warning("THE FITTED MTP HAS A MEAN ENERGY OFFSET OF %+.2f meV/atom ON ITS OWN "
                    "TRAINING SET (tolerance %.2f): its energies are shifted; check the fit's "
                    "stop reason (%s) and the loss weights", offset, offset_tolerance,
                    history.stop_reason)
    model.record = {
        "settings": settings,
        "training": {"structures": len(train), "atoms": int(sum(len(a) for a in train)),
                     "shortest_distance_A": dmin, "loss": history.total,
                     "loss_components": history.loss, "time_s": history.time,
                     "passes": history.passes, **history.residuals,
                     "energy_offset_ok": abs(offset) <= offset_tolerance,
                     "wall_time_s": round(history.wall_time, 2), "stop": history.stop_reason,
                     "final_damping": history.damping,
                     "converged": history.stop_reason not in LIMITS,
                     "active_set_complete": model.active_set.complete,
                     "active_set_missing_directions": model.active_set.missing},
    }
    return model


WARM_DAMPING = 1e-9

# stop reasons that end a fit before its loss stopped falling (not converged)
LIMITS = ("time limit", "iteration limit")

# stopping limits and the number of processes do not change where a fit goes
_NOT_IN_KEY = ("max_iter", "tol", "max_time_s", "workers")


def _start_data(start: MTPModel | None, species: tuple[str, ...], level: int, cutoff: float,
                min_dist: float | None, radial_basis_size: int, dmin: float, seed: int
                ) -> tuple[MTPData, float]:
    """The coefficients a fit starts from (a copy of a compatible ``start``, or random ones
    with the radial basis from ``min_dist``, by default just below the shortest distance) and
    the basis's min_dist (Å)."""
    if start is not None:
        return copy.deepcopy(start.data), float(start.data.radial_basis.min)
    if min_dist is None:
        min_dist = max(0.5, float(np.floor((dmin - 0.05) * 20) / 20)) \
            if np.isfinite(dmin) else 1.0
    if min_dist >= cutoff:
        raise FitError(f"min_dist {min_dist} Å must be below the cutoff {cutoff} Å")
    rng = np.random.default_rng(seed)
    return new_mtp_data(mtp_basis(level), species, cutoff, min_dist, radial_basis_size,
                        rng), min_dist


def _warn_incomplete(active_set: ActiveSet, level: int) -> None:
    if not active_set.complete:
        log.warning("the training neighbourhoods leave %d of the %d basis directions of this "
                    "MTP (level %d) unspanned. From level 16 on some are expected (per species: "
                    "1 at level 16, 2 at 18, 6 at 20, 14 at 22): exact identities among the "
                    "basis functions, along which no structure moves; they do no harm. More "
                    "mean too little or too uniform training data: structures moving along "
                    "those get a very large γ", active_set.missing, active_set.rows.shape[0],
                    level)


def _fit_key(settings: dict, data: MTPData, train: Sequence[Atoms]) -> str:
    """What a checkpoint must match to be resumed: settings, starting coefficients, data."""
    h = Fingerprint(canonical_json({k: v for k, v in settings.items() if k not in _NOT_IN_KEY}))
    data.optimized = list(ALL)
    h.update(np.asarray(data.parameters))
    for atoms in train:
        label = Label.from_atoms(atoms)
        h.update(atoms.positions, atoms.cell.array, atoms.numbers, repr(label.energy))
        weight = fit_weight(atoms)
        if weight != 1.0:
            h.update(repr(weight))
    return h.hex()


def _start_damping(start: MTPModel) -> float:
    """The damping a warm start continues with: the one its start model's fit ended with, or,
    for a model saved without it, ``WARM_DAMPING`` (nearly Gauss–Newton; the optimizer raises it
    by ×4 per refused trial step where that is too small). So a fit stopped at its time limit
    continues at the pace it stopped at: a fresh start's damping (1e-3) takes small steps whose
    small loss decreases pass the ``tol`` test and end the fit as falsely converged."""
    record = getattr(start, "record", None) or {}
    return float((record.get("training") or {}).get("final_damping") or WARM_DAMPING)


def training_species(train: Sequence[Atoms]) -> tuple[str, ...]:
    """The elements of ``train`` by atomic number: the species of an MTP fitted to it."""
    return tuple(sorted({s for a in train for s in a.get_chemical_symbols()},
                        key=lambda s: Atoms(s).numbers[0]))


def continues(start: MTPModel, species: tuple[str, ...], level: int, cutoff: float,
              radial_basis_size: int) -> bool:
    """Whether a fit with these settings can start from ``start``'s coefficients (a warm
    start); otherwise ``fit_mtp`` starts from random ones."""
    rb = start.data.radial_basis
    return (start.species == species and start.level == level and float(rb.max) == cutoff
            and int(rb.size) == radial_basis_size)

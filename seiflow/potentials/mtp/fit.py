"""Fitting an MTP to labelled structures.

Loss (MLIP's "vibrational" weighting, averaged over structures k with N_k atoms, volume V_k):

    L = 1/K Σ_k [ w_E (ΔE_k/N_k)² + w_F/N_k Σ_i |ΔF_i|² + w_S (V_k/N_k)² ‖Δσ_k‖²_F ]

with defaults w_E, w_F, w_S = 1, 0.01, 0.001 (eV, eV/Å, eV/Å³), as the reference paper's MLIP run.

1. Start: random radial coefficients (seeded), then the linear coefficients (moment and species
   coefficients, on which every prediction depends linearly) by linear least squares.
2. Then all coefficients: Levenberg–Marquardt on the residuals of L, with motep's analytic
   Jacobian of energies, forces and stresses (default); or scipy's BFGS on L and its gradient.
   LM reached several times lower errors than quasi-Newton in the same time on mlearn-Li
   (../shared/design.md, docs/potentials.md).

Jacobians are accumulated as normal equations JᵀJ, Jᵀr one structure at a time, so memory does
not grow with the data set.
"""

from __future__ import annotations

import copy
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from ase import Atoms
from ase.neighborlist import neighbor_list
from ase.stress import full_3x3_to_voigt_6_stress
from scipy.linalg import LinAlgError, cho_factor, cho_solve

from seiflow.core.errors import SeiflowError
from seiflow.core.progress import progress_bar
from seiflow.data.labels import Label
from seiflow.potentials.active import ActiveSet
from seiflow.potentials.mtp.levels import mtp_basis
from seiflow.potentials.mtp.model import MTPModel, new_engine, new_mtp_data

log = logging.getLogger(__name__)

# Voigt weights so that Σ w·Δσ_voigt² equals the squared Frobenius norm of the full tensor
_VOIGT_W = np.sqrt(np.array([1.0, 1.0, 1.0, 2.0, 2.0, 2.0]))
_LINEAR = ("moment_coeffs", "species_coeffs")
_ALL = ("moment_coeffs", "species_coeffs", "radial_coeffs")


@dataclass
class _Target:
    atoms: Atoms
    energy: float
    forces: np.ndarray
    stress: np.ndarray | None  # ASE Voigt, eV/Å³
    sqrt_w: np.ndarray  # residual weights: energy, forces, stress


class FitError(SeiflowError):
    """Training data the fit cannot use."""


def _targets(frames: Sequence[Atoms], weights: tuple[float, float, float]) -> list[_Target]:
    out = []
    for k, atoms in enumerate(frames):
        label = Label.from_atoms(atoms)
        where = atoms.info.get("source", f"training structure {k}")
        if label.energy is None or label.forces is None:
            raise FitError(f"{where} has no energy or forces label")
        n = len(atoms)
        periodic = atoms.cell.rank == 3 and all(atoms.pbc)
        stress = label.stress if periodic else None
        v = atoms.get_volume() if periodic else 0.0
        we, wf, ws = weights
        sqrt_w = np.array([np.sqrt(we) / n, np.sqrt(wf / n), np.sqrt(ws) * v / n])
        out.append(_Target(atoms, label.energy, label.forces, stress, sqrt_w))
    return out


def shortest_distance(frames: Sequence[Atoms], cutoff: float) -> float:
    """Shortest interatomic distance (Å) in ``frames`` within ``cutoff``."""
    dmin = np.inf
    for atoms in frames:
        d = neighbor_list("d", atoms, cutoff)
        if d.size:
            dmin = min(dmin, float(d.min()))
    return dmin


class _Problem:
    """Residuals and normal equations of the loss over a fixed set of structures."""

    def __init__(self, model: MTPModel, targets: list[_Target], cache_limit_atoms: int = 60_000):
        self.model, self.targets = model, targets
        natoms = sum(len(t.atoms) for t in targets)
        self.cache = natoms <= cache_limit_atoms
        self._train: dict[int, object] = {}
        self._run: dict[int, object] = {}

    def _engine(self, k: int, mode: str):
        store = self._train if mode == "train" else self._run
        if k in store:
            return store[k]
        engine = new_engine(self.model.data, mode=mode)
        if self.cache:
            store[k] = engine
        return engine

    def residuals(self, k: int, res: dict) -> np.ndarray:
        t = self.targets[k]
        parts = [np.atleast_1d(t.sqrt_w[0] * (res["energy"] - t.energy)),
                 t.sqrt_w[1] * (res["forces"] - t.forces).ravel()]
        if t.stress is not None:
            parts.append(t.sqrt_w[2] * _VOIGT_W * (res["stress"] - t.stress))
        return np.concatenate(parts)

    def loss(self) -> float:
        """Loss at the model's current parameters (run mode: no derivatives)."""
        total = 0.0
        for k, t in enumerate(self.targets):
            r = self.residuals(k, self._engine(k, "run").calculate(t.atoms))
            total += float(r @ r)
        return total / len(self.targets)

    def normal_equations(self, groups: tuple[str, ...]) -> tuple[float, np.ndarray, np.ndarray]:
        """Loss, JᵀJ and Jᵀr (per structure averaged) for the parameter ``groups``."""
        data = self.model.data
        data.optimized = list(groups)
        p = data.number_of_parameters_optimized
        jtj, jtr, total = np.zeros((p, p)), np.zeros(p), 0.0
        for k, t in enumerate(self.targets):
            engine = self._engine(k, "train")
            engine.update(data)
            res = engine.calculate(t.atoms)
            r = self.residuals(k, res)
            jac = [t.sqrt_w[0] * engine.jac_energy(t.atoms).parameters[None, :],
                   t.sqrt_w[1] * engine.jac_forces(t.atoms).parameters.reshape(p, -1).T]
            if t.stress is not None:
                js = engine.jac_stress(t.atoms).parameters  # (p, 3, 3)
                js = np.stack([full_3x3_to_voigt_6_stress(m) for m in js])
                jac.append(t.sqrt_w[2] * (js * _VOIGT_W).T)
            j = np.vstack(jac)
            jtj += j.T @ j
            jtr += j.T @ r
            total += float(r @ r)
        n = len(self.targets)
        return total / n, jtj / n, jtr / n


def _solve(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    try:
        return cho_solve(cho_factor(a), b)
    except LinAlgError:
        return np.linalg.lstsq(a, b, rcond=None)[0]


def _linear_start(problem: _Problem) -> float:
    """Exact least-squares linear coefficients for the current radial coefficients."""
    data = problem.model.data
    loss, jtj, jtr = problem.normal_equations(_LINEAR)
    ridge = 1e-12 * np.trace(jtj) / len(jtj)
    data.parameters = data.parameters - _solve(jtj + ridge * np.eye(len(jtj)), jtr)
    return problem.loss()


@dataclass
class FitHistory:
    """Loss after every accepted step, wall time (s) and why the fit stopped."""

    loss: list[float]
    wall_time: float
    stop_reason: str


def fit_parameters(model: MTPModel, frames: Sequence[Atoms], weights: tuple[float, float, float],
                   optimizer: str = "lm", max_iter: int = 100, tol: float = 1e-6,
                   max_time: float | None = None, progress: bool = True,
                   callback: Callable[[int, float], None] | None = None) -> FitHistory:
    """Fit ``model``'s coefficients in place to the labelled ``frames``."""
    t0 = time.perf_counter()
    problem = _Problem(model, _targets(frames, weights))
    losses = [_linear_start(problem)]
    fitter = _levenberg_marquardt if optimizer == "lm" else _bfgs
    with progress_bar(progress) as bar:
        job = bar.add_task(f"MTP fit ({optimizer})", total=max_iter)

        def step(it: int, loss: float) -> bool:
            """Record a step; True when the time budget is spent."""
            losses.append(loss)
            bar.update(job, completed=it + 1, description=f"MTP fit ({optimizer}) loss {loss:.3e}")
            if callback:
                callback(it, loss)
            return max_time is not None and time.perf_counter() - t0 > max_time

        reason = fitter(problem, max_iter, tol, step)
    model.data.optimized = list(_ALL)
    return FitHistory(losses, time.perf_counter() - t0, reason)


def _levenberg_marquardt(problem: _Problem, max_iter: int, tol: float,
                         step: Callable[[int, float], bool]) -> str:
    data = problem.model.data
    loss, jtj, jtr = problem.normal_equations(_ALL)
    lam, stalls = 1e-3, 0
    for it in range(max_iter):
        theta = data.parameters.copy()
        diag = np.maximum(np.diag(jtj), 1e-12 * np.diag(jtj).max())
        while True:
            data.parameters = theta - _solve(jtj + lam * np.diag(diag), jtr)
            trial = problem.loss()
            if np.isfinite(trial) and trial < loss:
                lam = max(lam / 3.0, 1e-12)
                break
            lam *= 4.0
            if lam > 1e10:
                data.parameters = theta
                return "no further decrease (damping limit)"
        gain = (loss - trial) / loss
        loss = trial
        if step(it, loss):
            return "time limit"
        stalls = stalls + 1 if gain < tol else 0
        if stalls >= 3:
            return f"relative decrease < {tol:g} for 3 steps"
        loss, jtj, jtr = problem.normal_equations(_ALL)
    return "iteration limit"


def _bfgs(problem: _Problem, max_iter: int, tol: float,
          step: Callable[[int, float], bool]) -> str:
    from scipy.optimize import minimize

    data = problem.model.data
    counter = iter(range(10**9))

    def fun(theta: np.ndarray) -> tuple[float, np.ndarray]:
        data.parameters = theta
        loss, _, jtr = problem.normal_equations(_ALL)
        return loss, 2.0 * jtr

    data.optimized = list(_ALL)
    def on_step(intermediate_result) -> None:
        if step(next(counter), float(intermediate_result.fun)):
            raise StopIteration  # scipy ends the run and keeps the current point

    res = minimize(fun, data.parameters.copy(), jac=True, method="BFGS",
                   options={"maxiter": max_iter, "gtol": 0.0}, callback=on_step)
    data.parameters = res.x
    return str(res.message)


def fit_mtp(train: Sequence[Atoms], level: int = 16, cutoff: float = 5.0,
            min_dist: float | None = None, radial_basis_size: int = 8,
            weights: tuple[float, float, float] = (1.0, 0.01, 0.001), optimizer: str = "lm",
            max_iter: int = 100, tol: float = 1e-6, max_time: float | None = None,
            seed: int = 0, progress: bool = True, start: MTPModel | None = None) -> MTPModel:
    """A new MTP fitted to ``train``, with its active set built from the same structures.

    ``start``: continue from this model's coefficients (same species, level, radial basis) —
    how the active-learning loop refits after adding structures — instead of random ones.
    """
    if not train:
        raise FitError("no training structures")
    species = tuple(sorted({s for a in train for s in a.get_chemical_symbols()},
                           key=lambda s: Atoms(s).numbers[0]))
    dmin = shortest_distance(train, cutoff)
    warm = start is not None and _compatible(start, species, level, cutoff, radial_basis_size)
    if warm:
        min_dist = float(start.data.radial_basis.min)
        data = copy.deepcopy(start.data)
    else:
        if min_dist is None:
            min_dist = max(0.5, float(np.floor((dmin - 0.05) * 20) / 20)) \
                if np.isfinite(dmin) else 1.0
        if min_dist >= cutoff:
            raise FitError(f"min_dist {min_dist} Å must be below the cutoff {cutoff} Å")
        rng = np.random.default_rng(seed)
        data = new_mtp_data(mtp_basis(level), species, cutoff, min_dist, radial_basis_size, rng)
    model = MTPModel(data=data, species=species, level=level)
    history = fit_parameters(model, train, weights, optimizer, max_iter, tol, max_time, progress)
    model.active_set = ActiveSet.from_matrix(np.vstack([model.rows(a) for a in train]))
    if not model.active_set.complete:
        log.warning("the training neighbourhoods do not span every basis direction of this "
                    "MTP (level %d): structures moving along the missing ones get a very large "
                    "γ; more varied training data or a lower level avoids this", level)
    model.record = {
        "settings": {"level": level, "cutoff_A": cutoff, "min_dist_A": min_dist,
                     "radial_basis_size": radial_basis_size, "weights": list(weights),
                     "optimizer": optimizer, "max_iter": max_iter, "tol": tol,
                     "max_time_s": max_time, "seed": seed, "warm_start": warm},
        "training": {"structures": len(train), "atoms": int(sum(len(a) for a in train)),
                     "shortest_distance_A": dmin, "loss": history.loss,
                     "wall_time_s": round(history.wall_time, 2), "stop": history.stop_reason,
                     "active_set_complete": model.active_set.complete},
    }
    return model


def _compatible(start: MTPModel, species: tuple[str, ...], level: int, cutoff: float,
                radial_basis_size: int) -> bool:
    rb = start.data.radial_basis
    return (start.species == species and start.level == level and float(rb.max) == cutoff
            and int(rb.size) == radial_basis_size)

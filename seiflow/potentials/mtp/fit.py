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
not grow with the data set. With ``workers`` > 1 the structures are shared among that many
processes (about equal atom counts), each summing its own JᵀJ, Jᵀr; the Jacobian is most of the
cost of a step, so a step takes about 1/workers of the time.

A ``checkpoint`` file holds the coefficients and the optimizer's state after every step: a killed
fit started again with the same settings and data continues from there.
"""

from __future__ import annotations

import copy
import hashlib
import json
import logging
import multiprocessing as mp
import time
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from ase import Atoms
from ase.neighborlist import neighbor_list
from ase.stress import full_3x3_to_voigt_6_stress
from motep.potentials.mtp.data import MTPData
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


class _Shard:
    """Loss and normal-equation sums over some of the structures, at given parameters.

    Holds its own copy of the parameters and one motep engine per structure (engines keep the
    neighbour list of the first structure they see)."""

    def __init__(self, data: MTPData, targets: list[_Target], cache_limit_atoms: int = 60_000):
        self.data, self.targets = copy.deepcopy(data), targets
        self.cache = sum(len(t.atoms) for t in targets) <= cache_limit_atoms
        self._engines: dict[tuple[int, str], object] = {}

    def _engine(self, k: int, mode: str):
        engine = self._engines.get((k, mode))
        if engine is None:
            engine = new_engine(self.data, mode=mode)
            if self.cache:
                self._engines[k, mode] = engine
        return engine

    def _set(self, theta: np.ndarray, groups: tuple[str, ...]) -> None:
        self.data.optimized = list(_ALL)
        self.data.parameters = theta
        self.data.optimized = list(groups)

    def residuals(self, k: int, res: dict) -> np.ndarray:
        t = self.targets[k]
        parts = [np.atleast_1d(t.sqrt_w[0] * (res["energy"] - t.energy)),
                 t.sqrt_w[1] * (res["forces"] - t.forces).ravel()]
        if t.stress is not None:
            parts.append(t.sqrt_w[2] * _VOIGT_W * (res["stress"] - t.stress))
        return np.concatenate(parts)

    def loss(self, theta: np.ndarray) -> float:
        """Σ_k |r_k|² (run mode: no derivatives)."""
        self._set(theta, _ALL)
        total = 0.0
        for k, t in enumerate(self.targets):
            r = self.residuals(k, self._engine(k, "run").calculate(t.atoms))
            total += float(r @ r)
        return total

    def normal_equations(self, theta: np.ndarray, groups: tuple[str, ...]
                         ) -> tuple[float, np.ndarray, np.ndarray]:
        """Σ_k |r_k|², Σ_k J_kᵀJ_k and Σ_k J_kᵀr_k for the parameter ``groups``."""
        self._set(theta, groups)
        data = self.data
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
        return total, jtj, jtr


def _serve(conn, data: MTPData, targets: list[_Target]) -> None:
    """A worker process: answers (method, theta, groups) requests on ``conn`` until None."""
    from threadpoolctl import threadpool_limits

    threadpool_limits(1)  # one core per worker: the workers are the parallelism
    shard = _Shard(data, targets)
    while True:
        try:
            request = conn.recv()
        except (EOFError, KeyboardInterrupt):  # the fit was stopped or killed
            return
        if request is None:
            return
        method, args = request
        try:
            conn.send(("ok", getattr(shard, method)(*args)))
        except Exception:  # noqa: BLE001 - handed to the parent, which raises it
            conn.send(("error", traceback.format_exc()))


def _split(targets: list[_Target], n: int) -> list[list[_Target]]:
    """``targets`` in ``n`` shards of about equal atom count (the cost), largest first."""
    shards: list[list[_Target]] = [[] for _ in range(n)]
    load = np.zeros(n)
    for t in sorted(targets, key=lambda t: -len(t.atoms)):
        i = int(np.argmin(load))
        shards[i].append(t)
        load[i] += len(t.atoms)
    return [s for s in shards if s]


class _Problem:
    """The loss and its normal equations (per structure averaged) at the model's current
    parameters, over all structures, computed in ``workers`` processes."""

    def __init__(self, model: MTPModel, targets: list[_Target], workers: int = 1):
        self.model, self.n = model, len(targets)
        shards = _split(targets, max(1, workers))
        self._local = _Shard(model.data, targets) if len(shards) == 1 else None
        self._workers: list[tuple[object, object]] = []
        if self._local is None:
            ctx = mp.get_context("spawn")  # no fork of a process that may hold threads
            for shard in shards:
                parent, child = ctx.Pipe()
                proc = ctx.Process(target=_serve, args=(child, model.data, shard), daemon=True)
                proc.start()
                child.close()
                self._workers.append((proc, parent))

    def __enter__(self) -> _Problem:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        for proc, conn in self._workers:
            try:
                conn.send(None)
            except OSError:
                pass
            proc.join(timeout=5)
            if proc.is_alive():
                proc.terminate()
        self._workers = []

    def _theta(self) -> np.ndarray:
        data = self.model.data
        data.optimized = list(_ALL)
        return data.parameters.copy()

    def _ask(self, method: str, *args):
        if self._local is not None:
            return [getattr(self._local, method)(*args)]
        for _, conn in self._workers:
            conn.send((method, args))
        replies = []
        for proc, conn in self._workers:
            try:
                status, value = conn.recv()
            except EOFError:
                raise RuntimeError(f"MTP fit worker {proc.pid} died "
                                   f"(exit code {proc.exitcode})") from None
            if status == "error":
                raise RuntimeError(f"MTP fit worker {proc.pid} failed:\n{value}")
            replies.append(value)
        return replies

    def loss(self) -> float:
        """Loss at the model's current parameters."""
        return sum(self._ask("loss", self._theta())) / self.n

    def normal_equations(self, groups: tuple[str, ...]) -> tuple[float, np.ndarray, np.ndarray]:
        """Loss, JᵀJ and Jᵀr (per structure averaged) for the parameter ``groups``; leaves the
        model's ``optimized`` groups set to ``groups``."""
        theta = self._theta()
        self.model.data.optimized = list(groups)
        parts = self._ask("normal_equations", theta, groups)
        return (sum(p[0] for p in parts) / self.n, sum(p[1] for p in parts) / self.n,
                sum(p[2] for p in parts) / self.n)


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


@dataclass
class _State:
    """Where a fit stands: what a checkpoint holds (all coefficients, the losses so far, the
    LM damping and stall count, and the wall time spent)."""

    theta: np.ndarray
    losses: list[float]
    lam: float = 1e-3
    stalls: int = 0
    elapsed: float = 0.0

    def save(self, path: Path, key: str) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp")
        with open(tmp, "wb") as fh:
            np.savez(fh, key=key, theta=self.theta, losses=np.array(self.losses),
                     lam=self.lam, stalls=self.stalls, elapsed=self.elapsed)
        tmp.replace(path)

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
                return cls(f["theta"].copy(), [float(x) for x in f["losses"]], float(f["lam"]),
                           int(f["stalls"]), float(f["elapsed"]))
        except (OSError, ValueError, KeyError) as exc:  # a half-written file: start again
            log.warning("ignoring unreadable MTP fit checkpoint %s (%s)", path, exc)
            return None


def fit_parameters(model: MTPModel, frames: Sequence[Atoms], weights: tuple[float, float, float],
                   optimizer: str = "lm", max_iter: int = 100, tol: float = 1e-6,
                   max_time: float | None = None, progress: bool = True, workers: int = 1,
                   checkpoint: Path | None = None, key: str = "") -> FitHistory:
    """Fit ``model``'s coefficients in place to the labelled ``frames``.

    ``workers``: processes computing the loss and its Jacobian (structures shared among them).
    ``checkpoint``: file rewritten after every step, so that a killed fit with the same ``key``
    continues where it stopped (``max_time`` counts the time of both runs); removed at the end.
    """
    t0 = time.perf_counter()
    data = model.data
    data.optimized = list(_ALL)
    checkpoint = Path(checkpoint) if checkpoint is not None else None
    state = _State.load(checkpoint, key, data.number_of_parameters_optimized)
    with _Problem(model, _targets(frames, weights), workers) as problem:
        if state is None:
            state = _State(theta=np.empty(0), losses=[_linear_start(problem)])
        else:
            log.info("MTP fit resumed after %d steps from %s", len(state.losses) - 1, checkpoint)
            data.optimized = list(_ALL)
            data.parameters = state.theta
            t0 -= state.elapsed
        fitter = _levenberg_marquardt if optimizer == "lm" else _bfgs
        with progress_bar(progress) as bar:
            job = bar.add_task(f"MTP fit ({optimizer})", total=max_iter,
                               completed=len(state.losses) - 1)

            def step(loss: float, lam: float = 0.0, stalls: int = 0) -> bool:
                """Record a step; True when the time budget is spent."""
                state.losses.append(loss)
                state.lam, state.stalls = lam, stalls
                state.elapsed = time.perf_counter() - t0
                if checkpoint is not None:
                    data.optimized = list(_ALL)
                    state.theta = data.parameters.copy()
                    state.save(checkpoint, key)
                bar.update(job, completed=len(state.losses) - 1,
                           description=f"MTP fit ({optimizer}) loss {loss:.3e}")
                return max_time is not None and state.elapsed > max_time

            reason = fitter(problem, state, max_iter, tol, step)
    data.optimized = list(_ALL)
    if checkpoint is not None:
        checkpoint.unlink(missing_ok=True)  # the fit is complete
    return FitHistory(state.losses, time.perf_counter() - t0, reason)


def _levenberg_marquardt(problem: _Problem, state: _State, max_iter: int, tol: float,
                         step: Callable[..., bool]) -> str:
    data = problem.model.data
    if len(state.losses) - 1 >= max_iter:  # a resumed fit that had done all its steps
        return "iteration limit"
    loss, jtj, jtr = problem.normal_equations(_ALL)
    lam, stalls = state.lam, state.stalls
    for _ in range(len(state.losses) - 1, max_iter):
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
        stalls = stalls + 1 if gain < tol else 0
        if step(loss, lam, stalls):
            return "time limit"
        if stalls >= 3:
            return f"relative decrease < {tol:g} for 3 steps"
        loss, jtj, jtr = problem.normal_equations(_ALL)
    return "iteration limit"


def _bfgs(problem: _Problem, state: _State, max_iter: int, tol: float,
          step: Callable[..., bool]) -> str:
    """scipy's BFGS on the loss; a resumed fit restarts it (its Hessian estimate is not kept)."""
    from scipy.optimize import minimize

    data = problem.model.data

    def fun(theta: np.ndarray) -> tuple[float, np.ndarray]:
        data.parameters = theta
        loss, _, jtr = problem.normal_equations(_ALL)
        return loss, 2.0 * jtr

    def on_step(intermediate_result) -> None:
        if step(float(intermediate_result.fun)):
            raise StopIteration  # scipy ends the run and keeps the current point

    data.optimized = list(_ALL)
    left = max_iter - (len(state.losses) - 1)
    if left <= 0:
        return "iteration limit"
    res = minimize(fun, data.parameters.copy(), jac=True, method="BFGS",
                   options={"maxiter": left, "gtol": 0.0}, callback=on_step)
    data.parameters = res.x
    return str(res.message)


def fit_mtp(train: Sequence[Atoms], level: int = 16, cutoff: float = 5.0,
            min_dist: float | None = None, radial_basis_size: int = 8,
            weights: tuple[float, float, float] = (1.0, 0.01, 0.001), optimizer: str = "lm",
            max_iter: int = 100, tol: float = 1e-6, max_time: float | None = None,
            seed: int = 0, progress: bool = True, start: MTPModel | None = None,
            workers: int = 1, checkpoint: Path | None = None) -> MTPModel:
    """A new MTP fitted to ``train``, with its active set built from the same structures.

    ``start``: continue from this model's coefficients (same species, level, radial basis) —
    how the active-learning loop refits after adding structures — instead of random ones.
    ``workers``: processes for the fit. ``checkpoint``: see :func:`fit_parameters`.
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
    settings = {"level": level, "cutoff_A": cutoff, "min_dist_A": min_dist,
                "radial_basis_size": radial_basis_size, "weights": list(weights),
                "optimizer": optimizer, "max_iter": max_iter, "tol": tol,
                "max_time_s": max_time, "seed": seed, "warm_start": warm, "workers": workers}
    key = _fit_key(settings, data, train) if checkpoint is not None else ""
    history = fit_parameters(model, train, weights, optimizer, max_iter, tol, max_time, progress,
                             workers=workers, checkpoint=checkpoint, key=key)
    model.active_set = ActiveSet.from_matrix(np.vstack([model.rows(a) for a in train]))
    if not model.active_set.complete:
        log.warning("the training neighbourhoods leave %d of the %d basis directions of this "
                    "MTP (level %d) unspanned. From level 16 on some are expected (per species: "
                    "1 at level 16, 2 at 18, 6 at 20, 14 at 22): exact identities among the "
                    "basis functions, along which no structure moves; they do no harm. More "
                    "mean too little or too uniform training data: structures moving along "
                    "those get a very large γ", model.active_set.missing,
                    model.active_set.rows.shape[0], level)
    model.record = {
        "settings": settings,
        "training": {"structures": len(train), "atoms": int(sum(len(a) for a in train)),
                     "shortest_distance_A": dmin, "loss": history.loss,
                     "wall_time_s": round(history.wall_time, 2), "stop": history.stop_reason,
                     "active_set_complete": model.active_set.complete,
                     "active_set_missing_directions": model.active_set.missing},
    }
    return model


# stopping limits and the number of processes do not change where a fit goes
_NOT_IN_KEY = ("max_iter", "tol", "max_time_s", "workers")


def _fit_key(settings: dict, data: MTPData, train: Sequence[Atoms]) -> str:
    """What a checkpoint must match to be resumed: settings, starting coefficients, data."""
    h = hashlib.sha256(json.dumps({k: v for k, v in settings.items() if k not in _NOT_IN_KEY},
                                  sort_keys=True).encode())
    data.optimized = list(_ALL)
    h.update(np.ascontiguousarray(data.parameters).tobytes())
    for atoms in train:
        label = Label.from_atoms(atoms)
        h.update(np.ascontiguousarray(atoms.positions).tobytes())
        h.update(np.ascontiguousarray(atoms.cell.array).tobytes())
        h.update(atoms.numbers.tobytes())
        h.update(repr(label.energy).encode())
    return h.hexdigest()[:16]


def _compatible(start: MTPModel, species: tuple[str, ...], level: int, cutoff: float,
                radial_basis_size: int) -> bool:
    rb = start.data.radial_basis
    return (start.species == species and start.level == level and float(rb.max) == cutoff
            and int(rb.size) == radial_basis_size)

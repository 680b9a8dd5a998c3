"""The MTP fit's least-squares problem: weighted residuals of energies, forces and stresses, and
their normal-equation blocks, summed one structure at a time in worker processes.

Residuals of structure k (N_k atoms, volume V_k, virial W = -V·σ in eV) and their weights:

=============  ==========================================  ====================================
weighting      energy, forces, stress terms of structure k  normalised by
=============  ==========================================  ====================================
``structures`` w_E (ΔE/N)² + w_F/N Σ_i|ΔF_i|² + w_S ‖ΔW‖²/N²  K (number of structures)
``mlip``       w_E ΔE²/N + w_F Σ_i|ΔF_i|² + w_S ‖ΔW‖²/N      Σ_k N_k (number of atoms)
=============  ==========================================  ====================================

``structures`` (seiflow's default) gives every structure the same weight: per-atom energy error,
mean squared force error, virial per atom. ``mlip`` is MLIP-3's default (``mlp train``:
wgt_scale_power_energy = 1, _forces = 0, _stress = 1): the same three terms multiplied by N_k,
so a structure counts in proportion to its atoms. ‖·‖ is the Frobenius norm of the 3×3 tensor.
A frame's own weight (``info["fit_weight"]``, default 1; seiflow.data.labels.fit_weight)
multiplies its three terms.

Every prediction of an MTP is linear in the moment and species coefficients (together the
*linear* coefficients, first in motep's parameter vector) for fixed radial coefficients.
A train-mode pass at parameters θ returns, summed over structures, the loss at θ and the
normal-equation blocks JᵀJ and Jᵀr of the weighted residuals r with respect to all parameters,
plus the per-component (energy, forces, stress) parts of the linear blocks, from which the loss
at any other linear coefficients (same radial ones) follows exactly.

The passes use seiflow's compiled kernel (``KernelEngine.train``: values and parameter Jacobians
in one pass over the pairs) when it is built and ``SEIFLOW_MTP_ENGINE`` is not ``motep``; else
motep's C engine in train mode (the same Jacobians to round-off, the cross-check).
"""

from __future__ import annotations

import copy
import multiprocessing as mp
import time
import traceback
from dataclasses import dataclass

import numpy as np
from ase import Atoms
from ase.stress import full_3x3_to_voigt_6_stress
from motep.potentials.mtp.data import MTPData, get_types

from seiflow.core.errors import SeiflowError
from seiflow.data.labels import Label, fit_weight
from seiflow.potentials.active import design_rows
from seiflow.potentials.mtp import kernel
from seiflow.potentials.mtp.model import MTPModel, default_engine, new_engine

# Voigt weights so that Σ w·Δσ_voigt² equals the squared Frobenius norm of the full tensor
_VOIGT_W = np.sqrt(np.array([1.0, 1.0, 1.0, 2.0, 2.0, 2.0]))
LINEAR = ("moment_coeffs", "species_coeffs")
ALL = ("moment_coeffs", "species_coeffs", "radial_coeffs")
WEIGHTINGS = ("structures", "mlip")


class FitError(SeiflowError):
    """Training data the fit cannot use."""


class FitTimeLimit(Exception):
    """A pass was stopped at the fit's deadline."""


@dataclass
class Target:
    atoms: Atoms
    energy: float
    forces: np.ndarray
    stress: np.ndarray | None  # ASE Voigt, eV/Å³
    sqrt_w: np.ndarray  # residual weights: energy, forces, stress (normalisation included)


def make_targets(frames, weights: tuple[float, float, float],
                 weighting: str = "structures") -> list[Target]:
    """Residual targets of labelled ``frames``; FitError (naming the frame) for unusable labels."""
    if weighting not in WEIGHTINGS:
        raise FitError(f"unknown loss weighting {weighting!r} (one of {', '.join(WEIGHTINGS)})")
    norm = len(frames) if weighting == "structures" else sum(len(a) for a in frames)
    we, wf, ws = (w / max(norm, 1) for w in weights)
    out = []
    for k, atoms in enumerate(frames):
        label = Label.from_atoms(atoms)
        where = atoms.info.get("source", f"training structure {k}")
        if label.energy is None or label.forces is None:
            raise FitError(f"{where} has no energy or forces label")
        if not (np.isfinite(label.energy) and np.isfinite(label.forces).all()
                and (label.stress is None or np.isfinite(label.stress).all())):
            raise FitError(f"{where} has a non-finite energy, force or stress label")
        n = len(atoms)
        periodic = atoms.cell.rank == 3 and all(atoms.pbc)
        v = atoms.get_volume() if periodic else 0.0
        if weighting == "structures":
            sqrt_w = np.sqrt([we / n**2, wf / n, ws * (v / n) ** 2])
        else:
            sqrt_w = np.sqrt([we / n, wf, ws * v**2 / n])
        sqrt_w = sqrt_w * np.sqrt(fit_weight(atoms))
        out.append(Target(atoms, label.energy, label.forces,
                          label.stress if periodic else None, sqrt_w))
    return out


@dataclass
class Blocks:
    """Normal-equation sums of a train-mode pass at parameters θ_in (see the module doc).

    ``loss``: per-component loss at θ_in (energy, forces, stress); ``jtj``, ``jtr``: all
    parameters; ``aa``, ``ar``: per-component linear blocks, shape (3, L, L) and (3, L)."""

    loss: np.ndarray
    jtj: np.ndarray
    jtr: np.ndarray
    aa: np.ndarray
    ar: np.ndarray

    def __add__(self, other: Blocks) -> Blocks:
        return Blocks(*(a + b for a, b in zip(self._parts(), other._parts())))

    def _parts(self) -> tuple[np.ndarray, ...]:
        return self.loss, self.jtj, self.jtr, self.aa, self.ar


def fit_engine(engine: str | None = None) -> str:
    """The fit's evaluator: ``engine`` (kernel or motep), else the kernel when it is the default
    engine and has a train mode, else motep."""
    engine = engine or default_engine()
    return "kernel" if engine == "kernel" and kernel.trains() else "motep"


class _Shard:
    """Loss and normal-equation sums over some of the structures, at given parameters.

    Holds its own copy of the parameters and one motep engine per structure (engines keep the
    neighbour list of the first structure they see)."""

    def __init__(self, data: MTPData, targets: list[Target], cache_limit_atoms: int = 60_000,
                 engine: str | None = None):
        self.data, self.targets = copy.deepcopy(data), targets
        self.cache = sum(len(t.atoms) for t in targets) <= cache_limit_atoms
        self._engines: dict[tuple[int, str], object] = {}
        self.n_linear = self.data.alpha_scalar_moments + self.data.species_count
        self.kernel = fit_engine(engine) == "kernel"

    def _engine(self, k: int, mode: str):
        """motep's engine of structure k in ``mode`` (run, train), or seiflow's kernel (mode
        ``kernel``: reads the coefficients from ``self.data`` at every call)."""
        engine = self._engines.get((k, mode))
        if engine is None:
            engine = kernel.KernelEngine(self.data, threads=1) if mode == "kernel" else \
                new_engine(self.data, mode=mode)
            if self.cache:
                self._engines[k, mode] = engine
        if mode != "kernel":
            engine.update(self.data)
        return engine

    def _set(self, theta: np.ndarray) -> None:
        self.data.optimized = list(ALL)
        self.data.parameters = theta

    def _residuals(self, t: Target, res: dict) -> list[np.ndarray]:
        parts = [np.atleast_1d(t.sqrt_w[0] * (res["energy"] - t.energy)),
                 t.sqrt_w[1] * (res["forces"] - t.forces).ravel()]
        if t.stress is not None:
            parts.append(t.sqrt_w[2] * _VOIGT_W * (res["stress"] - t.stress))
        return parts

    def loss(self, theta: np.ndarray, deadline: float | None = None) -> np.ndarray:
        """Per-component Σ_k |r_k|² (run mode: no derivatives)."""
        self._set(theta)
        total = np.zeros(3)
        for k, t in enumerate(self.targets):
            _check(deadline)
            res = self._engine(k, "kernel").calculate(t.atoms) if self.kernel else \
                self._engine(k, "run").calculate(t.atoms)
            for c, r in enumerate(self._residuals(t, res)):
                total[c] += float(r @ r)
        return total

    def _jacobian(self, engine, t: Target, p: int) -> list[np.ndarray]:
        """Weighted Jacobian blocks (energy, forces[, stress]) of one structure."""
        jac = [t.sqrt_w[0] * engine.jac_energy(t.atoms).parameters[None, :],
               t.sqrt_w[1] * engine.jac_forces(t.atoms).parameters.reshape(p, -1).T]
        if t.stress is not None:
            js = engine.jac_stress(t.atoms).parameters  # (p, 3, 3)
            js = np.stack([full_3x3_to_voigt_6_stress(m) for m in js])
            jac.append(t.sqrt_w[2] * (js * _VOIGT_W).T)
        return jac

    def _kernel_jacobian(self, res: dict, t: Target, p: int) -> list[np.ndarray]:
        """``_jacobian`` from the kernel's train pass."""
        jac = [t.sqrt_w[0] * res["jac_energy"][None, :],
               t.sqrt_w[1] * res["jac_forces"].reshape(p, -1).T]
        if t.stress is not None:
            js = res["jac_stress"][:, [0, 1, 2, 1, 0, 0], [0, 1, 2, 2, 2, 1]]  # ASE Voigt
            jac.append(t.sqrt_w[2] * (js * _VOIGT_W).T)
        return jac

    def _train(self, k: int, t: Target, p: int) -> tuple[list, list]:
        """Weighted Jacobian blocks and residuals of structure k at the current parameters."""
        if self.kernel:
            res = self._engine(k, "kernel").train(t.atoms)
            return self._kernel_jacobian(res, t, p), self._residuals(t, res)
        engine = self._engine(k, "train")
        res = engine.calculate(t.atoms)
        return self._jacobian(engine, t, p), self._residuals(t, res)

    def blocks(self, theta: np.ndarray, deadline: float | None = None) -> Blocks:
        """Normal-equation sums over this shard's structures at ``theta`` (train mode)."""
        self._set(theta)
        p, n_lin = len(theta), self.n_linear
        out = Blocks(np.zeros(3), np.zeros((p, p)), np.zeros(p), np.zeros((3, n_lin, n_lin)),
                     np.zeros((3, n_lin)))
        for k, t in enumerate(self.targets):
            _check(deadline)
            for c, (j, r) in enumerate(zip(*self._train(k, t, p))):
                out.loss[c] += float(r @ r)
                out.jtj += j.T @ j
                out.jtr += j.T @ r
                a = j[:, :n_lin]
                out.aa[c] += a.T @ a
                out.ar[c] += a.T @ r
        return out

    def rows(self, theta: np.ndarray, species_count: int) -> np.ndarray:
        """Active-set rows (one per atom) of every structure at ``theta``."""
        self._set(theta)
        rows = []
        for k, t in enumerate(self.targets):
            if self.kernel:
                basis = self._engine(k, "kernel").calculate(t.atoms, rows=True)["basis"].T
            else:
                engine = self._engine(k, "run")
                engine.calculate(t.atoms)
                basis = engine.mbd.vatoms
            types = get_types(t.atoms, self.data.species)
            rows.append(design_rows(basis, types, species_count))
        return np.vstack(rows)


def _check(deadline: float | None) -> None:
    if deadline is not None and time.time() > deadline:
        raise FitTimeLimit


def _serve(conn, data: MTPData, targets: list[Target], engine: str | None = None) -> None:
    """A worker process: answers (method, args) requests on ``conn`` until None."""
    from threadpoolctl import threadpool_limits

    threadpool_limits(1)  # one core per worker: the workers are the parallelism
    shard = _Shard(data, targets, engine=engine)
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
        except FitTimeLimit:
            conn.send(("time", None))
        except Exception:  # noqa: BLE001 - handed to the parent, which raises it
            conn.send(("error", traceback.format_exc()))


def _split(targets: list[Target], n: int) -> list[list[Target]]:
    """``targets`` in ``n`` shards of about equal atom count (the cost), largest first."""
    shards: list[list[Target]] = [[] for _ in range(n)]
    load = np.zeros(n)
    for t in sorted(targets, key=lambda t: -len(t.atoms)):
        i = int(np.argmin(load))
        shards[i].append(t)
        load[i] += len(t.atoms)
    return [s for s in shards if s]


class Problem:
    """The loss and its normal-equation blocks at any parameters θ of ``model``, over all
    structures, computed in ``workers`` processes; passes stop at ``deadline`` (time.time());
    ``engine``: kernel or motep (None: ``fit_engine``'s choice)."""

    def __init__(self, model: MTPModel, targets: list[Target], workers: int = 1,
                 deadline: float | None = None, engine: str | None = None):
        self.model, self.deadline = model, deadline
        data = model.data
        self.n_linear = data.alpha_scalar_moments + data.species_count
        shards = _split(targets, max(1, min(workers, len(targets))))
        self.engine = fit_engine(engine)
        self._local = _Shard(data, targets, engine=self.engine) if len(shards) == 1 else None
        self._workers: list[tuple[object, object]] = []
        if self._local is None:
            ctx = mp.get_context("spawn")  # no fork of a process that may hold threads
            for shard in shards:
                parent, child = ctx.Pipe()
                proc = ctx.Process(target=_serve, args=(child, data, shard, self.engine),
                                   daemon=True)
                proc.start()
                child.close()
                self._workers.append((proc, parent))

    def __enter__(self) -> Problem:
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

    def _ask(self, method: str, *args) -> list:
        if self._local is not None:
            return [getattr(self._local, method)(*args)]
        for _, conn in self._workers:
            conn.send((method, args))
        replies, late = [], False
        for proc, conn in self._workers:
            try:
                status, value = conn.recv()
            except EOFError:
                raise RuntimeError(f"MTP fit worker {proc.pid} died "
                                   f"(exit code {proc.exitcode})") from None
            if status == "error":
                raise RuntimeError(f"MTP fit worker {proc.pid} failed:\n{value}")
            late |= status == "time"
            replies.append(value)
        if late:
            raise FitTimeLimit
        return replies

    def loss(self, theta: np.ndarray) -> np.ndarray:
        """Per-component loss (energy, forces, stress) at ``theta`` (run mode, cheap)."""
        return sum(self._ask("loss", theta, self.deadline))

    def blocks(self, theta: np.ndarray, deadline: bool = True) -> Blocks:
        """Loss and normal-equation blocks at ``theta`` (train mode); ``deadline``: whether the
        fit's deadline applies to this pass."""
        parts = self._ask("blocks", theta, self.deadline if deadline else None)
        out = parts[0]
        for part in parts[1:]:
            out = out + part
        return out

    def rows(self, theta: np.ndarray) -> np.ndarray:
        """Active-set rows of every training neighbourhood (all atoms) at ``theta``."""
        return np.vstack(self._ask("rows", theta, len(self.model.species)))

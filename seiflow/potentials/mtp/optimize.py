"""Optimizers of the MTP fit (see :mod:`seiflow.potentials.mtp.problem` for the loss).

``lm`` (default): Levenberg–Marquardt on all coefficients together; a trial costs a run-mode
pass. ``varpro``: variable projection (Golub & Pereyra, SIAM J. Numer. Anal. 10, 413
(1973); Kaufman's Jacobian, BIT 15, 49 (1975)) with Levenberg–Marquardt damping. The linear
coefficients are eliminated: at every radial-coefficient vector c they are the exact weighted
least-squares solution θ*(c), so the loss minimised is the projected loss L*(c) and every
accepted point is a fully re-solved model. A step in c solves the Schur complement of the
linear block in the Gauss–Newton normal equations,
(J_cᵀJ_c − J_cᵀA (AᵀA)⁺ AᵀJ_c + λD) δc = −J_cᵀ r*; a trial c + δc is accepted only if
L* falls: a trial costs a cheap run-mode pass, as its loss bounds L* at its radial coefficients
from above. One train-mode pass at an accepted point gives AᵀA (so θ* and L* exactly) and the
radial Jacobian for the next step.
``bfgs``: scipy's BFGS on the loss and its gradient.

Every optimizer only ever keeps a point whose loss is below the best so far, so a fit never
ends worse than its linear start; ``lm`` and ``bfgs`` re-solve the linear coefficients exactly
at the end (:func:`resolve_linear`), as MLIP does.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from scipy.linalg import eigh

from seiflow.potentials.mtp.problem import Blocks, Problem

# eigenvalues of AᵀA below this fraction of the largest are exact basis identities or numerical
# noise: they are left out of the solve (a pseudo-inverse), as their directions move no prediction
_RCOND = 1e-12
_LAMBDA_MAX = 1e10
_LAMBDA_START = 1e-3
# a pass whose loss at its own linear coefficients exceeds the projected loss by more than this
# factor took the radial Jacobian too far from θ*: it is retaken at θ*
_RETAKE_RATIO = 1.5


@dataclass
class Projection:
    """The exact linear solve at one radial-coefficient vector (from a pass's blocks)."""

    theta: np.ndarray  # all coefficients, linear ones at the optimum θ*
    loss: np.ndarray  # per-component projected loss at θ*
    theta_in: np.ndarray  # where the pass ran
    blocks: Blocks
    inverse: np.ndarray  # (AᵀA)⁺
    shift: np.ndarray  # θ* − θ_in (linear part)

    @property
    def total(self) -> float:
        return float(self.loss.sum())

    @property
    def exact(self) -> bool:
        """Whether the pass ran at θ* itself (so its radial Jacobian is the exact one)."""
        loss_in = float(self.blocks.loss.sum())
        return loss_in <= _RETAKE_RATIO * self.total + 1e-300


def project(theta_in: np.ndarray, blocks: Blocks) -> Projection:
    """θ*(c) and the projected loss from the blocks of a pass at ``theta_in``."""
    aa, ar = blocks.aa.sum(0), blocks.ar.sum(0)
    w, v = eigh(aa)
    keep = w > _RCOND * max(w.max(), 1e-300)
    inverse = (v[:, keep] / w[keep]) @ v[:, keep].T
    d = -inverse @ ar
    loss = blocks.loss + 2 * blocks.ar @ d + np.einsum("i,cij,j->c", d, blocks.aa, d)
    theta = theta_in.copy()
    theta[:len(d)] += d
    return Projection(theta, np.maximum(loss, 0.0), theta_in, blocks, inverse, d)


def resolve_linear(problem: Problem, theta: np.ndarray, deadline: bool = False) -> Projection:
    """The exact linear coefficients at ``theta``'s radial coefficients (one pass; ``deadline``:
    whether the fit's time limit applies to it)."""
    return project(theta, problem.blocks(theta, deadline=deadline))


@dataclass
class Step:
    """What an optimizer reports after each accepted step."""

    theta: np.ndarray
    loss: np.ndarray  # per component
    lam: float = 0.0
    stalls: int = 0
    passes: int = 0  # train-mode passes since the last report
    projection: Projection | None = None  # varpro: what the next step is computed from


StepFn = Callable[[Step], bool]  # records a step; True when the time budget is spent


def _joint_step(p: Projection, lam: float) -> np.ndarray:
    """The damped Gauss–Newton step from θ*: radial part from the Schur complement, linear part
    the change of θ* it predicts (−(AᵀA)⁺AᵀJ_c δc, as Aᵀr* = 0)."""
    n = len(p.shift)
    jtj, jtr = p.blocks.jtj, p.blocks.jtr
    ja, jj = jtj[n:, :n], jtj[n:, n:]
    schur = jj - ja @ p.inverse @ ja.T
    grad = jtr[n:] + ja @ p.shift  # J_cᵀ r at θ*
    diag = np.maximum(np.diag(jj), 1e-12 * max(np.diag(jj).max(), 1e-300))
    dc = -np.linalg.lstsq(schur + lam * np.diag(diag), grad, rcond=None)[0]
    return np.concatenate([-p.inverse @ (ja.T @ dc), dc])


def varpro(problem: Problem, theta: np.ndarray, lam: float, stalls: int, iterations: int,
           tol: float, step: StepFn, start: Projection | None = None) -> str:
    """Variable projection with LM damping from ``theta`` (or from ``start``, the projection a
    checkpoint kept); ``iterations`` accepted steps at most.

    A trial point costs a run-mode pass: its loss bounds the projected loss at its radial
    coefficients from above, so a trial below the best projected loss is a certain
    improvement; the train-mode pass at it then gives the exact θ*, L* and the next step."""
    lam, best = lam if lam > 0 else _LAMBDA_START, start
    if best is None:
        passes = 1
        best = project(theta, problem.blocks(theta))
        if not best.exact:  # the radial Jacobian was taken at other linear coefficients: retake
            best, passes = project(best.theta, problem.blocks(best.theta)), passes + 1
        if step(Step(best.theta, best.loss, lam, stalls, passes, best)):
            return "time limit"
    for _ in range(iterations):
        while True:
            trial = best.theta + _joint_step(best, lam)
            if (loss := problem.loss(trial).sum()) < best.total and np.isfinite(loss):
                lam = max(lam / 3.0, 1e-12)
                break
            lam *= 4.0
            if lam > _LAMBDA_MAX:
                return "no further decrease (damping limit)"
        new = project(trial, problem.blocks(trial))
        gain = (best.total - new.total) / best.total
        best, stalls = new, stalls + 1 if gain < tol else 0
        if step(Step(best.theta, best.loss, lam, stalls, 1, best)):
            return "time limit"
        if stalls >= 3:
            return f"relative decrease < {tol:g} for 3 steps"
    return "iteration limit"


def joint_lm(problem: Problem, theta: np.ndarray, lam: float, stalls: int, iterations: int,
             tol: float, step: StepFn, start: Projection | None = None) -> str:
    """Levenberg–Marquardt on all coefficients at once; trial points cost a run-mode pass."""
    lam = lam if lam > 0 else _LAMBDA_START
    blocks = problem.blocks(theta)
    loss = blocks.loss.sum()
    for _ in range(iterations):
        diag = np.maximum(np.diag(blocks.jtj), 1e-12 * np.diag(blocks.jtj).max())
        while True:
            trial = theta - np.linalg.lstsq(blocks.jtj + lam * np.diag(diag), blocks.jtr,
                                            rcond=None)[0]
            parts = problem.loss(trial)
            if np.isfinite(parts.sum()) and parts.sum() < loss:
                lam = max(lam / 3.0, 1e-12)
                break
            lam *= 4.0
            if lam > _LAMBDA_MAX:
                return "no further decrease (damping limit)"
        gain = (loss - parts.sum()) / loss
        theta, loss = trial, parts.sum()
        stalls = stalls + 1 if gain < tol else 0
        if step(Step(theta, parts, lam, stalls, 1)):
            return "time limit"
        if stalls >= 3:
            return f"relative decrease < {tol:g} for 3 steps"
        blocks = problem.blocks(theta)
    return "iteration limit"


def bfgs(problem: Problem, theta: np.ndarray, lam: float, stalls: int, iterations: int,
         tol: float, step: StepFn, start: Projection | None = None) -> str:
    """scipy's BFGS on the loss; a resumed fit restarts it (its Hessian estimate is not kept)."""
    from scipy.optimize import minimize

    best: dict = {}

    def fun(x: np.ndarray) -> tuple[float, np.ndarray]:
        blocks = problem.blocks(x)
        if not best or blocks.loss.sum() < best["loss"].sum():
            best.update(theta=x.copy(), loss=blocks.loss)
        return float(blocks.loss.sum()), 2.0 * blocks.jtr

    def on_step(intermediate_result) -> None:
        if step(Step(best["theta"], best["loss"], passes=1)):
            raise StopIteration  # scipy ends the run and keeps the current point

    if iterations <= 0:
        return "iteration limit"
    res = minimize(fun, theta, jac=True, method="BFGS",
                   options={"maxiter": iterations, "gtol": 0.0}, callback=on_step)
    return "time limit" if res.status == 99 else str(res.message)


OPTIMIZERS = {"varpro": varpro, "lm": joint_lm, "bfgs": bfgs}

"""MTP settings: level, radial basis, loss weights and the fit (see docs/potentials.md)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from pydantic import Field, field_validator

from seiflow.core.config import StrictModel

if TYPE_CHECKING:
    from ase import Atoms

    from seiflow.potentials.base import Potential


# the fit's defaults, shared by these settings and fit.fit_mtp
DEFAULT_WEIGHTS = (1.0, 0.01, 0.01)  # energy, forces, stress
DEFAULT_MAX_ITER = 1000


class LossWeights(StrictModel):
    """Weights of energy (per atom), force and stress (virial per atom) errors in the loss.
    Stress 0.01, ten times MLIP's 0.001: at 0.001 elastic constants are under-determined
    (mlearn Li Born-unstable, LiF C12 +50 %; docs/potentials.md "The loss")."""

    energy: float = Field(DEFAULT_WEIGHTS[0], ge=0)
    forces: float = Field(DEFAULT_WEIGHTS[1], ge=0)
    stress: float = Field(DEFAULT_WEIGHTS[2], ge=0)


class MTPSettings(StrictModel):
    """Moment Tensor Potential fitted with motep's engine (see docs/potentials.md)."""

    backend: Literal["mtp"] = "mtp"
    level: int = Field(16, description="MTP level, even, 2-28")
    cutoff: float = Field(5.0, gt=0, le=15, description="radial cutoff, Å")
    min_dist: float | None = Field(None, gt=0, description="radial basis start, Å "
                                   "(default: shortest training distance - 0.05 Å)")
    radial_basis_size: int = Field(8, ge=2, le=20)
    weights: LossWeights = LossWeights()
    weighting: Literal["structures", "mlip"] = Field(
        "structures", description="structures: every structure weighs the same (per-atom "
        "energy, mean force, virial per atom); mlip: MLIP-3's default, each structure in "
        "proportion to its atoms (docs/potentials.md, 'The loss')")
    optimizer: Literal["lm", "varpro", "bfgs"] = Field(
        "lm", description="lm: Levenberg-Marquardt on all coefficients, linear ones re-solved "
        "exactly at the start and the end; varpro: variable projection (linear coefficients "
        "re-solved at every step); bfgs")
    max_iter: int = Field(DEFAULT_MAX_ITER, ge=0, description="accepted steps at most; a fit "
                          "normally ends on tol (converged) or max_time first")
    tol: float = Field(1e-6, ge=0, description="stop when the loss falls by less, 3 steps running")
    max_time: float | None = Field(None, gt=0, description="fit time budget, s (checked "
                                   "inside every pass; the best model so far is kept)")
    offset_tolerance: float = Field(1.0, gt=0, description="mean training energy residual "
                                    "(meV/atom) above which the fit warns")
    seed: int = Field(0, ge=0)
    workers: int = Field(1, ge=1, le=256, description="processes for the fit (one per core); the "
                         "structures are shared among them")

    @field_validator("level")
    @classmethod
    def _level(cls, v: int) -> int:
        if v < 2 or v > 28 or v % 2:
            raise ValueError(f"MTP level must be an even number from 2 to 28, got {v}")
        return v

    def describe(self) -> str:
        return f"MTP level {self.level}"

    def fit(self, train: Sequence[Atoms], progress: bool = True,
            start: Potential | None = None, checkpoint: Path | None = None) -> Potential:
        """Fit on ``train``; ``start``: a model of this backend to continue from;
        ``checkpoint``: file rewritten after every step, from which a killed fit continues."""
        from seiflow.potentials.mtp.fit import fit_mtp

        w = self.weights
        return fit_mtp(train, level=self.level, cutoff=self.cutoff, min_dist=self.min_dist,
                       radial_basis_size=self.radial_basis_size,
                       weights=(w.energy, w.forces, w.stress), weighting=self.weighting,
                       offset_tolerance=self.offset_tolerance, optimizer=self.optimizer,
                       max_iter=self.max_iter, tol=self.tol, max_time=self.max_time,
                       seed=self.seed, progress=progress, start=start,
                       workers=self.workers, checkpoint=checkpoint)

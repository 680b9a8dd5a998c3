"""MACE settings (no torch import here: configs load fast and validate without it).

Defaults mirror the reference paper's MACE (Li et al., Mater. Horiz. 2025: about 10⁶
parameters, 128x0e+128x1o, r_max 5 Å, energy/force/stress weights 50/50/1, EMA, stage two
("SWA"), float32) and MACE's own defaults elsewhere (Batatia et al., NeurIPS 2022; mace-torch
0.3.16 argument defaults: Adam with AMSGrad, lr 0.01, EMA decay 0.99, stage two from 75 % of the
epochs with lr 1e-3). ``MACESettings.small()`` is the CPU preset the tests and demos use.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from pydantic import Field, field_validator, model_validator

from seiflow.core.config import StrictModel

if TYPE_CHECKING:
    from ase import Atoms

    from seiflow.potentials.base import Potential

# e3nn's irreps syntax (multiplicity x degree parity), checked without importing torch
_IRREPS = re.compile(r"\d+x\d+[eo](\+\d+x\d+[eo])*")


class MACELossWeights(StrictModel):
    """Weights of the energy-per-atom, force and stress mean squared errors (eV, eV/Å, eV/Å³)."""

    energy: float = Field(50.0, ge=0)
    forces: float = Field(50.0, ge=0)
    stress: float = Field(1.0, ge=0)


class MACESettings(StrictModel):
    """A MACE model (architecture + training) fitted with mace-torch's modules, loss and data."""

    backend: Literal["mace"] = "mace"
    # architecture
    hidden_irreps: str = Field("128x0e+128x1o", description="node features per layer")
    r_max: float = Field(5.0, gt=0, description="cutoff radius, Å")
    num_interactions: int = Field(2, ge=1, le=4)
    max_ell: int = Field(3, ge=1, le=4, description="spherical harmonics of the edges")
    correlation: int = Field(3, ge=1, le=4, description="body order - 1 of each product")
    num_bessel: int = Field(8, ge=2)
    num_polynomial_cutoff: int = Field(5, ge=2)
    mlp_irreps: str = Field("16x0e", description="hidden layer of the last readout")
    radial_mlp: list[int] = Field(default_factory=lambda: [64, 64, 64])
    dtype: Literal["float32", "float64"] = "float32"
    # fine-tuning: start from a foundation model file (a local path; nothing is downloaded)
    foundation: Path | None = Field(None, description="MACE .model file to fine-tune")
    # training
    weights: MACELossWeights = MACELossWeights()
    stage_two_weights: MACELossWeights = MACELossWeights(energy=1000.0, forces=100.0,
                                                         stress=10.0)
    stage_two_start: float | None = Field(0.75, gt=0, lt=1, description="fraction of the "
                                          "epochs after which stage two starts (None: off)")
    stage_two_lr: float = Field(1e-3, gt=0)
    epochs: int = Field(200, ge=1)
    batch_size: int = Field(10, ge=1)
    lr: float = Field(0.01, gt=0)
    weight_decay: float = Field(5e-7, ge=0)
    ema_decay: float | None = Field(0.99, gt=0, lt=1, description="None: no EMA")
    clip_grad: float | None = Field(10.0, gt=0)
    scheduler_patience: int = Field(50, ge=1, description="epochs before the lr drops ×0.8")
    valid_fraction: float = Field(0.1, ge=0, lt=1, description="of the training frames, for "
                                  "the learning-rate schedule and the best-epoch choice")
    max_time: float | None = Field(None, gt=0, description="training time budget, s")
    # convergence (recorded, not enforced): the final stage's best validation loss fell by
    # less than plateau_tol (relative) over its last plateau_epochs epochs
    plateau_epochs: int = Field(10, ge=2)
    plateau_tol: float = Field(0.01, gt=0, lt=1)
    device: Literal["auto", "cpu", "cuda"] = "auto"
    seed: int = 0

    @field_validator("hidden_irreps", "mlp_irreps")
    @classmethod
    def _irreps(cls, v: str) -> str:
        if not _IRREPS.fullmatch(v.replace(" ", "")):
            raise ValueError(f"not an irreps string like '128x0e+128x1o': {v!r}")
        if not re.search(r"(^|\+)\d+x0e", v.replace(" ", "")):
            raise ValueError(f"{v!r} has no scalar (0e) channels")
        return v

    @model_validator(mode="after")
    def _foundation(self) -> MACESettings:
        if self.foundation is not None and not Path(self.foundation).is_file():
            raise ValueError(f"foundation model {self.foundation} does not exist (a local "
                             "file; seiflow never downloads weights)")
        return self

    @classmethod
    def small(cls, **overrides) -> MACESettings:
        """A CPU preset (about 7 k parameters): for tests, demos and committees on a laptop."""
        base = dict(hidden_irreps="16x0e+16x1o", max_ell=1, correlation=3, num_bessel=6,
                    radial_mlp=[16, 16], mlp_irreps="8x0e", epochs=60, batch_size=4,
                    scheduler_patience=10)
        return cls(**{**base, **overrides})

    def describe(self) -> str:
        what = f"MACE {self.hidden_irreps}, r_max {self.r_max:g} Å"
        return what + (f", fine-tuned from {Path(self.foundation).name}" if self.foundation
                       else "")

    def fit(self, train: Sequence[Atoms], progress: bool = True,
            start: Potential | None = None, checkpoint: Path | None = None) -> Potential:
        """Train on ``train``; ``start``: a MACE model to continue from (else the foundation
        model, if given, else a new model); ``checkpoint``: a file written every epoch, from
        which a killed fit resumes."""
        from seiflow.potentials.mace.fit import fit_mace

        return fit_mace(train, self, progress=progress, start=start, checkpoint=checkpoint)

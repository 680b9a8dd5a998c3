"""SevenNet fine-tuning settings (no torch import here: configs load fast and validate without
it). Defaults follow sevenn's own fine-tuning recipe (``sevenn/presets/fine_tune.yaml`` of
sevenn 0.10.4): Huber loss with δ = 0.01 (the loss SevenNet-0 was trained with), Adam with
the learning rate decayed ×0.99 per epoch, weights 1 / 1 / 0.01 on energy per atom (eV/atom),
force components (eV/Å) and stress components (kbar), energy shift and scale not trained.
One departure: lr 1e-3, not the preset's 0.004. Short CPU fine-tunes (a few epochs) at 0.004
raised the energy loss of the training frames after the first steps (measured on Li cells
labelled by the other shipped SevenNet-0, 3 epochs: loss ×9 at 0.004, ×0.6 at 1e-3).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from pydantic import Field, field_validator

from seiflow.core.config import StrictModel

if TYPE_CHECKING:
    from ase import Atoms

    from seiflow.potentials.sevennet.model import SevenNetModel

# the checkpoints shipped inside the sevenn wheel, by the names sevenn resolves
# (sevenn.util.pretrained_name_to_path); nothing is ever downloaded
FOUNDATIONS = {"sevennet-0": "SevenNet-0 (11Jul2024)", "7net-0": "SevenNet-0 (11Jul2024)",
               "sevennet-0_11jul2024": "SevenNet-0 (11Jul2024)",
               "sevennet-0_22may2024": "SevenNet-0 (22May2024)"}


class SevenNetLossWeights(StrictModel):
    """Weights of the energy-per-atom (eV/atom), force (eV/Å) and stress (kbar, sevenn's
    stress unit in its loss) terms."""

    energy: float = Field(1.0, ge=0)
    forces: float = Field(1.0, ge=0)
    stress: float = Field(0.01, ge=0)


class SevenNetSettings(StrictModel):
    """Fine-tuning of a shipped SevenNet (every weight trains; see docs/potentials.md)."""

    backend: Literal["sevennet"] = "sevennet"
    foundation: str = Field("sevennet-0", description="shipped checkpoint to start from "
                            "(sevennet-0, sevennet-0_22may2024) or a local sevenn .pth file")
    epochs: int = Field(10, ge=1)
    batch_size: int = Field(4, ge=1)
    lr: float = Field(1e-3, gt=0, description="Adam's learning rate")
    lr_decay: float = Field(0.99, gt=0, le=1, description="learning rate × this per epoch")
    loss: Literal["huber", "mse"] = "huber"
    huber_delta: float = Field(0.01, gt=0, description="Huber δ (per component, loss units)")
    weights: SevenNetLossWeights = SevenNetLossWeights()
    refit_shift: bool = Field(True, description="shift the per-element energy offsets by "
                              "least squares to the training energies, before and after the "
                              "epochs (energies only)")
    valid_fraction: float = Field(0.1, ge=0, lt=1, description="of the training frames, held "
                                  "out to pick the best epoch (0: pick by training loss)")
    max_time: float | None = Field(None, gt=0, description="time budget, s (checked per epoch)")
    device: Literal["auto", "cpu", "cuda"] = "auto"
    seed: int = 0

    @field_validator("foundation")
    @classmethod
    def _foundation(cls, v: str) -> str:
        if v.lower() in FOUNDATIONS:
            return v.lower()
        if Path(v).is_file():
            return v
        raise ValueError(f"foundation {v!r} is neither a shipped SevenNet ("
                         f"{', '.join(sorted(FOUNDATIONS))}) nor an existing sevenn checkpoint "
                         "file (seiflow never downloads weights)")

    def describe(self) -> str:
        name = FOUNDATIONS.get(self.foundation, Path(self.foundation).name)
        return f"{name} fine-tuned ({self.epochs} epochs)"

    def fit(self, train: Sequence[Atoms], progress: bool = True,
            start: SevenNetModel | None = None, checkpoint: Path | None = None) -> SevenNetModel:
        """Fine-tune on ``train`` from ``start`` (a SevenNet model) or else the foundation.
        ``checkpoint`` is not used: a killed fine-tune starts again."""
        from seiflow.potentials.sevennet.fit import fine_tune

        return fine_tune(self, train, progress=progress, start=start)

"""The settings every MD path shares (``seiflow md`` on ASE, batched MD on torch-sim): one
schema for the ensemble, temperature, time step, thermostat time constant, seed, output and
checkpoint strides; each integrator backend names the ensembles it runs (``ENSEMBLES``) and
adds its own options (ASE: barostat and Langevin friction; batched: device, dtype, forces in
the frames)."""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field, model_validator

from seiflow.core.config import MAX_TEMPERATURE_K, StrictModel
from seiflow.core.fingerprint import json_fingerprint


class MDCommon(StrictModel):
    temperature_K: float = Field(300.0, gt=0, le=MAX_TEMPERATURE_K,
                                 description="thermostat target and the temperature of the "
                                 "initial Maxwell-Boltzmann velocities, K")
    timestep_fs: float = Field(0.5, gt=0, description="time step, fs")
    steps: int = Field(..., ge=1, description="total number of steps (a restart runs the rest)")
    tdamp_fs: float = Field(100.0, gt=0, description="thermostat time constant, fs")
    seed: int = Field(0, ge=0, description="seeds the initial velocities and any noise")
    init_velocities: bool = Field(True, description="draw Maxwell-Boltzmann velocities at "
                                  "start (False: the momenta the structures carry)")
    traj_stride: int = Field(10, ge=1, description="steps between frames and thermo rows")
    checkpoint_every: int = Field(1000, ge=1, description="steps; a multiple of traj_stride")
    # last: the field order is that of the settings' JSON, which validation identities hash
    ensemble: Literal["nve", "nvt", "npt", "langevin"] = Field(
        "nvt", description="nve: velocity Verlet; nvt: Nosé–Hoover chain; npt: MTK barostat "
        "with Nosé–Hoover chains (ASE only); langevin")

    # fields that do not shape the trajectory: a restart may change them
    NOT_KEYED: ClassVar[frozenset[str]] = frozenset({"steps"})
    # the ensembles this backend runs
    ENSEMBLES: ClassVar[tuple[str, ...]] = ("nve", "nvt", "npt", "langevin")

    @model_validator(mode="after")
    def _multiple(self):
        if self.checkpoint_every % self.traj_stride:
            raise ValueError("checkpoint_every must be a multiple of traj_stride")
        if self.ensemble not in self.ENSEMBLES:
            raise ValueError(f"ensemble {self.ensemble!r} is not one of this MD's: "
                             f"{', '.join(self.ENSEMBLES)}")
        return self

    def key(self) -> str:
        """Hash of everything that shapes the trajectory (a checkpoint resumes only under the
        same key)."""
        data = self.model_dump(mode="json", exclude=set(self.NOT_KEYED))
        return json_fingerprint(data)

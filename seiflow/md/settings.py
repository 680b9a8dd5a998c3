"""The settings every MD path shares (``seiflow md`` on ASE, batched MD on torch-sim): one
schema for the ensemble, temperature, time step, thermostat time constant, seed, output and
checkpoint strides; each integrator backend names the ensembles it runs (``ENSEMBLES``) and
adds its own options (ASE: barostat and Langevin friction; batched: device, dtype, forces in
the frames).

A temperature ramp (``temperature_end_K``): the thermostat target moves linearly from
``temperature_K`` at step 0 to ``temperature_end_K`` at step ``steps``; the step that ends at
step k runs with the target of step k (``target_K``). Its rate depends on ``steps``, so a ramp
keys ``steps`` (a restart cannot stretch it). Without a ramp the field is left out of every
dump, so the keys and identities of existing settings do not change.
"""

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
    temperature_end_K: float | None = Field(
        None, gt=0, le=MAX_TEMPERATURE_K, exclude_if=lambda v: v is None,
        description="a heating or cooling ramp: the thermostat target goes linearly from "
        "temperature_K at step 0 to this at the last step, K (None: constant)")

    # fields that do not shape the trajectory: a restart may change them
    NOT_KEYED: ClassVar[frozenset[str]] = frozenset({"steps"})
    # the ensembles this backend runs
    ENSEMBLES: ClassVar[tuple[str, ...]] = ("nve", "nvt", "npt", "langevin")
    # whether this backend runs temperature ramps
    RAMPS: ClassVar[bool] = True

    @model_validator(mode="after")
    def _multiple(self):
        if self.checkpoint_every % self.traj_stride:
            raise ValueError("checkpoint_every must be a multiple of traj_stride")
        if self.ensemble not in self.ENSEMBLES:
            raise ValueError(f"ensemble {self.ensemble!r} is not one of this MD's: "
                             f"{', '.join(self.ENSEMBLES)}")
        if self.temperature_end_K is not None:
            if not self.RAMPS:
                raise ValueError("this MD runs at one temperature: temperature_end_K (a ramp) "
                                 "is for seiflow md")
            if self.ensemble == "nve":
                raise ValueError("a temperature ramp needs a thermostat: use ensemble nvt, "
                                 "npt or langevin with temperature_end_K, or drop it for nve")
        return self

    @property
    def ramp(self) -> bool:
        return self.temperature_end_K is not None

    def target_K(self, step: int) -> float | None:
        """The thermostat target (K) at ``step`` (None: NVE has none)."""
        if self.ensemble == "nve":
            return None
        if self.temperature_end_K is None:
            return self.temperature_K
        t0, t1 = self.temperature_K, self.temperature_end_K
        return t0 + (t1 - t0) * (step / self.steps)

    def key(self) -> str:
        """Hash of everything that shapes the trajectory (a checkpoint resumes only under the
        same key)."""
        not_keyed = set(self.NOT_KEYED) - ({"steps"} if self.ramp else set())
        data = self.model_dump(mode="json", exclude=not_keyed)
        return json_fingerprint(data)

"""Tracer diffusion D(T) and its activation energy Ea by short MD, with any calculator factory.

The suite runs the same cell at the same 2-3 high temperatures with the same MD settings (NVT
or Langevin, time step, velocity seed) once with the potential and once with the reference (the
labeler that taught it, as an ASE calculator), then compares D(T) and Ea side by side:

1. per temperature: MD (``seiflow.md.run_md``, resumable in ``<target>/md.<method>/``), the
   first ``equilibration_steps`` dropped; tracer MSD of ``species`` with the system's centre of
   mass removed and block MSDs (``seiflow.analysis.msd``); D over the automatic diffusive window
   (local log-log slope within 1 ± ``slope_tol``) with its block standard error
   (``seiflow.analysis.diffusion``). A run whose MSD has no such window, or whose window's
   fitted log-log slope is farther than ``max_slope_deviation`` from 1 (ballistic: 2; caged,
   sub-diffusive: < 1), gives no D: its row is not "ok" and says why.
2. Ea ± σ from the weighted Arrhenius fit of the diffusive temperatures
   (``seiflow.analysis.arrhenius``); fewer than two leaves Ea without a value, with the reason.
3. For the potential, every temperature records the largest grade γ met at any MD step; D and
   Ea rows carry it and are flagged when it exceeds the suite's ``gamma_select``.

Units: T in K, time in fs, D in cm²/s, Ea in eV.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Annotated, Literal

import ase.io
import numpy as np
from ase import Atoms
from pydantic import Field, model_validator

from seiflow.analysis.arrhenius import arrhenius_fit
from seiflow.analysis.comparison import ComparisonRow, compare, gamma_flag
from seiflow.analysis.diffusion import diffusive_D
from seiflow.analysis.msd import msd, select_species, unwrap
from seiflow.core.config import MAX_TEMPERATURE_K, StrictModel
from seiflow.core.errors import SeiflowError
from seiflow.md.runner import MDSettings, run_md
from seiflow.workflows.properties.spec import (
    Context,
    TargetKind,
    ValidationProperty,
    digest,
    run_gamma,
)


class DiffusionSettings(StrictModel):
    """MD and analysis settings, identical for both methods."""

    temperatures_K: list[Annotated[float, Field(gt=0, le=MAX_TEMPERATURE_K)]] = Field(
        default_factory=lambda: [900.0, 1100.0, 1300.0], min_length=2, max_length=6,
        description="MD temperatures, K (high, but below melting)")
    ensemble: Literal["nvt", "langevin"] = Field("nvt", description="Nosé-Hoover chain or "
                                                 "Langevin thermostat")
    timestep_fs: float = Field(1.0, gt=0, description="MD time step, fs")
    equilibration_steps: int = Field(1000, ge=0, description="steps dropped before the MSD")
    steps: int = Field(10000, ge=10, description="production steps per temperature")
    traj_stride: int = Field(10, ge=1, description="a frame every this many steps")
    tdamp_fs: float = Field(100.0, gt=0, description="thermostat time constant, fs")
    friction_per_fs: float = Field(0.01, gt=0, description="Langevin friction, 1/fs")
    seed: int = Field(0, ge=0, description="velocity (and Langevin noise) seed")
    n_blocks: int = Field(5, ge=2, description="blocks of the MSD for the σ of D")
    slope_tol: float = Field(0.1, gt=0, lt=1, description="diffusive window: local log-log "
                             "slope of the MSD within 1 ± slope_tol")
    max_slope_deviation: float = Field(0.2, gt=0, lt=1, description="a window whose fitted "
                                       "log-log slope is farther from 1 is not diffusive")

    @model_validator(mode="after")
    def _distinct(self) -> DiffusionSettings:
        if len(set(self.temperatures_K)) != len(self.temperatures_K):
            raise ValueError("temperatures_K must be distinct")
        return self

    def md(self, temperature_K: float) -> MDSettings:
        """The MD settings of one temperature (checkpoints every 100 frames)."""
        return MDSettings(ensemble=self.ensemble, temperature_K=temperature_K,
                          timestep_fs=self.timestep_fs,
                          steps=self.equilibration_steps + self.steps, tdamp_fs=self.tdamp_fs,
                          friction_per_fs=self.friction_per_fs, seed=self.seed,
                          traj_stride=self.traj_stride, checkpoint_every=100 * self.traj_stride)


@dataclass
class DiffusionPoint:
    """D at one temperature, or why there is none (``reason``; "" when diffusive)."""

    T_K: float  # thermostat temperature, K
    D_cm2_s: float | None
    D_sigma_cm2_s: float | None  # block standard error, cm²/s
    loglog_slope: float | None  # fitted log-log slope of the MSD in the window (1: diffusive)
    window_fs: tuple[float, float] | None
    reason: str = ""
    mean_T_K: float | None = None  # mean kinetic temperature of the production frames, K
    max_gamma: float | None = None  # largest γ met in the potential's run (None: not graded)

    @property
    def diffusive(self) -> bool:
        return self.D_cm2_s is not None


@dataclass
class DiffusionValidation:
    """D(T) of ``species`` at every temperature and the Arrhenius fit of the diffusive ones."""

    formula: str
    species: str
    n_atoms: int
    points: list[DiffusionPoint]
    Ea_eV: float | None = None
    Ea_sigma_eV: float | None = None
    D0_cm2_s: float | None = None
    arrhenius_reason: str = ""  # why there is no Ea ("" when fitted)
    settings: dict = field(default_factory=dict)

    @property
    def max_gamma(self) -> float | None:
        values = [p.max_gamma for p in self.points if p.max_gamma is not None]
        return max(values) if values else None

    def scalars(self) -> dict[str, tuple[float | None, str]]:
        out: dict[str, tuple[float | None, str]] = {
            f"D({p.T_K:g} K)": (p.D_cm2_s, "cm²/s") for p in self.points}
        out["Ea"] = (self.Ea_eV, "eV")
        return out

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> DiffusionValidation:
        points = [DiffusionPoint(**{**p, "window_fs": None if p["window_fs"] is None
                                    else tuple(p["window_fs"])}) for p in d["points"]]
        return cls(**{**d, "points": points})


def point_from_positions(positions: np.ndarray, times_fs: np.ndarray, mask: np.ndarray,
                         masses: np.ndarray, temperature_K: float,
                         settings: DiffusionSettings) -> DiffusionPoint:
    """D at one temperature from unwrapped positions (Å, frames × atoms × 3) at equally spaced
    ``times_fs``; ``mask`` selects the tracer atoms, ``masses`` (amu) remove the drift."""
    try:
        result = msd(positions, times_fs, mask, masses=masses, n_blocks=settings.n_blocks)
    except SeiflowError as exc:
        return DiffusionPoint(temperature_K, None, None, None, None, f"no MSD: {exc}")
    fit, reason = diffusive_D(result, settings.slope_tol, settings.max_slope_deviation)
    if fit is None:
        return DiffusionPoint(temperature_K, None, None, None, None, reason)
    return DiffusionPoint(temperature_K, fit.D_cm2_s, fit.D_sigma_cm2_s, fit.loglog_slope,
                          fit.window_fs)


def point_from_frames(frames: list[Atoms], species: str, temperature_K: float,
                      settings: DiffusionSettings) -> DiffusionPoint:
    """``point_from_positions`` of MD frames (``info["time_fs"]``, momenta for the kinetic T)."""
    try:
        positions = unwrap(frames)
        mask = select_species(frames[0], species)
    except SeiflowError as exc:
        return DiffusionPoint(temperature_K, None, None, None, None, f"no MSD: {exc}")
    times = np.array([f.info["time_fs"] for f in frames], dtype=float)
    point = point_from_positions(positions, times, mask, frames[0].get_masses(), temperature_K,
                                 settings)
    point.mean_T_K = float(np.mean([f.get_temperature() for f in frames]))
    return point


def fit_arrhenius(points: list[DiffusionPoint]) -> tuple[float | None, float | None,
                                                         float | None, str]:
    """Ea (eV), its σ (eV), D0 (cm²/s) from the diffusive points, or Nones and the reason."""
    good = [p for p in points if p.diffusive and p.D_cm2_s > 0]
    if len({p.T_K for p in good}) < 2:
        return None, None, None, (f"{len(good)} diffusive temperature(s) of {len(points)}; "
                                  "Ea needs 2")
    sigma = [p.D_sigma_cm2_s for p in good]
    weighted = all(s is not None and math.isfinite(s) and s > 0 for s in sigma)
    fit = arrhenius_fit([p.T_K for p in good], [p.D_cm2_s for p in good],
                        sigma if weighted else None)
    ea_sigma = fit.Ea_sigma_eV if math.isfinite(fit.Ea_sigma_eV) else None
    return fit.Ea_eV, ea_sigma, fit.D0, ""


def _run_temperature(atoms: Atoms, target, ctx: Context, settings: DiffusionSettings,
                     temperature_K: float, folder: Path) -> DiffusionPoint:
    md = settings.md(temperature_K)
    try:
        # ASE's loop: a graded potential is graded at every step (the row's max γ is "any
        # step"); the kernel's own loop grades at frames only
        result = run_md(atoms, ctx.factory(atoms), md, folder, progress=False,
                        kernel_loop=False)
    except SeiflowError as exc:  # unstable MD: the potential (or the reference) blew up
        return DiffusionPoint(temperature_K, None, None, None, None, f"MD failed: {exc}",
                              max_gamma=run_gamma(ctx.factory))
    frames = [f for f in ase.io.read(result.trajectory, index=":")
              if f.info["step"] >= settings.equilibration_steps]
    point = point_from_frames(frames, target.species, temperature_K, settings)
    point.max_gamma = run_gamma(ctx.factory)
    return point


def compute_diffusion(atoms: Atoms, target, ctx: Context,
                      settings: DiffusionSettings) -> DiffusionValidation:
    """Short MD of ``atoms`` at every temperature with ``ctx.factory``; see the module
    docstring. The MD of each temperature sits in ``<out>/<target>/md.<method>/`` under the
    hash of the settings, so a killed run resumes it (its γ then covers the resumed part)."""
    select_species(atoms, target.species)  # no tracer: fail before any MD
    run_gamma(ctx.factory)  # γ of anything before the MD does not count
    folder = ctx.out_dir / target.key / f"md.{ctx.method}" / digest(
        target.model_dump_json(), settings.model_dump_json())
    points = [_run_temperature(atoms, target, ctx, settings, t, folder / f"{t:g}K")
              for t in settings.temperatures_K]
    ea, ea_sigma, d0, reason = fit_arrhenius(points)
    return DiffusionValidation(atoms.get_chemical_formula(), target.species, len(atoms), points,
                               ea, ea_sigma, d0, reason, settings.model_dump(mode="json"))


def _status(side: str, point: DiffusionPoint | None) -> str:
    if point is None:
        return f"not run ({side})"
    return "" if point.diffusive else f"{point.reason} ({side})"


def diffusion_rows(key: str, potential: DiffusionValidation, reference: DiffusionValidation,
                   gamma_select: float) -> list[ComparisonRow]:
    """D(T) per temperature and Ea, potential next to reference with σ; a row whose MSD was
    not diffusive (either side) is not "ok" and says why; the potential's largest γ (at that
    temperature; over all for Ea) is on every row, flagged above ``gamma_select``."""
    pot = {p.T_K: p for p in potential.points}
    ref = {p.T_K: p for p in reference.points}
    rows = []
    for t in dict.fromkeys([*ref, *pot]):
        p, r = pot.get(t), ref.get(t)
        status = "; ".join(s for s in (_status("potential", p), _status("reference", r)) if s)
        gamma = p.max_gamma if p else None
        rows.append(ComparisonRow(
            key, "diffusion", f"D({t:g} K)", "cm²/s", p.D_cm2_s if p else None,
            r.D_cm2_s if r else None, status or "ok", p.D_sigma_cm2_s if p else None,
            r.D_sigma_cm2_s if r else None, gamma, gamma_flag(gamma, gamma_select), 0.0))
    reasons = [f"no Ea ({side}): {res.arrhenius_reason}" for side, res
               in (("potential", potential), ("reference", reference)) if res.Ea_eV is None]
    gamma = potential.max_gamma
    rows.append(ComparisonRow(key, "diffusion", "Ea", "eV", potential.Ea_eV, reference.Ea_eV,
                              "; ".join(reasons) or "ok", potential.Ea_sigma_eV,
                              reference.Ea_sigma_eV, gamma, gamma_flag(gamma, gamma_select)))
    return rows


class Diffusion(ValidationProperty):
    """D(T) and Ea by short MD (``diffusion:`` targets, ``diffusion_settings:``); figure:
    Arrhenius plot of both methods."""

    name = "diffusion"
    targets = TargetKind("diffusion")
    settings_field = "diffusion_settings"
    result = DiffusionValidation

    @classmethod
    def compute(cls, target, ctx, start) -> DiffusionValidation:
        return compute_diffusion(target.cell(), target, ctx, ctx.cfg.diffusion_settings)

    @classmethod
    def rows(cls, key: str, outcomes: dict[str, dict], cfg) -> list[ComparisonRow]:
        pot, ref = outcomes.get("potential"), outcomes.get("reference")
        if not (pot and ref and pot["status"] == ref["status"] == "ok"):
            return compare(key, cls.name, outcomes)  # a side failed or did not run
        return diffusion_rows(key, DiffusionValidation.from_dict(pot["result"]),
                              DiffusionValidation.from_dict(ref["result"]), cfg.gamma_select)

    @classmethod
    def figure(cls, data: dict, path) -> bool:
        from seiflow.report.properties import plot_arrhenius

        plot_arrhenius(data, path)
        return True

"""`seiflow md`: run (or resume) MD from a config with a trained model or a built-in
calculator, with the loop's γ policy (a graded model's γ is recorded every ``gamma_every``
steps, at most ``traj_stride`` apart; steps above γ_select are counted and warned about; γ
above γ_break stops the run).

Units: temperatures K, times fs, field V/Å; ``md-summary.yml`` states each.
"""

from __future__ import annotations

import logging
from collections import deque
from pathlib import Path

import ase.io
import numpy as np
from ase import Atoms
from ase.calculators.calculator import Calculator
from pydantic import Field, field_validator, model_validator

from seiflow.core.config import StrictModel
from seiflow.core.elements import check_element
from seiflow.core.errors import SeiflowError
from seiflow.md import FieldCalculator, GammaBreak, GammaWatch, MDSettings, run_md
from seiflow.md.gamma import gamma_trace, graded_frame
from seiflow.md.thermo import THERMO, read_thermo
from seiflow.potentials.base import check_species
from seiflow.potentials.graded import warn_if_ungraded
from seiflow.potentials.registry import load_potential
from seiflow.report.transport import gamma_trace_plot, thermo_plot
from seiflow.structures.io import read_structure
from seiflow.workflows.calculators import CalculatorSettings
from seiflow.workflows.summary import RunSummary

MD_SUMMARY = "md-summary.yml"
TRAJECTORY = "trajectory.extxyz"
BREAK_FRAME = "gamma-break.extxyz"  # the state γ_break stopped the run at
log = logging.getLogger(__name__)


class MDConfig(StrictModel):
    """``seiflow md`` configuration. Paths are relative to the working directory."""

    structure: Path = Field(..., description="starting structure (any format ASE reads)")
    potential: Path | None = Field(None, description="trained model folder (seiflow train)")
    calculator: CalculatorSettings | None = Field(None, description="or a built-in calculator")
    md: MDSettings
    out_dir: Path = Field(..., description="folder for trajectory.extxyz, checkpoint, summary")
    field_V_per_A: tuple[float, float, float] | None = Field(
        None, description="applied electric field, V/Å (force q·E on charged species)")
    field_charges: dict[str, float] | None = Field(
        None, description="charges (e) the field acts on; default formal Li +1")
    gamma_select: float = Field(2.0, gt=0, description="a trained model's extrapolation grade "
                                "above which frames are counted and a warning is given (the "
                                "loop's and validate's threshold)")
    gamma_break: float | None = Field(None, gt=0, description="stop the MD when γ exceeds "
                                      "this (the loop uses 10); None: never stop")
    gamma_every: int = Field(20, ge=1, description="grade γ every this many steps, at most "
                             "traj_stride apart: a model can go from γ ≈ 1 to a collapse in a "
                             "few steps; on the kernel loop every 20 steps costs ~2 %, every 5 "
                             "~6 % (benchmarks/gamma_interval_cost.py)")

    @field_validator("field_charges")
    @classmethod
    def _elements(cls, v: dict[str, float] | None) -> dict[str, float] | None:
        for symbol in v or {}:  # a charge for a non-element would be silently ignored
            try:
                check_element(symbol)
            except SeiflowError as exc:
                raise ValueError(str(exc)) from None
        return v

    @model_validator(mode="after")
    def _one_source(self) -> MDConfig:
        if (self.potential is None) == (self.calculator is None):
            raise ValueError("give exactly one of 'potential' (a model folder) or 'calculator'")
        if self.gamma_break is not None and self.gamma_break <= self.gamma_select:
            raise ValueError(f"gamma_break ({self.gamma_break:g}) must be above gamma_select "
                             f"({self.gamma_select:g})")
        if self.field_charges is not None and self.field_V_per_A is None:
            raise ValueError("'field_charges' needs 'field_V_per_A'")
        return self


def md_calculator(cfg: MDConfig, atoms: Atoms) -> Calculator:
    """The ASE calculator of ``cfg`` (trained model or built-in), wrapped in the applied field."""
    if cfg.potential is not None:
        model = load_potential(cfg.potential)
        check_species(atoms, model.species, f"the model {cfg.potential}")
        calc = model.calculator()  # graded: γ is recorded in the summary
        warn_if_ungraded(model, "this MD")
    else:
        check = getattr(cfg.calculator, "check", None)
        if check is not None:
            check(atoms)
        calc = cfg.calculator.calculator()
    if cfg.field_V_per_A is not None:
        calc = FieldCalculator(calc, cfg.field_V_per_A, cfg.field_charges)
    return calc


def _mean_kinetic_temperature(trajectory: Path, n_frames: int) -> float | None:
    """Mean kinetic temperature (K) over the frames after the first (at most ~500 of the
    ``n_frames``, evenly spaced), or None when there are none."""
    every = max(1, n_frames // 500)
    frames = ase.io.read(trajectory, index=f"1::{every}") if trajectory.is_file() else []
    if not frames:
        return None
    return float(np.mean([f.get_temperature() for f in frames]))


def _md_title(cfg: MDConfig, atoms: Atoms) -> str:
    end = cfg.md.temperature_end_K
    ramp = f"{cfg.md.temperature_K:g} K" + (f" → {end:g} K" if end is not None else "")
    return f"{cfg.md.ensemble.upper()} {ramp}, {len(atoms)} atoms"


def _gamma_plot(cfg: MDConfig, summary: RunSummary, trajectory: Path, title: str,
                trace: tuple[np.ndarray, np.ndarray] | None) -> None:
    """``gamma.png`` beside the trajectory: max γ per frame (``trace``: the trajectory's
    ``gamma_trace``; graded runs only)."""
    if trace is not None:
        summary.add_output(gamma_plot=gamma_trace_plot(
            *trace, trajectory.parent / "gamma.png", cfg.gamma_select, cfg.gamma_break, title))


def _stopped(cfg: MDConfig, summary: RunSummary, watch: GammaWatch, latest: deque[Atoms],
             title: str, exc: GammaBreak) -> SeiflowError:
    """Record a γ_break stop (summary, ``gamma.png``) and keep the state it stopped at in
    ``gamma-break.extxyz`` (per-atom γ in ``arrays["gamma"]``): the structure to label."""
    out = Path(cfg.out_dir)
    summary.data.update(max_gamma=watch.max_gamma, frames_graded=len(watch.gammas),
                        stopped_by_gamma_at_step=watch.broken_at)  # γ_break: an input's fault
    where = f"frames and checkpoint so far are in {out}"
    if latest and latest[-1].info["step"] == watch.broken_at:
        ase.io.write(out / BREAK_FRAME, latest[-1], format="extxyz")
        summary.add_output(gamma_break_frame=out / BREAK_FRAME)
        where += f", the state it stopped at in {BREAK_FRAME}"
    _gamma_plot(cfg, summary, out / TRAJECTORY, title, gamma_trace(out / TRAJECTORY))
    return SeiflowError(f"MD stopped: {exc}; the potential extrapolates there ({where}): add "
                        "such structures to its training set")


def _gamma_info(cfg: MDConfig, watch: GammaWatch, every: int,
                trace: tuple[np.ndarray, np.ndarray] | None, resumed_at: int) -> dict:
    """The summary's γ of the whole run (empty when nothing was graded): this call's graded
    steps and, after a resume, the frames of the trajectory's γ ``trace`` (time in fs, γ)
    written before step ``resumed_at`` (the resumed call grades that step again), so
    ``max_gamma`` and the count above γ_select do not forget the part before the restart.
    Warns when γ passed γ_select."""
    if not watch.gammas:
        return {}
    before = round(resumed_at * cfg.md.timestep_fs, 6)  # frames' time_fs is rounded alike
    earlier = trace[1][trace[0] < before] if resumed_at and trace is not None \
        else np.array([])
    graded = len(watch.gammas) + earlier.size
    above = watch.above(cfg.gamma_select) + int(np.sum(earlier > cfg.gamma_select))
    top = max([watch.max_gamma, *earlier])
    if above:
        log.warning("the potential extrapolated in %d of %d graded steps (γ > γ_select = %g, "
                    "max γ = %.3g): treat this trajectory with care, or add such structures "
                    "to the training set", above, graded, cfg.gamma_select, top)
    info = {"max_gamma": top, "gamma_select": cfg.gamma_select, "gamma_every_steps": every,
            "frames_gamma_above_select": above, "frames_graded": graded}
    if resumed_at:  # the part before the restart is known only at its written frames
        info["frames_graded_before_resume"] = int(earlier.size)
    return info


def run_md_config(cfg: MDConfig, progress: bool = True, config_file: str | None = None) -> dict:
    """Run (or resume) the MD of ``cfg``; writes ``trajectory.extxyz``, ``thermo.png``,
    ``gamma.png`` (a graded model's γ per frame, also when γ_break stopped the run) and
    ``md-summary.yml``.

    The summary's ``temperature_K`` is the thermostat temperature (K); for NVE it is the mean
    kinetic temperature of the trajectory, which ``seiflow analyze`` then uses; for a ramp it
    is None (``temperature_ramp_K`` holds start and end), so analyze asks for --temperature.
    """
    atoms = read_structure(cfg.structure)
    calc = md_calculator(cfg, atoms)
    inputs = {**cfg.model_dump(mode="json"), "config_file": config_file}
    out = Path(cfg.out_dir)
    with RunSummary(out / MD_SUMMARY, "seiflow md", inputs) as summary:
        summary.data.update(temperature_K=cfg.md.temperature_K, temperature_source="thermostat")
        if cfg.md.ramp:
            summary.data.update(temperature_K=None, temperature_source="thermostat ramp",
                                temperature_ramp_K=[cfg.md.temperature_K,
                                                    cfg.md.temperature_end_K])
        latest: deque[Atoms] = deque(maxlen=1)  # the last state above γ_select
        watch = GammaWatch(cfg.gamma_select, cfg.gamma_break,  # records γ; stops at γ_break
                           lambda *graded: latest.append(graded_frame(*graded)))
        every = min(cfg.gamma_every, cfg.md.traj_stride)
        try:
            res = run_md(atoms, calc, cfg.md, out, progress=progress, observers=[(watch, every)])
        except GammaBreak as exc:
            raise _stopped(cfg, summary, watch, latest, _md_title(cfg, atoms), exc) from None
        trace = gamma_trace(res.trajectory)  # read once: the summary's γ and gamma.png
        t_kin = _mean_kinetic_temperature(res.trajectory,
                                          res.steps_done // cfg.md.traj_stride + 1)
        info = {"steps_done": res.steps_done, "restarted_from": res.restarted_from,
                "ns_per_day": round(res.ns_per_day, 4),
                "mean_kinetic_temperature_K": t_kin, "trajectory": str(res.trajectory),
                **_gamma_info(cfg, watch, every, trace, res.restarted_from)}
        summary.data.update(info)
        if cfg.md.ensemble == "nve" and t_kin is not None:
            summary.data.update(temperature_K=t_kin, temperature_source="mean kinetic (NVE)")
        summary.add_output(trajectory=res.trajectory)
        thermo = out / THERMO
        summary.add_output(thermo=thermo, thermo_plot=thermo_plot(
            read_thermo(thermo), out / "thermo.png", _md_title(cfg, atoms)))
        _gamma_plot(cfg, summary, res.trajectory, _md_title(cfg, atoms), trace)
    return {**info, "temperature_K": summary.data["temperature_K"], "ensemble": cfg.md.ensemble}

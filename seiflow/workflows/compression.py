"""Compression of a packed amorphous cell, as in Li et al., Mater. Horiz. 12, 10770 (2025),
Sec. 2.1 (condensed at 50 kbar, then "an optimization ... to relax the atomic positions and
internal stress"), composed from seiflow's own pieces:

1. squeeze: ``max_steps`` optimizer steps (BFGS or FIRE) of cell and positions under the target
   pressure (ASE FrechetCellFilter with ``scalar_pressure``); a densification stage with a
   budget, like the paper's fixed-length NPT run: it stops early if forces fall below ``fmax``
   and the stress reaches the target, and its end point is reported either way;
2. optional NPT MD at the target pressure (seiflow.md.runner, MTK barostat) for ``npt_steps``;
3. the zero-stress relaxation every property calculation uses
   (seiflow.workflows.properties.base.relax, no symmetry constraint): forces < ``fmax`` eV/Å and
   every stress component < ``smax_GPa`` within ``relax_max_steps``. Not converging, exploding
   or a calculator failure raises StructureError: the structure is failed, never kept half done.

``scaled_to_zero_pressure`` scales a cell isotropically to a calculator's zero pressure (a few
single points): seiflow learn's ``zero_pressure`` sets strain their copies about it.
"""

from __future__ import annotations

import logging
import tempfile
import warnings
from dataclasses import dataclass
from pathlib import Path

import ase.io
import numpy as np
from ase import Atoms
from ase.calculators.calculator import Calculator

from seiflow.core.atomic import atomic_path
from seiflow.core.errors import SeiflowError, StructureError
from seiflow.core.units import GPA, KBAR, density_g_cm3
from seiflow.structures.amorphous import CompressionSettings
from seiflow.structures.geometry import check_no_overlap, perpendicular_widths
from seiflow.workflows.properties.base import CalcFactory, check_sane, relax, single_point

log = logging.getLogger(__name__)


@dataclass
class CompressionResult:
    """A compressed, relaxed structure and how it got there (all from the last single point)."""

    atoms: Atoms
    density_initial: float  # g/cm³, the packing
    density_squeezed: float  # g/cm³, at the end of the squeeze (and NPT MD)
    density_final: float  # g/cm³, after the zero-stress relaxation
    squeeze_steps: int
    squeeze_converged: bool  # forces < fmax and stress at the target before max_steps
    squeeze_pressure_GPa: float  # pressure at the end of the squeeze, GPa (target: pressure_kbar)
    relax_steps: int
    pressure_GPa: float  # final pressure -tr(σ)/3, GPa (≈ 0 within smax_GPa)
    max_stress_GPa: float  # largest residual stress component, GPa
    fmax_eV_A: float  # largest residual force, eV/Å
    converged: bool = True  # a result is only returned when the relaxation converged


def _factory(calc: Calculator | CalcFactory) -> CalcFactory:
    if isinstance(calc, Calculator):
        return lambda atoms: calc
    return calc


def _pressure_GPa(atoms: Atoms) -> float:
    return float(-np.asarray(atoms.get_stress(voigt=True))[:3].mean() / GPA)


def squeeze(atoms: Atoms, calc: Calculator, s: CompressionSettings) -> tuple[Atoms, int, bool]:
    """Stage 1: ``s.max_steps`` optimizer steps under ``s.pressure_kbar``. Returns the squeezed
    copy (calculator attached), the steps taken and whether it met ``s.fmax`` at the target."""
    from ase.filters import FrechetCellFilter
    from ase.optimize import BFGS, FIRE

    work = atoms.copy()
    work.calc = calc
    # exp_cell_factor=1: cell and atoms move on one scale, so a loose packing collapses in tens
    # of steps instead of hundreds (measured with GFN1-xTB on Li2CO3 + Li, 28 atoms)
    filt = FrechetCellFilter(work, scalar_pressure=s.pressure_kbar * KBAR, exp_cell_factor=1.0,
                             hydrostatic_strain=True)
    opt = {"BFGS": BFGS, "FIRE": FIRE}[s.optimizer](filt, logfile=None)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="logm result may be inaccurate")
        converged = bool(opt.run(fmax=s.fmax, steps=s.max_steps))
    return work, int(opt.nsteps), converged


def _npt(atoms: Atoms, s: CompressionSettings) -> Atoms:
    """Stage 2: NPT MD at the target pressure with the calculator already on ``atoms``."""
    from seiflow.md.runner import MDSettings, run_md

    md = MDSettings(ensemble="npt", temperature_K=s.temperature_K, timestep_fs=s.timestep_fs,
                    pressure_bar=s.pressure_kbar * 1000.0, steps=s.npt_steps,
                    traj_stride=s.npt_steps, checkpoint_every=s.npt_steps)
    with tempfile.TemporaryDirectory(prefix="seiflow-npt-") as tmp:
        out = run_md(atoms, atoms.calc, md, tmp, progress=False).atoms
    out.calc = atoms.calc
    return out


def _squeezed(atoms: Atoms, factory: CalcFactory, s: CompressionSettings):
    """Stages 1 and 2, with calculator failures and explosions as StructureError."""
    try:
        work, steps, converged = squeeze(atoms, factory(atoms), s)
        if s.npt_steps:
            work = _npt(work, s)
        p_GPa = _pressure_GPa(work)
    except SeiflowError as exc:
        raise StructureError(f"compression failed in the squeeze: {exc}") from exc
    except Exception as exc:  # a calculator failure (SCF, NaN...) ends this structure only
        raise StructureError(f"compression failed in the squeeze: {type(exc).__name__}: "
                             f"{exc}") from exc
    if not np.isfinite(p_GPa):
        raise StructureError("compression failed in the squeeze: non-finite stress")
    try:
        check_sane(work, what="squeezed cell")
    except SeiflowError as exc:
        raise StructureError(f"compression failed: {exc}") from exc
    work.calc = None
    return work, steps, converged, p_GPa


def compress(atoms: Atoms, calc: Calculator | CalcFactory,
             settings: CompressionSettings) -> CompressionResult:
    """Squeeze ``atoms`` at ``settings.pressure_kbar``, optionally run NPT MD there, then relax
    cell and positions to zero stress with the shared ``relax``. ``calc`` is an ASE calculator
    or a factory ``atoms -> calculator``. Raises StructureError (one line, with the reason) when
    the relaxation does not converge, the structure explodes or the calculator fails."""
    factory = _factory(calc)
    s = settings
    rho0 = density_g_cm3(atoms)
    work, squeeze_steps, squeeze_ok, squeeze_p = _squeezed(atoms, factory, s)
    rho_sq = density_g_cm3(work)
    try:
        res = relax(work, factory, cell=True, symmetry=False, fmax=s.fmax, smax=s.smax_GPa,
                    max_steps=s.relax_max_steps, what="zero-stress relaxation")
    except SeiflowError as exc:
        raise StructureError(
            f"compression failed: {exc} (after {squeeze_steps} squeeze steps at "
            f"{s.pressure_kbar:g} kbar, reaching {squeeze_p:.2f} GPa)") from exc
    out = res.atoms
    check_no_overlap(out)
    p_GPa = _pressure_GPa(out)
    out.calc = None
    result = CompressionResult(out, rho0, rho_sq, density_g_cm3(out), squeeze_steps, squeeze_ok,
                               squeeze_p, res.steps, p_GPa, res.max_stress, res.fmax)
    _record(out, result, s)
    return result


def _record(out: Atoms, r: CompressionResult, s: CompressionSettings) -> None:
    out.info.update(
        compress_pressure_kbar=s.pressure_kbar,
        density_initial=round(r.density_initial, 4),
        density_squeezed=round(r.density_squeezed, 4),
        density_final=round(r.density_final, 4),
        squeeze_steps=r.squeeze_steps,
        squeeze_converged=r.squeeze_converged,
        squeeze_pressure_GPa=round(r.squeeze_pressure_GPa, 3),
        npt_steps=s.npt_steps,
        relax_steps=r.relax_steps,
        relax_converged=True,
        final_pressure_GPa=round(r.pressure_GPa, 4),
        max_stress_GPa=round(r.max_stress_GPa, 4),
        relax_fmax_eV_A=round(r.fmax_eV_A, 4),
        relax_criteria=f"forces < {s.fmax} eV/Å, |stress| < {s.smax_GPa} GPa",
        widths_A=[round(float(w), 3) for w in perpendicular_widths(out.cell)],
    )


def scaled_to_zero_pressure(atoms: Atoms, calc: Calculator | CalcFactory,
                            tol_GPa: float = 0.05, max_calls: int = 10,
                            bulk_modulus_GPa: float = 50.0) -> Atoms:
    """``atoms`` (a copy) scaled isotropically, positions with the cell, until the pressure
    -tr(σ)/3 of ``calc`` is below ``tol_GPa``: secant steps in the linear scale factor from a
    first step with ``bulk_modulus_GPa`` (any guess within a factor of a few converges). The
    copy's info records ``zero_pressure_scale`` and ``zero_pressure_GPa``; not reaching the
    tolerance within ``max_calls`` single points raises StructureError."""
    factory = _factory(calc)
    name = atoms.info.get("name", atoms.get_chemical_formula())

    def pressure(scale: float) -> tuple[Atoms, float]:
        work = atoms.copy()
        work.set_cell(atoms.cell.array * scale, scale_atoms=True)
        try:  # single_point: a calculator failure or a non-finite result is PropertyFailed
            work = single_point(work, factory)
        except SeiflowError as exc:
            raise StructureError(f"{name}: the pressure at scale {scale:.4f} failed: "
                                 f"{exc}") from exc
        return work, _pressure_GPa(work)

    s0, (work, p0) = 1.0, pressure(1.0)
    s1 = 1.0 + p0 / (3.0 * bulk_modulus_GPa)  # dP/ds = -3B at s = 1
    for _ in range(max_calls - 1):
        if abs(p0) < tol_GPa:
            break
        work, p1 = pressure(s1)
        if p1 == p0:
            break
        s0, p0, s1 = s1, p1, s1 - p1 * (s1 - s0) / (p1 - p0)
    if not abs(p0) < tol_GPa:
        raise StructureError(f"{name}: no zero-pressure volume within {max_calls} single "
                             f"points (still {p0:+.3f} GPa at scale {s0:.4f})")
    work.calc = None
    work.info.update(zero_pressure_scale=round(s0, 6), zero_pressure_GPa=round(p0, 4))
    return work


def at_zero_pressure(structures: list[Atoms], calc: Calculator | CalcFactory,
                     folder: Path) -> list[Atoms]:
    """Each periodic structure scaled to ``calc``'s zero pressure (``scaled_to_zero_pressure``),
    computed once and kept in ``folder``. They are always read back from there, so a resumed
    run gets the very same numbers (and a store finds their copies' labels again)."""
    out = []
    for i, atoms in enumerate(structures):
        if atoms.cell.rank < 3 or not atoms.pbc.all():
            out.append(atoms)
            continue
        path = folder / f"{i:03d}-{atoms.info.get('name', atoms.get_chemical_formula())}.extxyz"
        if not path.exists():
            centred = scaled_to_zero_pressure(atoms, calc)
            log.info("%s at zero pressure: cell scaled by %.4f (%+.3f GPa)", path.stem,
                     centred.info["zero_pressure_scale"], centred.info["zero_pressure_GPa"])
            with atomic_path(path) as tmp:
                ase.io.write(tmp, centred, format="extxyz")
        out.append(ase.io.read(path))
    return out

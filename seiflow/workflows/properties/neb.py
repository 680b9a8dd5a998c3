"""Migration barriers by the climbing-image nudged elastic band (CI-NEB) method, with any
calculator factory: the validation suite runs the same path with the potential and with the
reference method, as Li et al. (Mater. Horiz. 2025, Fig. 5) do for Li vacancy hopping,
interstitial knock-off and Frenkel-pair formation in Li2CO3 (end points from
``seiflow.structures.migration``).

Steps: relax both end points (positions only, cell fixed), check they are still distinct minima,
interpolate the band (ASE's IDPP or a straight line, minimum image), relax it with ASE's NEB
(improved-tangent springs, climbing image) where every image has its own calculator from the
factory, then check the result: converged, nothing exploded, no image below the end points (a
deeper minimum on the way makes the band two hops, neither of them the one asked for), the
climbing image above both end points and no higher point of the smooth curve between images.
Any failure raises PropertyFailed with one line: the suite records it, it never receives half
a result.

Optimizer: ASE's FIRE by default, because it converged on every path tried. MDMin (velocity-
projected "quick-min") needs the fewest force calls on four EMT paths with 3-5 images (5-16
steps against 18-48 for FIRE), but on Li2CO3 with a seiflow MTP it oscillated without
converging on the vacancy hop with one image (300 steps; FIRE: 15) and on the knock-off path
with five (400 steps; FIRE with three images: 82). BFGS was between the two; ASE's NEBOptimizer
(ODE12r) stopped short of the force criterion on two of the four EMT paths.
``NEBSettings.optimizer`` chooses another.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Literal

import numpy as np
from ase import Atoms
from ase.calculators.singlepoint import SinglePointCalculator
from ase.geometry import find_mic
from ase.mep import NEB
from pydantic import Field

from seiflow.analysis.comparison import ComparisonRow, compare, gamma_flag
from seiflow.analysis.neb import NEBProfile, neb_profile
from seiflow.core.config import StrictModel
from seiflow.core.errors import SeiflowError
from seiflow.core.progress import progress_bar
from seiflow.workflows.properties.base import CalcFactory, PropertyFailed, check_sane
from seiflow.workflows.properties.calcs import Calc, CalculationCrashed, Runner, serial
from seiflow.workflows.properties.spec import TargetKind, ValidationProperty, outcome_gamma


class NEBSettings(StrictModel):
    """How a climbing-image NEB is run. Energies in eV, lengths in Å, forces in eV/Å."""

    n_images: int = Field(5, ge=1, description="intermediate images (end points not counted)")
    climb: bool = Field(True, description="climbing image: the highest image finds the saddle")
    fmax: float = Field(0.05, gt=0, description="band convergence: largest NEB force, eV/Å")
    max_steps: int = Field(500, ge=1, description="optimizer steps of the band")
    spring_constant: float = Field(0.1, gt=0, description="spring between images, eV/Å²")
    interpolation: Literal["idpp", "linear"] = Field(
        "idpp", description="initial band: ASE's image-dependent pair potential or straight line")
    optimizer: Literal["mdmin", "fire", "bfgs", "ode"] = Field(
        "fire", description="band optimizer: ASE FIRE, MDMin, BFGS or NEBOptimizer (ODE12r)")
    relax_endpoints: bool = Field(True, description="relax end-point positions (cell fixed)")
    endpoint_fmax: float = Field(0.02, gt=0, description="end-point force convergence, eV/Å")
    endpoint_max_steps: int = Field(500, ge=1, description="end-point relaxation steps")
    min_endpoint_separation: float = Field(
        0.5, gt=0, description="relaxed end points whose atoms all lie closer than this to "
        "each other (minimum image) have collapsed into one minimum, Å")
    saddle_tolerance: float = Field(
        0.05, ge=0, description="the smooth curve may rise at most this far above the "
        "climbing image (a higher point means a missed saddle), eV")
    minimum_tolerance: float = Field(
        0.02, ge=0, description="an image may lie at most this far below the lower end point "
        "(a lower image means the path passes a deeper intermediate minimum), eV")


@dataclass
class EndpointInfo:
    """An end point of the band: its energy and relaxation."""

    energy: float  # eV
    steps: int  # relaxation steps (0: not relaxed)
    fmax: float  # largest remaining force on a free atom, eV/Å
    displacement: float  # largest atom displacement by the relaxation, Å

    def to_dict(self) -> dict:
        return {"energy_eV": self.energy, "steps": self.steps, "fmax_eV_A": self.fmax,
                "displacement_A": self.displacement}

    @classmethod
    def from_dict(cls, d: dict) -> EndpointInfo:
        return cls(float(d["energy_eV"]), int(d["steps"]), float(d["fmax_eV_A"]),
                   float(d["displacement_A"]))


@dataclass
class NEBResult:
    """A converged band and its profile. ``images`` (end points included) carry their energies
    and true forces in SinglePointCalculators."""

    profile: NEBProfile
    image_energies: np.ndarray  # absolute energies of all images, eV
    images: list[Atoms]
    n_force_calls: int  # calculator evaluations: end points and band
    n_steps: int  # band optimizer steps
    fmax: float  # largest NEB force at the end, eV/Å
    climbing_fmax: float  # largest true force on the climbing image, eV/Å (nan without climb)
    endpoint_separation: float  # largest atom displacement between the relaxed end points, Å
    initial: EndpointInfo
    final: EndpointInfo
    settings: NEBSettings
    wall_s: float

    def scalars(self) -> dict[str, tuple[float, str]]:
        """Rows of the comparison table."""
        return {
            "barrier (forward)": (self.profile.barrier_forward, "eV"),
            "barrier (backward)": (self.profile.barrier_backward, "eV"),
            "reaction energy": (self.profile.reaction_energy, "eV"),
        }

    def to_dict(self) -> dict:
        """JSON-ready dict: the profile's keys at the top level (``path_A``, ``energies_eV``,
        ``barrier_forward_eV``...), the run's numbers, and the band's geometry and true forces
        under ``band`` (drop it for a compact summary)."""
        return {
            **self.profile.to_dict(),
            "image_energies_eV": self.image_energies.tolist(),
            "n_force_calls": self.n_force_calls,
            "n_steps": self.n_steps,
            "fmax_eV_A": self.fmax,
            "climbing_fmax_eV_A": self.climbing_fmax,
            "endpoint_separation_A": self.endpoint_separation,
            "initial_endpoint": self.initial.to_dict(),
            "final_endpoint": self.final.to_dict(),
            "settings": self.settings.model_dump(),
            "wall_s": self.wall_s,
            "band": _band_to_dict(self.images),
        }

    @classmethod
    def from_dict(cls, d: dict) -> NEBResult:
        return cls(
            profile=NEBProfile.from_dict(d),
            image_energies=np.asarray(d["image_energies_eV"], dtype=float),
            images=_band_from_dict(d["band"], d["image_energies_eV"]),
            n_force_calls=int(d["n_force_calls"]),
            n_steps=int(d["n_steps"]),
            fmax=float(d["fmax_eV_A"]),
            climbing_fmax=float(d["climbing_fmax_eV_A"]),
            endpoint_separation=float(d["endpoint_separation_A"]),
            initial=EndpointInfo.from_dict(d["initial_endpoint"]),
            final=EndpointInfo.from_dict(d["final_endpoint"]),
            settings=NEBSettings.model_validate(d["settings"]),
            wall_s=float(d["wall_s"]),
        )


class _CountedNEB(NEB):
    """ase.mep.NEB that counts band evaluations (calls at new positions; repeated calls at the
    same positions are answered from the images' calculator caches). With a ``runner``
    (``calcs.py``; set after the interpolation, whose IDPP steps use their own calculators)
    every band evaluation is one round of single points, an engine task per intermediate image,
    whose results the images then carry (SinglePointCalculators)."""

    def __init__(self, images: list[Atoms], k: float, climb: bool):
        super().__init__(images, k=k, climb=climb, method="improvedtangent")
        self.evaluations, self.runner = 0, None
        self._last: np.ndarray | None = None

    def reset_count(self) -> None:
        self.evaluations = 0
        self._last = None

    def get_forces(self):
        pos = self.get_positions()
        if self._last is None or not np.array_equal(pos, self._last):
            self.evaluations += 1
            self._last = pos.copy()
            if self.runner is not None:
                self._compute_images()
        return super().get_forces()

    def _compute_images(self) -> None:
        inner = self.images[1:-1]
        calcs = [Calc("point", image.copy(), f"NEB image {i}", {"stress": False})
                 for i, image in enumerate(inner, start=1)]
        for image, res in zip(inner, self.runner(calcs)):
            image.calc = SinglePointCalculator(image, energy=res.energy,
                                               forces=res.atoms.get_forces())


def compute_neb(initial: Atoms, final: Atoms, factory: CalcFactory, settings: NEBSettings,
                progress: bool = False, runner: Runner | None = None) -> NEBResult:
    """Climbing-image NEB from ``initial`` to ``final`` (same atoms in the same order, same cell).
    Constraints on ``initial`` (e.g. FixAtoms) apply to every image. Every failure, including a
    seiflow error raised by the factory's calculator, comes out as PropertyFailed.
    ``runner``: computes the end-point relaxations (together) and each band evaluation's
    images (together) instead of ``factory`` here (the reference's side of ``seiflow
    validate``: engine tasks, each kept, so a killed NEB's rerun recomputes nothing it had)."""
    try:
        return _compute(initial, final, factory, settings, progress, runner)
    except PropertyFailed:
        raise
    except SeiflowError as exc:
        raise PropertyFailed(f"NEB: {exc}") from exc


def _compute(initial: Atoms, final: Atoms, factory: CalcFactory, settings: NEBSettings,
             progress: bool, runner: Runner | None) -> NEBResult:
    t0 = time.perf_counter()
    _check_pair(initial, final)
    ends, infos, calls = _endpoints(initial, final, settings,
                                    runner or serial(factory, label="NEB end points"))
    separation = _max_displacement(ends[0], ends[1])
    if separation < settings.min_endpoint_separation:
        raise PropertyFailed(
            f"the relaxed end points collapsed into one minimum (no atom differs by more than "
            f"{separation:.2f} Å): the path is meaningless")
    neb = _band(ends[0], ends[1], factory, settings, runner)
    steps = _optimize(neb, settings, progress)
    forces = neb.get_forces()  # at the final positions (cached: no new calculation)
    calls += neb.evaluations * settings.n_images
    for i, image in enumerate(neb.images[1:-1], start=1):
        check_sane(image, what=f"NEB image {i}")
    fmax = float(np.linalg.norm(forces, axis=1).max())
    if fmax >= settings.fmax:
        raise PropertyFailed(f"NEB did not converge: largest force {fmax:.3f} eV/Å after "
                             f"{steps} of at most {settings.max_steps} steps (asked < "
                             f"{settings.fmax} eV/Å)")
    images = _frozen_images(neb)
    energies = np.array([im.get_potential_energy() for im in images])
    true_forces = np.array([im.get_forces(apply_constraint=False) for im in images])
    try:
        profile = neb_profile(energies, [im.positions for im in images], images[0].cell.array,
                              images[0].pbc, forces=true_forces)
    except SeiflowError as exc:
        raise PropertyFailed(f"NEB profile: {exc}") from exc
    climbing_fmax = _check_saddle(neb, profile, settings, images)
    return NEBResult(profile=profile, image_energies=energies, images=images,
                     n_force_calls=calls, n_steps=steps, fmax=fmax,
                     climbing_fmax=climbing_fmax, endpoint_separation=separation,
                     initial=infos[0], final=infos[1], settings=settings,
                     wall_s=time.perf_counter() - t0)


def _check_pair(initial: Atoms, final: Atoms) -> None:
    if len(initial) != len(final) or (initial.numbers != final.numbers).any():
        raise PropertyFailed("NEB end points must hold the same atoms in the same order")
    if not np.allclose(initial.cell.array, final.cell.array, atol=1e-6) or \
            (initial.pbc != final.pbc).any():
        raise PropertyFailed("NEB end points must share one cell and periodicity")
    if _max_displacement(initial, final) < 1e-6:
        raise PropertyFailed("NEB end points are identical: there is no path")


def _max_displacement(a: Atoms, b: Atoms) -> float:
    """Largest displacement of any atom between two structures (minimum image), Å."""
    _, d = find_mic(b.positions - a.positions, a.cell, a.pbc)
    return float(d.max()) if len(d) else 0.0


def _endpoints(initial: Atoms, final: Atoms, settings: NEBSettings,
               run: Runner) -> tuple[list[Atoms], list[EndpointInfo], int]:
    """Both end points (under ``initial``'s constraints) relaxed at fixed cell, or computed
    once, by ``run``: each with a SinglePointCalculator, their infos, the number of force
    calls."""
    starts, calcs = [], []
    for atoms, what in ((initial, "initial"), (final, "final")):
        atoms = atoms.copy()
        atoms.set_constraint([c.copy() for c in initial.constraints])
        starts.append(atoms)
        calcs.append(Calc("relax", atoms, f"{what} end-point relaxation",
                          {"cell": False, "symmetry": False, "fmax": settings.endpoint_fmax,
                           "max_steps": settings.endpoint_max_steps})
                     if settings.relax_endpoints else Calc("point", atoms, f"{what} end point"))
    ends, infos, calls = [], [], 0
    for atoms, res in zip(starts, run(calcs)):
        out = res.atoms
        out.set_constraint([c.copy() for c in initial.constraints])
        fmax = float(np.linalg.norm(out.get_forces(), axis=1).max())  # constrained forces
        ends.append(out)
        infos.append(EndpointInfo(res.energy, res.steps, fmax, _max_displacement(atoms, out)))
        calls += res.steps + 2 if settings.relax_endpoints else 1  # BFGS steps + start + final
    return ends, infos, calls


def _band(initial: Atoms, final: Atoms, factory: CalcFactory, settings: NEBSettings,
          runner: Runner | None) -> _CountedNEB:
    """End points plus interpolated intermediate images, each with its own calculator (with a
    ``runner``: none, the runner computes them)."""
    images = [initial]
    for _ in range(settings.n_images):
        image = initial.copy()
        image.calc = factory(image) if runner is None else None
        images.append(image)
    images.append(final)
    neb = _CountedNEB(images, k=settings.spring_constant, climb=settings.climb)
    try:
        neb.interpolate(method=settings.interpolation, mic=True, apply_constraint=False)
    except Exception as exc:
        raise PropertyFailed(f"NEB interpolation failed: {type(exc).__name__}: {exc}") from exc
    neb.reset_count()  # IDPP's own steps used its pair potential, not the factory
    neb.runner = runner
    for i, image in enumerate(images[1:-1], start=1):
        check_sane(image, what=f"interpolated NEB image {i}")
    return neb


def _optimizer(neb: NEB, name: str):
    from ase.mep.neb import NEBOptimizer
    from ase.optimize import BFGS, FIRE, MDMin

    if name == "ode":
        return NEBOptimizer(neb, method="ode", logfile=None)
    return {"fire": FIRE, "mdmin": MDMin, "bfgs": BFGS}[name](neb, logfile=None)


def _optimize(neb: _CountedNEB, settings: NEBSettings, progress: bool) -> int:
    """Relax the band; returns the optimizer's step count. Calculator errors → PropertyFailed."""
    opt = _optimizer(neb, settings.optimizer)
    with progress_bar(progress) as bar:
        task = bar.add_task("NEB steps", total=settings.max_steps)
        opt.attach(lambda: bar.advance(task))
        try:
            opt.run(fmax=settings.fmax, steps=settings.max_steps)
        except (SeiflowError, CalculationCrashed):  # a crash is not kept: a rerun tries again
            raise
        except Exception as exc:  # SCF failure, NaN, exploded geometry in the calculator
            raise PropertyFailed(f"NEB failed: {type(exc).__name__}: {exc}") from exc
    return int(opt.nsteps)


def _frozen_images(neb: _CountedNEB) -> list[Atoms]:
    """Copies of the band with energies and true forces frozen in SinglePointCalculators."""
    out = []
    for i, image in enumerate(neb.images):
        copy = image.copy()
        if 0 < i < neb.nimages - 1:
            energy, forces = float(neb.energies[i]), neb.real_forces[i].copy()
        else:
            energy = float(image.get_potential_energy())
            forces = image.get_forces(apply_constraint=False)
        copy.calc = SinglePointCalculator(copy, energy=energy, forces=forces)
        out.append(copy)
    return out


def _check_saddle(neb: _CountedNEB, profile: NEBProfile, settings: NEBSettings,
                  images: list[Atoms]) -> float:
    """No image may lie below the end points, and the band's top must be a real maximum: above
    both end points, at an interior image, with no higher point of the smooth curve between
    images. Returns the climbing image's largest true force (nan without a climbing image)."""
    floor = min(0.0, profile.reaction_energy)
    low = int(np.argmin(profile.energies))
    depth = floor - float(profile.energies[low])
    if depth > settings.minimum_tolerance:
        raise PropertyFailed(
            f"intermediate minimum: image {low} lies {depth:.3f} eV below the lower end point, "
            f"so the band is not one hop; relax that image of the band and use it as an end "
            f"point", structures={"neb-band.extxyz": images})
    top = profile.saddle_index
    if top in (0, len(images) - 1) or profile.barrier_backward <= 0.0:
        rise = ", ".join(f"{e:.3f}" for e in profile.energies)
        raise PropertyFailed("no barrier: the highest point of the band is an end point "
                             "(an end point is not a minimum, or the path is downhill); "
                             f"image energies above the initial end point: {rise} eV",
                             structures={"neb-band.extxyz": images})
    excess = profile.barrier_fit - profile.barrier_forward
    if excess > settings.saddle_tolerance:
        raise PropertyFailed(f"the fitted path rises {excess:.3f} eV above the highest image: "
                             f"a higher saddle lies between images; use more images")
    if not settings.climb:
        return float("nan")
    if neb.imax != top:
        raise PropertyFailed(f"the climbing image ({neb.imax}) is not the highest image ({top})")
    forces = images[top].get_forces(apply_constraint=True)
    return float(np.linalg.norm(forces, axis=1).max())


def _band_to_dict(images: list[Atoms]) -> dict:
    first = images[0]
    return {
        "symbols": first.get_chemical_symbols(),
        "cell_A": first.cell.array.tolist(),
        "pbc": [bool(p) for p in first.pbc],
        "positions_A": [im.positions.tolist() for im in images],
        "forces_eV_A": [im.get_forces(apply_constraint=False).tolist() for im in images],
    }


def _band_from_dict(d: dict, energies: list[float]) -> list[Atoms]:
    out = []
    for pos, energy, forces in zip(d["positions_A"], energies, d["forces_eV_A"]):
        atoms = Atoms(d["symbols"], positions=pos, cell=d["cell_A"], pbc=d["pbc"])
        atoms.calc = SinglePointCalculator(atoms, energy=energy, forces=np.array(forces))
        out.append(atoms)
    return out


def neb_endpoints(target) -> tuple[Atoms, Atoms]:
    """Relaxable end points of the target's mechanism (seiflow.structures.migration)."""
    from seiflow.structures.migration import MECHANISMS

    return MECHANISMS[target.mechanism](target.cell(), species=target.species)


class Barrier(ValidationProperty):
    """CI-NEB barrier of a migration mechanism (``neb:`` targets, ``neb_settings:``);
    figure: both energy profiles."""

    name = "neb"
    targets = TargetKind("neb", fans_out=True)
    settings_field = "neb_settings"
    result = NEBResult

    @classmethod
    def compute(cls, target, ctx, start) -> NEBResult:
        return compute_neb(*neb_endpoints(target), ctx.factory, ctx.cfg.neb_settings,
                           runner=ctx.runner)

    @classmethod
    def rows(cls, key: str, outcomes: dict[str, dict], cfg) -> list[ComparisonRow]:
        """The generic rows; each barrier row also states the largest γ the potential met
        anywhere along its calculation (end points, every band step), flagged above
        ``gamma_select``."""
        rows = compare(key, cls.name, outcomes)
        gamma = outcome_gamma(outcomes.get("potential"))
        for row in rows:
            if row.quantity != "max γ (potential)":
                row.max_gamma, row.flag = gamma, gamma_flag(gamma, cfg.gamma_select)
        return rows

    @classmethod
    def figure(cls, data: dict, path) -> bool:
        from seiflow.report.neb import neb_overlay_plot

        neb_overlay_plot(data, path)
        return True

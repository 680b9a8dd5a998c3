"""One property of one structure with one method: the commands ``seiflow singlepoint``,
``geomopt``, ``eos``, ``elastic``, ``phonons`` and ``neb``.

The method is a model folder or a labeler (``methods.MethodSpec``, the same resolution as
``seiflow validate``'s potential and ``reference:``); the numbers come from the property code
that ``seiflow validate`` runs (``properties/``: ``relax``, ``compute_lattice``,
``compute_elastic``, ``compute_phonons``, ``compute_neb``, with their settings models), so a
command and the suite give the same result for the same inputs. Elastic constants and phonons
start, as in the suite, from the crystal relaxed with the ``lattice`` settings
(``relax_crystal``) unless ``relax`` is off.

Layout of ``out_dir``::

    <command>.json          results, units in the key names (eV, Å, GPa, THz)
    <command>-summary.yml   inputs, method and settings, versions, times, outputs, status
    *.png                   the figure(s) of the property (none for singlepoint)
    *.extxyz                relaxed structure (geomopt, eos, elastic, phonons), band (neb)
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import ase.io
import numpy as np
from ase import Atoms
from pydantic import Field, model_validator

from seiflow.core.atomic import write_json
from seiflow.core.config import MAX_WIDTH_A, StrictModel
from seiflow.core.errors import ConfigError
from seiflow.core.units import GPA
from seiflow.structures.io import read_structure
from seiflow.workflows.methods import MethodSpec
from seiflow.workflows.properties.base import CalcFactory, PropertyFailed, relax, single_point
from seiflow.workflows.properties.crystal import relax_crystal
from seiflow.workflows.properties.elastic import ElasticSettings, compute_elastic
from seiflow.workflows.properties.lattice import LatticeSettings, atoms_to_dict, compute_lattice
from seiflow.workflows.properties.neb import NEBSettings, compute_neb, neb_endpoints
from seiflow.workflows.properties.phonons import PhononSettings, compute_phonons
from seiflow.workflows.summary import RunSummary
from seiflow.workflows.validate import CrystalSource, NEBTarget

Scalars = dict[str, tuple[float, str]]


class StructureSpec(CrystalSource):
    """A library ``phase`` (key or alias) or a structure ``file``, repeated to ``min_width``
    when given (else used as it is)."""

    min_width: float | None = Field(None, gt=0, le=MAX_WIDTH_A,
                                    description="repeat the cell to this perpendicular width, Å")

    def atoms(self) -> Atoms:
        """Loaded as ``seiflow build`` and ``seiflow validate`` load a phase."""
        return self.cell()


class NEBPath(StrictModel):
    """Two end-point files (same atoms, same cell), or a crystal and a mechanism (the end
    points ``seiflow validate``'s ``neb:`` entries build: seiflow.structures.migration)."""

    initial: Path | None = None
    final: Path | None = None
    crystal: NEBTarget | None = None

    @model_validator(mode="after")
    def _one_source(self):
        files = self.initial is not None and self.final is not None
        if files == (self.crystal is not None) or (self.initial is None) != (self.final is None):
            raise ValueError("give two end-point files, or a crystal (file or --phase) and "
                             "--mechanism")
        return self

    @property
    def name(self) -> str:
        if self.crystal is not None:
            return self.crystal.key
        return f"{self.initial.stem}-{self.final.stem}"

    def endpoints(self) -> tuple[Atoms, Atoms]:
        if self.crystal is not None:
            return neb_endpoints(self.crystal)
        return read_structure(self.initial), read_structure(self.final)


class GeomOptSettings(StrictModel):
    """``properties.base.relax``'s settings (its defaults are those of the suite's crystal
    relaxation, ``LatticeSettings``)."""

    fmax: float = Field(0.01, gt=0, description="force convergence, eV/Å")
    smax: float = Field(0.01, gt=0, description="stress convergence (with cell), GPa")
    max_steps: int = Field(500, ge=1, description="optimizer steps")
    cell: bool = Field(False, description="relax the cell too (FrechetCellFilter)")
    symmetry: bool = Field(False, description="keep the space group (ASE FixSymmetry)")


@dataclass
class Computed:
    """What a command computed: the JSON result, the console rows, and the files to write
    (figures: name → writer of that path; structures: name → Atoms or a list of them)."""

    result: dict
    scalars: Scalars
    figures: dict[str, Callable[[Path], Any]] = field(default_factory=dict)
    structures: dict[str, Atoms | list[Atoms]] = field(default_factory=dict)


@dataclass
class Outcome:
    """What ``run_command`` hands back to the command line."""

    method: str
    scalars: Scalars
    files: list[Path]


def run_command(command: str, method: MethodSpec, structures: list[Atoms], inputs: dict,
                out_dir: Path, compute: Callable[[CalcFactory], Computed]) -> Outcome:
    """Check the structures against the method, run ``compute`` with its calculator factory
    and write the results, figures, structures and summary (see the module docstring). A
    failed calculation (PropertyFailed) is recorded in the summary and raised."""
    for atoms in structures:
        method.check(atoms)
    factory = method.factory()
    out_dir.mkdir(parents=True, exist_ok=True)
    inputs = {"method": method.model_dump(mode="json", exclude_none=True), **inputs}
    with RunSummary(out_dir / f"{command}-summary.yml", f"seiflow {command}", inputs) as summary:
        t0 = time.perf_counter()
        try:
            done = compute(factory)
        except PropertyFailed as exc:  # keep what the failure left to act on, then report
            if not exc.structures:
                raise
            names = _write_structures(out_dir, exc.structures, summary)
            raise PropertyFailed(f"{exc} (written to {out_dir}: {', '.join(names)})",
                                 exc.structures) from exc
        wall = round(time.perf_counter() - t0, 2)
        scalars = dict(done.scalars)
        data = {"command": command, "method": method.label, "structure": inputs["structure"],
                "result": done.result, "wall_s": wall}
        gamma = getattr(factory, "take_run_gamma", lambda: None)()
        if gamma is not None:  # a graded potential: the largest grade met at any step
            data["max_gamma"] = gamma
            scalars["max γ (any step)"] = (gamma, "")
        files = [out_dir / f"{command}.json"]
        write_json(files[0], data)
        files += [out_dir / name for name in _write_structures(out_dir, done.structures)]
        for name, writer in done.figures.items():
            writer(out_dir / name)
            files.append(out_dir / name)
        summary.data["results"] = {k: {"value": None if v is None else float(v),
                                        "unit": u} for k, (v, u) in scalars.items()}
        for path in files:
            summary.add_output(file=path.name)
    return Outcome(method.label, scalars, files + [summary.path])


def _write_structures(out_dir: Path, structures: dict[str, Atoms | list[Atoms]],
                      summary: RunSummary | None = None) -> list[str]:
    for name, atoms in structures.items():
        ase.io.write(out_dir / name, atoms)
        if summary is not None:
            summary.add_output(file=name)
    return list(structures)


# --------------------------------------------------------------------------- the commands
def singlepoint(atoms: Atoms) -> Callable[[CalcFactory], Computed]:
    """Energy, forces and (periodic cell) stress of ``atoms`` as given."""

    def compute(factory: CalcFactory) -> Computed:
        sp = single_point(atoms, factory)
        n, energy = len(sp), float(sp.get_potential_energy())
        forces = sp.get_forces()
        fmax = float(np.linalg.norm(forces, axis=1).max())
        result = {"n_atoms": n, "energy_eV": energy, "energy_per_atom_eV": energy / n,
                  "max_force_eV_A": fmax, "forces_eV_A": forces.tolist(),
                  "atoms": atoms_to_dict(sp)}
        scalars = {"E": (energy, "eV"), "E/atom": (energy / n, "eV"),
                   "max |F|": (fmax, "eV/Å")}
        if "stress" in sp.calc.results:
            stress = np.asarray(sp.get_stress(voigt=True)) / GPA
            result["stress_GPa"] = stress.tolist()  # xx yy zz yz xz xy, tensile positive
            result["pressure_GPa"] = float(-stress[:3].mean())
            scalars["pressure"] = (result["pressure_GPa"], "GPa")
        return Computed(result, scalars)

    return compute


def geomopt(atoms: Atoms, settings: GeomOptSettings) -> Callable[[CalcFactory], Computed]:
    """``relax`` with ``settings``; the energy and largest force of every step are kept."""
    s = settings
    if s.cell and not atoms.pbc.all():
        raise ConfigError("--cell needs a structure periodic in all three directions")

    def compute(factory: CalcFactory) -> Computed:
        energies, fmaxes, smaxes = [], [], []

        def observe(work: Atoms) -> None:
            energies.append(float(work.get_potential_energy()))
            fmaxes.append(float(np.linalg.norm(work.get_forces(), axis=1).max(initial=0.0)))
            if s.cell:
                smaxes.append(float(np.abs(work.get_stress()).max() / GPA))

        rel = relax(atoms, factory, cell=s.cell, symmetry=s.symmetry, fmax=s.fmax, smax=s.smax,
                    max_steps=s.max_steps, what="geometry optimisation", observe=observe)
        n, out = len(rel.atoms), rel.atoms
        result = {"n_atoms": n, "energy_eV": rel.energy, "energy_per_atom_eV": rel.energy / n,
                  "steps": rel.steps, "fmax_eV_A": rel.fmax, "max_stress_GPa": rel.max_stress,
                  "trajectory": {"energy_eV": energies, "fmax_eV_A": fmaxes}}
        if s.cell:
            result["trajectory"]["max_stress_GPa"] = smaxes
        scalars = {"E": (rel.energy, "eV"), "E/atom": (rel.energy / n, "eV"),
                   "steps": (float(rel.steps), ""), "max |F|": (rel.fmax, "eV/Å")}
        if out.pbc.all():
            a, b, c, alpha, beta, gamma = (float(x) for x in out.cell.cellpar())
            result.update(volume_A3=float(out.get_volume()), a_A=a, b_A=b, c_A=c,
                          alpha_deg=alpha, beta_deg=beta, gamma_deg=gamma)
            scalars.update({"max |σ|": (rel.max_stress, "GPa"), "V": (out.get_volume(), "Å³")})
        result["atoms"] = atoms_to_dict(out)
        figures = {"geomopt.png": lambda p: _relaxation_plot(energies, fmaxes, smaxes, p)}
        return Computed(result, scalars, figures, {"relaxed.extxyz": out})

    return compute


def eos(atoms: Atoms, lattice: LatticeSettings, label: str,
        progress: bool = False) -> Callable[[CalcFactory], Computed]:
    """``compute_lattice``: relaxed lattice and Birch–Murnaghan EOS."""

    def compute(factory: CalcFactory) -> Computed:
        from seiflow.report.properties import plot_eos

        res = compute_lattice(atoms, factory, lattice, progress=progress)
        data = res.to_dict()
        return Computed(data, res.scalars(), {"eos.png": lambda p: plot_eos({label: data}, p)},
                        {"relaxed.extxyz": res.atoms})

    return compute


def _start(atoms: Atoms, factory: CalcFactory, lattice: LatticeSettings | None) -> Atoms:
    """The crystal a property starts from: relaxed as in the suite, or as given (None)."""
    if lattice is None:
        return atoms
    return relax_crystal(atoms, factory, lattice, "crystal relaxation").atoms


def _relaxed(start: Atoms, lattice: LatticeSettings | None) -> dict[str, Atoms]:
    return {"relaxed.extxyz": start} if lattice is not None else {}


def elastic(atoms: Atoms, settings: ElasticSettings, lattice: LatticeSettings | None,
            label: str, progress: bool = False) -> Callable[[CalcFactory], Computed]:
    """``compute_elastic`` on the relaxed crystal (``lattice``: its relaxation; None: the
    structure is used as given)."""

    def compute(factory: CalcFactory) -> Computed:
        from seiflow.report.properties import plot_elastic, plot_stress_strain

        start = _start(atoms, factory, lattice)
        res = compute_elastic(start, factory, settings, progress=progress)
        data = res.to_dict()
        figures = {"elastic.png": lambda p: plot_elastic({label: data}, p),
                   "stress-strain.png": lambda p: plot_stress_strain(data, p)}
        return Computed(data, res.scalars(), figures, _relaxed(start, lattice))

    return compute


def phonons(atoms: Atoms, settings: PhononSettings, lattice: LatticeSettings | None,
            label: str, progress: bool = False) -> Callable[[CalcFactory], Computed]:
    """``compute_phonons`` on the relaxed crystal (``lattice`` as for ``elastic``)."""

    def compute(factory: CalcFactory) -> Computed:
        from seiflow.report.properties import plot_phonons

        start = _start(atoms, factory, lattice)
        res = compute_phonons(start, factory, settings, progress=progress)
        data = res.to_dict()
        return Computed(data, res.scalars(),
                        {"phonons.png": lambda p: plot_phonons({label: data}, p)},
                        _relaxed(start, lattice))

    return compute


def neb(initial: Atoms, final: Atoms, settings: NEBSettings, label: str, progress: bool = False,
        cache_dir: Path | None = None) -> Callable[[CalcFactory], Computed]:
    """``compute_neb`` between the two end points. With ``cache_dir`` every end-point relaxation
    and every image evaluation is kept there (``validate``'s reference runner, in process), so a
    killed run started again replays what it had and computes only the rest."""

    def compute(factory: CalcFactory) -> Computed:
        from seiflow.execution import InProcessSettings
        from seiflow.report.neb import neb_overlay_plot
        from seiflow.workflows.fanout import EngineRunner

        runner = None
        if cache_dir is not None:
            runner = EngineRunner(InProcessSettings(retries=0, progress=False), factory,
                                  factory.identity, cache_dir)
        res = compute_neb(initial, final, factory, settings, progress=progress, runner=runner)
        data = res.to_dict()
        return Computed(data, res.scalars(),
                        {"neb.png": lambda p: neb_overlay_plot({label: data}, p)},
                        {"neb-band.extxyz": res.images})

    return compute


def _relaxation_plot(energies: list[float], fmaxes: list[float], smaxes: list[float],
                     path: Path) -> None:
    from seiflow.report.properties import plot_relaxation

    plot_relaxation(energies, fmaxes, path, max_stress_GPa=smaxes or None)

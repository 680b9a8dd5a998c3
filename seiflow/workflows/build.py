"""The structure-building workflow: library phases (optionally as supercells), amorphous
mixtures, point defects and interfaces from one config, written as files with a run summary.

Each structure is one task. A finished structure is never rebuilt: on a rerun (after a crash or
kill) a task whose extxyz exists with the same settings hash is read back instead. A task that
fails (an unpackable composition, an exploding compression) is recorded in the summary and the
others go on.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

import ase.io
from ase import Atoms
from pydantic import Field, field_validator, model_validator

from seiflow.core.config import MAX_ATOMS, MAX_WIDTH_A, StrictModel
from seiflow.core.errors import SeiflowError, UnknownNameError
from seiflow.core.fingerprint import file_fingerprint, fingerprint
from seiflow.core.units import density_g_cm3
from seiflow.structures.io import Format, read_structure, write_structure
from seiflow.core.progress import progress_bar
from seiflow.reference.sevennet import SevenNetLabeler
from seiflow.reference.xtb import gamma_only_warning
from seiflow.structures.amorphous import AmorphousSpec, pack_amorphous
from seiflow.structures.defects import DefectSpec, make_defect
from seiflow.structures.geometry import check_width, make_supercell, perpendicular_widths
from seiflow.structures.interfaces import InterfaceSpec, build_interface
from seiflow.structures.library import get_phase, list_phases
from seiflow.structures.migration import PathSpec
from seiflow.workflows.calculators import CalculatorSettings
from seiflow.workflows.compression import compress
from seiflow.workflows.summary import RunSummary

log = logging.getLogger(__name__)


class PhaseSpec(StrictModel):
    """A library phase by ``name``, or your own structure ``file`` (any format ASE reads)."""

    name: str | None = Field(None, description="library phase key (see `seiflow phases`)")
    file: Path | None = Field(None, description="structure file; its stem names the output")
    min_width: float | None = Field(None, gt=0, le=MAX_WIDTH_A,
                                    description="supercell perpendicular width, Å")
    min_atoms: int | None = Field(None, ge=1, le=MAX_ATOMS)

    @field_validator("name")
    @classmethod
    def _known(cls, v: str | None) -> str | None:
        if v is not None and v not in list_phases():
            raise ValueError(str(UnknownNameError("phase", v, list_phases())))
        return v

    @model_validator(mode="after")
    def _one_of(self) -> PhaseSpec:
        if (self.name is None) == (self.file is None):
            raise ValueError("give exactly one of 'name' (library phase) or 'file'")
        return self

    @property
    def label(self) -> str:
        return self.name or self.file.stem

    def atoms(self) -> Atoms:
        atoms = get_phase(self.name) if self.name else read_structure(self.file)
        if self.min_width or self.min_atoms:
            atoms = make_supercell(atoms, self.min_width, self.min_atoms)
        atoms.info["name"] = self.label
        atoms.info["structure_kind"] = "phase"
        return atoms


class BuildConfig(StrictModel):
    out_dir: Path = Path("runs/structures")
    formats: list[Format] = Field(default_factory=lambda: ["extxyz", "cif", "poscar"])
    snapshots: bool = True
    calculator: CalculatorSettings = Field(
        default_factory=SevenNetLabeler,
        description="relaxes and compresses amorphous cells (default: the SevenNet-0 teacher)")
    phases: list[PhaseSpec] = Field(default_factory=list)
    amorphous: list[AmorphousSpec] = Field(default_factory=list)
    defects: list[DefectSpec] = Field(default_factory=list)
    interfaces: list[InterfaceSpec] = Field(default_factory=list)
    paths: list[PathSpec] = Field(default_factory=list, description="images along migration "
                                  "paths (vacancy hop, knock-off, Frenkel pair)")
    min_width_A: float | None = Field(
        None, gt=0, le=MAX_WIDTH_A,
        description="minimum perpendicular width of every cell built, Å (raises each "
        "structure's own min_width); the learn loop uses 2 x the potential's cutoff")

    @model_validator(mode="after")
    def _something(self) -> BuildConfig:
        if not (self.phases or self.amorphous or self.defects or self.interfaces or self.paths):
            raise ValueError("nothing to build: give phases, amorphous, defects, interfaces "
                             "or paths")
        if "extxyz" not in self.formats:
            self.formats = ["extxyz", *self.formats]  # needed to resume
        return self


@dataclass
class Task:
    name: str
    kind: str
    settings: str  # JSON of everything that determines the result
    make: Callable[[], Atoms]
    min_width_A: float | None = None  # asked of this structure (Å), reported beside its widths

    @property
    def key(self) -> str:
        return fingerprint(self.settings)


@dataclass
class BuildReport:
    out_dir: Path
    built: list[dict] = field(default_factory=list)
    reused: list[str] = field(default_factory=list)
    failures: list[dict] = field(default_factory=list)


def with_cutoff(cfg: BuildConfig, cutoff_A: float | None) -> BuildConfig:
    """``cfg`` with ``min_width_A`` = 2 x ``cutoff_A`` (Å) unless the config sets its own: the
    width a workflow that knows its potential's cutoff asks of every cell."""
    if cutoff_A is None or cfg.min_width_A is not None:
        return cfg
    return cfg.model_copy(update={"min_width_A": 2.0 * float(cutoff_A)})


def _wider(own: float | None, floor: float | None) -> float | None:
    """The larger of a structure's own minimum width and the config-wide one (Å)."""
    return max(own or 0.0, floor or 0.0) or None


def _width_specs(cfg: BuildConfig) -> tuple[list, list, list, list]:
    """Phases, amorphous, defects and interfaces with the config-wide ``min_width_A`` applied
    (unchanged, so their settings hashes too, when it is not set)."""
    w = cfg.min_width_A
    if not w:
        return cfg.phases, cfg.amorphous, cfg.defects, cfg.interfaces
    return ([p.model_copy(update={"min_width": _wider(p.min_width, w)}) for p in cfg.phases],
            [a.model_copy(update={"min_width_A": _wider(a.min_width_A, w)})
             for a in cfg.amorphous],
            [d.model_copy(update={"min_width": _wider(d.min_width, w)}) for d in cfg.defects],
            [s.model_copy(update={"min_width_A": _wider(s.min_width_A, w)})
             for s in cfg.interfaces])


def _amorphous(cfg: BuildConfig, a: AmorphousSpec, i: int) -> Atoms:
    """Pack (grown to ``a.min_width_A``) and, if asked, compress; the final widths checked."""
    atoms = pack_amorphous(a, i)
    if a.compress is None:
        return atoms
    warn = gamma_only_warning(atoms) if cfg.calculator.name == "xtb" else None
    if warn:
        log.warning("%s-%03d: %s", a.name, i, warn)
    info = dict(atoms.info)
    atoms = compress(atoms, cfg.calculator.calculator, a.compress).atoms
    atoms.info = {**info, **atoms.info}
    atoms.info["calculator"] = " ".join(str(v) for v in cfg.calculator.model_dump().values())
    check_width(atoms, a.min_width_A, f"{a.name}-{i:03d} after compression",
                "the compressed cell shrank: raise min_width_A a little or the composition")
    return atoms


def _tasks(cfg: BuildConfig) -> list[Task]:
    phases, amorphous, defects, interfaces = _width_specs(cfg)
    tasks: list[Task] = []
    for p in phases:
        settings = p.model_dump_json()
        if p.file is not None and p.file.is_file():  # a changed file is a new structure
            settings += file_fingerprint(p.file)
        tasks.append(Task(p.label, "phase", settings, p.atoms, p.min_width))
    calc_json = cfg.calculator.model_dump_json()
    for a in amorphous:
        for i in range(a.count):
            settings = a.model_dump_json() + f"#{i}" + (calc_json if a.compress else "")
            tasks.append(Task(f"{a.name}-{i:03d}", "amorphous", settings,
                              partial(_amorphous, cfg, a, i), a.min_width_A))
    for d in defects:
        tasks.append(Task(d.label, "defect", d.model_dump_json(), partial(make_defect, d),
                          d.min_width))
    for s in interfaces:
        tasks.append(Task(s.label, "interface", s.model_dump_json(),
                          lambda s=s: build_interface(s).atoms, s.min_width_A))
    for m in cfg.paths:
        m = m.model_copy(update={"min_width": _wider(m.min_width, cfg.min_width_A)})
        tasks += [Task(f"{m.label}-image{i}", "path", m.model_dump_json() + f"#{i}",
                       partial(m.image, i), m.min_width) for i in range(1, m.images + 1)]
    names = [t.name for t in tasks]
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise SeiflowError(f"two structures would be written as {dup[0]!r}: give distinct names")
    return tasks


def _finished(stem: Path, key: str) -> Atoms | None:
    path = stem.with_name(stem.name + ".extxyz")
    if not path.exists():
        return None
    try:
        atoms = ase.io.read(path)
    except Exception:  # a half-written file from a killed run: rebuild it
        return None
    return atoms if atoms.info.get("settings_hash") == key else None


# copied from a structure's info into its build-summary record when present
RECORD_KEYS = ("strain", "area_A2", "film_layers", "substrate_layers", "formula_unit_scale",
               "density_initial", "density_squeezed", "density_final", "squeeze_steps",
               "squeeze_converged", "squeeze_pressure_GPa", "relax_steps", "relax_converged",
               "final_pressure_GPa", "max_stress_GPa", "relax_fmax_eV_A", "relax_criteria",
               "defect", "supercell")


def _widths_record(atoms: Atoms, task: Task) -> dict:
    """Final perpendicular widths (Å) and the minimum asked for, if any."""
    out = {"widths_A": [round(float(w), 3) for w in perpendicular_widths(atoms.cell)]}
    if task.min_width_A:
        out["min_width_A"] = task.min_width_A
    return out


def run_build(cfg: BuildConfig, out_dir: Path | None = None, progress: bool = True,
              config_file: str | None = None) -> BuildReport:
    """Build every structure in ``cfg``; write files, snapshots and ``build-summary.yml``."""
    out = Path(out_dir or cfg.out_dir)
    tasks = _tasks(cfg)
    report = BuildReport(out)
    inputs = {"config_file": config_file, "config": cfg.model_dump(mode="json")}
    with RunSummary(out / "build-summary.yml", "seiflow build", inputs) as summary, \
            progress_bar(progress) as bar:
        job = bar.add_task("building structures", total=len(tasks))
        for task in tasks:
            bar.update(job, description=f"{task.kind}: {task.name}")
            stem = out / task.kind / task.name
            atoms = _finished(stem, task.key)
            if atoms is not None:
                report.reused.append(task.name)
                log.info("%s: already built, reusing %s.extxyz", task.name, stem)
            else:
                try:
                    atoms = task.make()
                except SeiflowError as exc:
                    log.error("%s failed: %s", task.name, exc)
                    report.failures.append({"name": task.name, "kind": task.kind,
                                            "error": str(exc)})
                    summary.add_failure(**report.failures[-1])
                    bar.advance(job)
                    continue
                atoms.info["settings_hash"] = task.key
                atoms.info.setdefault("name", task.name)
            files = write_structure(atoms, stem, cfg.formats)
            if cfg.snapshots:
                from seiflow.report.snapshot import snapshot_png

                files.append(snapshot_png(atoms, stem.with_name(stem.name + ".png")))
            record = {
                "name": task.name,
                "kind": task.kind,
                "formula": atoms.get_chemical_formula(),
                "natoms": len(atoms),
                "density_g_cm3": round(density_g_cm3(atoms), 4),
                "source": atoms.info["source"],
                "files": [str(f) for f in files],
            }
            record.update(_widths_record(atoms, task))
            for key in RECORD_KEYS:
                if key in atoms.info:
                    record[key] = atoms.info[key]
            report.built.append(record)
            summary.add_output(**record)
            bar.advance(job)
    return report

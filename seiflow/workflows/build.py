"""The structure-building workflow: library phases (optionally as supercells), amorphous
mixtures, point defects and interfaces from one config, written as files with a run summary.

Each structure is one task. A finished structure is never rebuilt: on a rerun (after a crash or
kill) a task whose extxyz exists with the same settings hash is read back instead. A task that
fails (an unpackable composition, an exploding compression) is recorded in the summary and the
others go on.
"""

from __future__ import annotations

import hashlib
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
from seiflow.core.units import density_g_cm3
from seiflow.structures.io import Format, read_structure, write_structure
from seiflow.core.progress import progress_bar
from seiflow.reference.xtb import XTBSettings, gamma_only_warning
from seiflow.structures.amorphous import AmorphousSpec, compress, pack_amorphous
from seiflow.structures.defects import DefectSpec, make_defect
from seiflow.structures.geometry import make_supercell
from seiflow.structures.interfaces import InterfaceSpec, build_interface
from seiflow.structures.library import get_phase, list_phases
from seiflow.workflows.calculators import CalculatorSettings
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
    calculator: CalculatorSettings = Field(default_factory=XTBSettings)
    phases: list[PhaseSpec] = Field(default_factory=list)
    amorphous: list[AmorphousSpec] = Field(default_factory=list)
    defects: list[DefectSpec] = Field(default_factory=list)
    interfaces: list[InterfaceSpec] = Field(default_factory=list)

    @model_validator(mode="after")
    def _something(self) -> BuildConfig:
        if not (self.phases or self.amorphous or self.defects or self.interfaces):
            raise ValueError("nothing to build: give phases, amorphous, defects or interfaces")
        if "extxyz" not in self.formats:
            self.formats = ["extxyz", *self.formats]  # needed to resume
        return self


@dataclass
class Task:
    name: str
    kind: str
    settings: str  # JSON of everything that determines the result
    make: Callable[[], Atoms]

    @property
    def key(self) -> str:
        return hashlib.sha256(self.settings.encode()).hexdigest()[:16]


@dataclass
class BuildReport:
    out_dir: Path
    built: list[dict] = field(default_factory=list)
    reused: list[str] = field(default_factory=list)
    failures: list[dict] = field(default_factory=list)


def _tasks(cfg: BuildConfig) -> list[Task]:
    tasks: list[Task] = []
    for p in cfg.phases:
        settings = p.model_dump_json()
        if p.file is not None and p.file.is_file():  # a changed file is a new structure
            settings += hashlib.sha256(p.file.read_bytes()).hexdigest()
        tasks.append(Task(p.label, "phase", settings, p.atoms))
    calc_json = cfg.calculator.model_dump_json()
    for a in cfg.amorphous:
        for i in range(a.count):
            def make(a=a, i=i):
                atoms = pack_amorphous(a, i)
                if a.compress is not None:
                    warn = gamma_only_warning(atoms) if cfg.calculator.name == "xtb" else None
                    if warn:
                        log.warning("%s-%03d: %s", a.name, i, warn)
                    atoms = compress(atoms, cfg.calculator.calculator(), a.compress).atoms
                    atoms.info["calculator"] = " ".join(
                        str(v) for v in cfg.calculator.model_dump().values())
                return atoms
            settings = a.model_dump_json() + f"#{i}" + (calc_json if a.compress else "")
            tasks.append(Task(f"{a.name}-{i:03d}", "amorphous", settings, make))
    for d in cfg.defects:
        tasks.append(Task(d.label, "defect", d.model_dump_json(), partial(make_defect, d)))
    for s in cfg.interfaces:
        tasks.append(Task(s.label, "interface", s.model_dump_json(),
                          lambda s=s: build_interface(s).atoms))
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
            for key in ("strain", "area_A2", "density_initial", "density_final",
                        "final_pressure_GPa", "relax_converged", "defect"):
                if key in atoms.info:
                    record[key] = atoms.info[key]
            report.built.append(record)
            summary.add_output(**record)
            bar.advance(job)
    return report

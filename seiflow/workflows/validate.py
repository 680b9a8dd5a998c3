"""The validation suite: every property computed twice, with the potential and with the
reference labeler, by the same code, and tabulated side by side (value, reference, deviation).

Li et al. (Mater. Horiz. 2025) earn trust in their MTP this way: lattice parameters, elastic
constants, phonons, NEB barriers of Li transport in Li2CO3 and Li/Li2CO3 interface energies,
each next to DFT. Here the reference is any seiflow labeler (xTB, GPAW, CP2K, VASP), and
transport is compared too: D(T) and Ea from short MD with both methods.

The properties are classes registered in ``properties/registry.py`` (one line each; see
``properties/spec.py``); this module owns the config, the calculator factories of the two
methods, the tasks (one per target and method), result files, resume and the table.

Layout of ``out_dir``::

    validate-config.yaml          the resolved config
    <target>/<property>.<method>.json   one result or failure per property and method
    <target>/relaxed.<method>.extxyz    the relaxed crystal each method's properties start from
    <target>/calcs/<key>.json           one reference calculation (relaxation, EOS volume,
                                        strained cell, phonon supercell; workflows/fanout.py)
    calcs.records.jsonl                 the engine's record of each of those calculations
    <target>/md.<method>/<hash>/<T>K/   the MD of a diffusion target (resumable)
    results.json, table.md, *.png       written by ``collect`` from the files above

A rerun skips every property whose JSON exists, so a killed run resumes; a calculation that
fails is written as failed with its reason and shows up in the table as such.

A crystal's properties are made of independent single calculations (``properties/calcs.py``).
For the reference they fan out: each is one task of the engine (Parsl runs them at once), kept
in ``<target>/calcs/`` as it finishes, so a killed run redoes only unfinished calculations. The
potential's side runs them in its task, one after another (cheap); the numbers are the same.
"""

from __future__ import annotations

import json
import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import yaml
from ase import Atoms
from pydantic import Field, field_validator, model_validator

from seiflow.analysis.comparison import agreement
from seiflow.core.atomic import atomic_write, write_json
from seiflow.core.config import MAX_WIDTH_A, StrictModel
from seiflow.core.errors import ConfigError, SeiflowError
from seiflow.execution import EngineSettings, InProcessSettings, RecordLog, TaskRecord
from seiflow.execution.base import error_line
from seiflow.potentials.base import check_species
from seiflow.potentials.registry import load_potential
from seiflow.reference import LabelerSettings, SevenNetLabeler
from seiflow.structures.interfaces import InterfaceSpec
from seiflow.structures.library import resolve_phase
from seiflow.workflows.build import PhaseSpec
from seiflow.workflows.methods import (  # noqa: F401 - graded_calculator: imported from here
    GradedFactory,
    ReferenceFactory,
    fit_sentence,
    fit_state,
    graded_calculator,
    labeler_identity,
    labeler_label,
    model_digest,
    model_label,
)
from seiflow.workflows.fanout import CalculationCrashed, EngineRunner, compute_together
from seiflow.workflows.run import Run
from seiflow.workflows.properties.base import PropertyFailed
from seiflow.workflows.properties.diffusion import DiffusionSettings
from seiflow.workflows.properties.elastic import ElasticSettings
from seiflow.workflows.properties.interface import InterfaceEnergySettings
from seiflow.workflows.properties.lattice import LatticeSettings
from seiflow.workflows.properties.neb import NEBSettings
from seiflow.workflows.properties.phonons import PhononSettings
from seiflow.workflows.properties.registry import (
    PROPERTIES,
    names_of,
    properties_of,
    target_kinds,
)
from seiflow.workflows.properties.spec import (
    Context,
    TargetKind,
    ValidationProperty,
    settings_identity,
)

log = logging.getLogger(__name__)

METHODS = ("potential", "reference")
CrystalProperty = Literal[names_of("phases")]  # lattice, elastic, phonons
Mechanism = Literal["vacancy", "knockoff", "frenkel"]


class CrystalSource(StrictModel):
    """A library phase (``phase``: key or alias such as li2co3, li) or a structure ``file``,
    repeated to ``min_width`` (the single-property commands' StructureSpec is one too)."""

    phase: str | None = Field(None, description="library phase or alias (li2co3, li, ...)")
    file: Path | None = Field(None, description="structure file (any format ASE reads)")
    min_width: float = Field(8.0, gt=0, le=MAX_WIDTH_A,
                             description="supercell width for the calculations, Å")

    @field_validator("phase")
    @classmethod
    def _known(cls, v: str | None) -> str | None:
        return None if v is None else resolve_phase(v)

    @model_validator(mode="after")
    def _one_source(self):
        if (self.phase is None) == (self.file is None):
            raise ValueError("give exactly one of a phase or a structure file")
        return self

    @property
    def name(self) -> str:
        return self.phase or self.file.stem

    def cell(self) -> Atoms:
        """The structure, repeated to ``min_width`` (loaded as ``seiflow build`` loads it)."""
        return PhaseSpec(name=self.phase, file=self.file, min_width=self.min_width).atoms()


class PhaseTarget(CrystalSource):
    """A crystal: relaxed (symmetry kept), then the listed properties."""

    properties: list[CrystalProperty] = Field(
        default_factory=lambda: ["lattice", "elastic", "phonons"])

    @property
    def key(self) -> str:
        return self.name


class NEBTarget(CrystalSource):
    """A Li transport mechanism in a crystal (Li et al. 2025, Fig. 5: vacancy hop, interstitial
    knock-off, Frenkel-pair formation), at the given (library: experimental) lattice."""

    mechanism: Mechanism
    species: str = "Li"
    min_width: float = Field(7.5, gt=0, le=MAX_WIDTH_A,
                             description="supercell width, Å (1x2x2 for Li2CO3)")

    @property
    def key(self) -> str:
        return f"neb-{self.name}-{self.mechanism}"


class DiffusionTarget(CrystalSource):
    """A small cell for short MD at the diffusion temperatures, with both methods and the same
    settings; ``species`` is the tracer (a ``file:`` gives a cell with a defect)."""

    species: str = "Li"
    min_width: float = Field(8.0, gt=0, le=MAX_WIDTH_A, description="supercell width, Å (the "
                             "reference runs MD on it: keep it small)")

    @property
    def key(self) -> str:
        return f"diffusion-{self.name}-{self.species}"


class Tolerances(StrictModel):
    """When a potential agrees with its reference, by the row's unit: an absolute bound on
    |Δ| (``absolute``) or a relative one on |deviation| in % (``relative_pct``). Defaults: the
    main job's criteria (lattice 2 %, elastic moduli 15 %, barriers and energies 0.05 eV)."""

    relative_pct: dict[str, float] = Field(
        default_factory=lambda: {"Å": 2.0, "Å³": 6.0, "GPa": 15.0, "THz": 10.0})
    absolute: dict[str, float] = Field(default_factory=lambda: {"eV": 0.05})

    @field_validator("relative_pct", "absolute")
    @classmethod
    def _positive(cls, v: dict[str, float]) -> dict[str, float]:
        bad = [k for k, x in v.items() if not (x >= 0 and math.isfinite(x))]
        if bad:
            raise ValueError(f"tolerances must be finite and >= 0 (got {bad[0]}: {v[bad[0]]})")
        return v


class ValidateConfig(StrictModel):
    model: Path = Field(..., description="potential folder (seiflow train / learn), or a "
                        "`seiflow learn` run folder: its final model")
    reference: LabelerSettings = Field(default_factory=SevenNetLabeler)  # the teacher
    out_dir: Path = Path("runs/validate")
    phases: list[PhaseTarget] = Field(default_factory=list)
    neb: list[NEBTarget] = Field(default_factory=list)
    interfaces: list[InterfaceSpec] = Field(default_factory=list)
    diffusion: list[DiffusionTarget] = Field(default_factory=list)
    lattice: LatticeSettings = Field(default_factory=LatticeSettings)
    elastic: ElasticSettings = Field(default_factory=ElasticSettings)
    phonons: PhononSettings = Field(default_factory=PhononSettings)
    neb_settings: NEBSettings = Field(default_factory=NEBSettings)
    interface_settings: InterfaceEnergySettings = Field(default_factory=InterfaceEnergySettings)
    diffusion_settings: DiffusionSettings = Field(default_factory=DiffusionSettings)
    gamma_select: float = Field(2.0, gt=0, description="rows where the potential's largest "
                                "extrapolation grade γ exceeded this are flagged")
    tolerances: Tolerances = Field(default_factory=Tolerances)
    engine: EngineSettings = Field(default_factory=InProcessSettings)

    @field_validator("model")
    @classmethod
    def _final_model_of_a_run(cls, v: Path) -> Path:
        return Run(v).final_model() if Run.is_run(v) else v

    @field_validator("interfaces")
    @classmethod
    def _periodic(cls, v: list[InterfaceSpec]) -> list[InterfaceSpec]:
        for spec in v:
            if spec.vacuum:
                raise ValueError(f"interface {spec.label}: interface energies need the periodic "
                                 "stack (vacuum: 0); the slabs get their vacuum separately")
        return v


# --------------------------------------------------------------------------- methods
def method_label(cfg: ValidateConfig, method: str) -> str:
    return model_label(cfg.model) if method == "potential" else labeler_label(cfg.reference)


# --------------------------------------------------------------------------- tasks
@dataclass
class Task:
    kind: str  # the config list of its target (phases, neb, interfaces, ...)
    index: int  # into that list
    method: str
    cfg: ValidateConfig

    @property
    def key(self) -> str:
        return f"{self.target_key}.{self.method}"

    @property
    def target(self):
        return getattr(self.cfg, self.kind)[self.index]

    @property
    def target_kind(self) -> TargetKind:
        return next(k for k in target_kinds() if k.field == self.kind)

    @property
    def target_key(self) -> str:
        return self.target_kind.key(self.target)

    def properties(self) -> list[type[ValidationProperty]]:
        return properties_of(self.target_kind, self.target)

    @property
    def fans_out(self) -> bool:
        """Its single calculations go through the engine (the reference's, of a target kind
        made of them); the task itself then runs in the calling process."""
        return self.method == "reference" and self.target_kind.fans_out


def result_path(out_dir: Path, target: str, prop: str, method: str) -> Path:
    return out_dir / target / f"{prop}.{method}.json"


def _write(path: Path, data: dict, factory=None) -> None:
    if isinstance(factory, GradedFactory) and "max_gamma" not in data:
        data["max_gamma"] = factory.max_gamma()
        data["max_gamma_run"] = factory.take_run_gamma()
    write_json(path, data)  # atomic: a killed run never leaves half a result


def property_identity(task: Task, prop: type[ValidationProperty], method_id: str) -> str:
    return settings_identity(method_id, *prop.identity_settings(task.cfg, task.target))


def method_identity(cfg: ValidateConfig, method: str) -> str:
    if method == "potential":
        return model_digest(cfg.model)
    return labeler_identity(cfg.reference)


def _is_current(path: Path, identity: str) -> bool:
    return path.exists() and json.loads(path.read_text()).get("identity") == identity


def _record(path: Path, fn: Callable[[], Any], factory, identity: str) -> None:
    """Run ``fn`` and write its result, or the failure with its reason (``fn.wall_s``, if
    set: the time it took, computed beforehand)."""
    t0 = time.perf_counter()
    try:
        data = {"status": "ok", "result": fn().to_dict()}
    except SeiflowError as exc:  # PropertyFailed, or a labeler refusing the structure
        data = {"status": "failed", "reason": str(exc)}
        log.warning("%s/%s: failed: %s", path.parent.name, path.name, exc)
    except CalculationCrashed as exc:  # no identity: a rerun sends the calculation again
        data = {"status": "failed", "reason": f"crashed: {exc}", "crashed_identity": identity}
        log.error("%s/%s: %s", path.parent.name, path.name, exc)
    data["wall_s"] = getattr(fn, "wall_s", round(time.perf_counter() - t0, 2))
    if "crashed_identity" not in data:
        data["identity"] = identity
    _write(path, data, factory)


class _Start:
    """The target kind's shared start (a crystal's relaxation), computed when a property first
    needs it; its failure is kept and raised again for every property."""

    def __init__(self, kind: TargetKind, target, ctx: Context):
        self.kind, self.target, self.ctx = kind, target, ctx
        self._done, self._value, self._error = False, None, None

    def __call__(self):
        if not self._done:
            self._done = True
            try:
                if self.kind.prepare is not None:
                    self._value = self.kind.prepare(self.target, self.ctx)
            except (PropertyFailed, CalculationCrashed) as exc:
                self._error = exc
        if self._error is not None:
            raise self._error
        return self._value


def run_task(task: Task) -> str:
    """One target with one method (a top-level function, so Parsl can ship it): every property
    of the target whose result file is not current for this method and settings."""
    cfg = task.cfg
    identity = method_identity(cfg, task.method)
    if task.method == "potential":
        factory = GradedFactory(cfg.model, identity)
    else:
        factory = ReferenceFactory(cfg.reference, identity)
    runner = None
    if task.fans_out:
        runner = EngineRunner(cfg.engine, factory, identity,
                              cfg.out_dir / task.target_key / "calcs",
                              RecordLog(cfg.out_dir / "calcs.records.jsonl", resume=False),
                              label=task.key)
    ctx = Context(cfg, factory, task.method, cfg.out_dir, runner)
    start = _Start(task.target_kind, task.target, ctx)
    todo = []
    for prop in task.properties():
        path = result_path(cfg.out_dir, task.target_key, prop.name, task.method)
        prop_id = property_identity(task, prop, identity)
        if _is_current(path, prop_id):
            continue
        try:
            begin = start()
        except PropertyFailed as exc:  # nothing of this target can be computed
            _write(path, {"status": "failed", "reason": str(exc), "identity": prop_id}, factory)
            continue
        except CalculationCrashed as exc:  # the same for every property: a rerun tries again
            _write(path, {"status": "failed", "reason": f"crashed: {exc}",
                          "crashed_identity": prop_id})
            continue
        todo.append((prop, begin, path, prop_id))
    together = compute_together([(p, b) for p, b, _, _ in todo], task.target, ctx)
    for prop, begin, path, prop_id in todo:
        compute = together.get(prop.name) or (
            lambda prop=prop, begin=begin: prop.compute(task.target, ctx, begin))
        _record(path, compute, factory, prop_id)
    return task.key


def plan(cfg: ValidateConfig) -> list[Task]:
    return [Task(kind.field, i, method, cfg) for kind in target_kinds()
            for i in range(len(getattr(cfg, kind.field))) for method in METHODS]


def check_inputs(cfg: ValidateConfig) -> None:
    """Refuse, before anything runs, a suite the potential cannot treat (an element it was
    not trained on) or an empty one."""
    kinds = target_kinds()
    if not any(getattr(cfg, kind.field) for kind in kinds):
        raise ConfigError("nothing to validate: give " + ", ".join(
            k.field for k in kinds[:-1]) + f" or {kinds[-1].field}")
    potential = load_potential(cfg.model)
    for kind in kinds:
        for target in getattr(cfg, kind.field):
            for atoms in kind.structures(target):
                check_species(atoms, potential.species, f"the model {cfg.model}")


def _run_here(task: Task) -> TaskRecord:
    """A task whose calculations are the engine's tasks, run in this process (an engine task
    cannot start engine tasks of its own)."""
    t0 = time.perf_counter()
    try:
        run_task(task)
    except Exception as exc:  # recorded as the engine records a crashed task
        return TaskRecord(task.key, "error", 1, error_line(exc),
                          wall_s=round(time.perf_counter() - t0, 4))
    return TaskRecord(task.key, "done", 1, wall_s=round(time.perf_counter() - t0, 4))


def run_validate(cfg: ValidateConfig) -> dict:
    """Run (or resume) the suite and write the comparison; returns the collected results."""
    check_inputs(cfg)
    cfg.out_dir.mkdir(parents=True, exist_ok=True)
    atomic_write(cfg.out_dir / "validate-config.yaml",
                 yaml.safe_dump(cfg.model_dump(mode="json"), sort_keys=False))
    tasks = plan(cfg)
    rest = [t for t in tasks if not t.fans_out]
    with cfg.engine.session():  # Parsl workers (SLURM jobs) started once for every map
        records = cfg.engine.map(run_task, rest, [t.key for t in rest]) if rest else []
        records += [_run_here(t) for t in tasks if t.fans_out]
    by_key = {t.key: t for t in tasks}
    ids = {m: method_identity(cfg, m) for m in METHODS}
    for rec in records:
        if rec.status == "error":  # a crash, not a physics failure: recorded all the same
            log.error("validation task %s crashed: %s", rec.key, rec.error)
            task = by_key[rec.key]
            for prop in task.properties():
                path = result_path(cfg.out_dir, task.target_key, prop.name, task.method)
                identity = property_identity(task, prop, ids[task.method])
                if not _is_current(path, identity):
                    # no identity: a rerun tries again
                    _write(path, {"status": "failed", "reason": f"crashed: {rec.error}",
                                  "crashed_identity": identity})
    return collect(cfg)


# --------------------------------------------------------------------------- collect
def _outcome(prop: type[ValidationProperty], path: Path, identity: str) -> dict | None:
    """The result at ``path`` if it was computed for ``identity`` (else None: not run)."""
    if not path.exists():
        return None
    data = json.loads(path.read_text())
    if identity not in (data.get("identity"), data.get("crashed_identity")):
        return None
    if data["status"] == "ok":
        data["scalars"] = prop.scalars(prop.result.from_dict(data["result"]), data)
        if data.get("max_gamma") is not None:
            data["scalars"]["max γ (potential)"] = (data["max_gamma"], "")
    return data


def _figures(cfg: ValidateConfig, results: dict, labels: dict[str, str]) -> list[str]:
    """One overlay figure per target and property where both methods have a result."""
    figures = []
    for (target, name), outcomes in results.items():
        data = {labels[m]: o["result"] for m, o in outcomes.items()
                if o and o["status"] == "ok"}
        if not data:
            continue
        figure = f"{target if target.startswith(name) else f'{name}-{target}'}.png"
        if PROPERTIES[name].figure(data, cfg.out_dir / figure):
            figures.append(figure)
    return figures


def collect(cfg: ValidateConfig) -> dict:
    """Read every result file, write results.json, table.md and the overlay figures."""
    from seiflow.report.validation import validation_markdown

    labels = {m: method_label(cfg, m) for m in METHODS}
    ids = {m: method_identity(cfg, m) for m in METHODS}
    results: dict[tuple[str, str], dict] = {}
    for task in plan(cfg):
        for prop in task.properties():
            path = result_path(cfg.out_dir, task.target_key, prop.name, task.method)
            outcome = _outcome(prop, path, property_identity(task, prop, ids[task.method]))
            results.setdefault((task.target_key, prop.name), {})[task.method] = outcome
    rows = [row.to_dict() for (target, name), outcomes in results.items()
            for row in PROPERTIES[name].rows(target, {m: o for m, o in outcomes.items() if o},
                                             cfg)]
    for row in rows:
        row["agreement"] = agreement(row, cfg.tolerances.relative_pct, cfg.tolerances.absolute)
    figures = _figures(cfg, results, labels)
    fit = fit_state(cfg.model)
    summary = {"potential": labels["potential"], "reference": labels["reference"],
               "model": str(cfg.model), "fit": fit, "rows": rows, "figures": figures,
               "wall_s": {f"{t}/{p}.{m}": o.get("wall_s") for (t, p), oc in results.items()
                          for m, o in oc.items() if o}}
    write_json(cfg.out_dir / "results.json", summary)
    header = (f"Model `{cfg.model}`; reference {labels['reference']} "
              f"(`{cfg.reference.model_dump_json()}`). Deviation = (potential − reference) / "
              "|reference|; max γ is the largest extrapolation grade of the potential among "
              "the final structures of that calculation. Agreement: within "
              + ", ".join([f"{v:g} % ({k})" for k, v in cfg.tolerances.relative_pct.items()]
                          + [f"{v:g} {k}" for k, v in cfg.tolerances.absolute.items()])
              + " of the reference.")
    if any("max_gamma" in r for r in rows):
        header += (" The max γ column (NEB, diffusion) is the largest grade the potential met "
                   f"at any step of that calculation; above γ_select = {cfg.gamma_select:g} "
                   "the row is flagged.")
    header += " " + fit_sentence(fit)
    atomic_write(cfg.out_dir / "table.md", validation_markdown(
        rows, labels["potential"], labels["reference"], figures, header))
    return summary

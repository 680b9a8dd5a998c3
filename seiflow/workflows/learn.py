"""The active-learning loop (Scheme 1 of Li et al., Mater. Horiz. 2025; ../shared/design.md):
starting structures → rattled copies labelled → fit → explore (MD graded every step) →
select (MaxVol) → label → refit, until every trajectory runs to its end without γ > γ_break, or
the iteration limit or label budget is reached.

Everything lives in ``run_dir`` (its layout: ``Run``, seiflow/workflows/run.py) and every stage
is resumable: the built structures and labels are reused (the store skips labelled structures),
a model folder is complete once its ``model.json`` exists, each trajectory resumes from its
checkpoint and ends with ``result.json``, a selection is written atomically, and an iteration
is finished once its ``report.json`` (an ``IterationRecord``) exists. ``seiflow resume
RUN_DIR`` reruns the saved config.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Literal

import ase.io
import numpy as np
from ase import Atoms
from pydantic import Field, field_validator, model_validator

from seiflow.active.explore import ExploreTask, explore, read_candidates, read_result
from seiflow.active.reference_md import TEST_SPLIT as REFERENCE_MD_SPLIT
from seiflow.active.reference_md import InitialMDSettings
from seiflow.active.sampling import PerturbSettings, perturbed
from seiflow.core.atomic import atomic_path, atomic_write
from seiflow.core.config import MAX_PRESSURE_BAR, MAX_TEMPERATURE_K, StrictModel, load_config
from seiflow.core.errors import SeiflowError
from seiflow.data.store import LabelStore, Origin
from seiflow.execution import EngineSettings, InProcessSettings, RecordLog
from seiflow.md.runner import MDSettings
from seiflow.potentials.metrics import error_table, predict
from seiflow.potentials.active import select_add
from seiflow.potentials.base import Gradable
from seiflow.potentials.committee import CommitteeSettings
from seiflow.potentials.registry import (MTPSettings, PotentialSettings, load_potential,
                                         require_gradable)
from seiflow.reference import LabelerSettings, SevenNetLabeler
from seiflow.report.learning import gamma_histograms, learning_curves, markdown_report
from seiflow.workflows.build import BuildConfig, run_build, with_cutoff
from seiflow.workflows.compression import at_zero_pressure
from seiflow.workflows.label import run_label
from seiflow.workflows.methods import fit_sentence, fit_state
from seiflow.workflows.reference_md import (compare_rdfs, rdf_markdown, reference_md_tasks,
                                            run_reference_md)
from seiflow.workflows.run import IterationDir, IterationRecord, Run
from seiflow.workflows.summary import RunSummary
from seiflow.workflows.train import evaluate, record_provenance, save_model

log = logging.getLogger(__name__)
TEST_SEED_OFFSET = 1001  # test_set.seed = initial.seed + this, unless given
DEFAULT_TEST_SET = {"per_structure": 2, "rattle_A": (0.04, 0.15)}


class ExploreSettings(StrictModel):
    """One trajectory per starting structure × ensemble × temperature (× pressure for NPT)."""

    ensembles: list[Literal["nvt", "npt"]] = Field(default_factory=lambda: ["nvt"],
                                                   min_length=1)
    temperatures_K: list[Annotated[float, Field(gt=0, le=MAX_TEMPERATURE_K)]] = Field(
        default_factory=lambda: [300.0], min_length=1)
    pressures_bar: list[Annotated[float, Field(ge=-MAX_PRESSURE_BAR, le=MAX_PRESSURE_BAR)]] = \
        Field(default_factory=lambda: [1.0], min_length=1)
    steps: int = Field(2000, ge=1)
    timestep_fs: float = Field(0.5, gt=0)
    tdamp_fs: float = Field(100.0, gt=0)
    pdamp_fs: float = Field(500.0, gt=0)
    traj_stride: int = Field(20, ge=1)


class LearnConfig(StrictModel):
    run_dir: Path = Path("runs/learn")
    structures: BuildConfig
    labeler: LabelerSettings = Field(default_factory=SevenNetLabeler)  # the PBE-trained teacher
    potential: PotentialSettings = Field(default_factory=MTPSettings)
    initial: PerturbSettings = PerturbSettings()
    # optional blocks below are left out of every dump when unset, so the configs of run
    # folders written before they existed still match (Run.claim_config) and resume
    initial_strained: PerturbSettings | None = Field(
        None, exclude_if=lambda v: v is None,
        description="more initial frames: strained copies with little or no rattle, e.g. "
        "{per_structure: 3, rattle_A: [0, 0.02], strain: 0.02, seed: 7, weight: 10, "
        "zero_pressure: true}: the near-equilibrium stress-strain data elastic constants need, "
        "about the labeler's own equilibrium and weighted (docs/demo.md)")
    test_set: PerturbSettings = PerturbSettings(**DEFAULT_TEST_SET, seed=TEST_SEED_OFFSET)
    initial_md: InitialMDSettings | None = Field(
        None, exclude_if=lambda v: v is None,
        description="initial frames from NVT MD with the labeler itself (its last "
        "test_fraction held out), and g(r) of it against the final model's MD")
    explore: ExploreSettings = ExploreSettings()
    gamma_select: float = Field(2.0, gt=1)
    gamma_break: float = Field(10.0, gt=1)
    test_md: int = Field(10, ge=0, description="MD frames of the first trajectories that run "
                         "to their end, labelled once as a second held-out set")
    max_select_per_iteration: int = Field(20, ge=1)
    max_iterations: int = Field(8, ge=1)
    label_budget: int = Field(1000, ge=1, description="labels in total, initial set included")
    engine: EngineSettings = Field(default_factory=InProcessSettings)
    seed: int = Field(0, ge=0)

    @model_validator(mode="before")
    @classmethod
    def _test_seed(cls, data):
        """A ``test_set:`` without a seed gets its own (initial.seed + 1001), never the
        initial set's: the same seed would draw the same frames, which the store labels
        once, so the held-out set would repeat (and take from) the training set."""
        if not isinstance(data, dict):
            return data
        test = data.get("test_set", dict(DEFAULT_TEST_SET))
        if isinstance(test, dict) and "seed" not in test:
            initial = data.get("initial")
            seed = initial.get("seed", 0) if isinstance(initial, dict) else \
                getattr(initial, "seed", 0)
            if isinstance(seed, int) and not isinstance(seed, bool):
                data = {**data, "test_set": {**test, "seed": seed + TEST_SEED_OFFSET}}
        return data

    @field_validator("potential")
    @classmethod
    def _gradable(cls, potential):
        require_gradable(potential)  # refused now, not at the first exploration step
        return potential

    @model_validator(mode="after")
    def _thresholds(self) -> LearnConfig:
        if self.gamma_select >= self.gamma_break:
            raise ValueError(f"gamma_select ({self.gamma_select}) must be below gamma_break "
                             f"({self.gamma_break})")
        sets = {"test_set": self.test_set, "initial": self.initial,
                "initial_strained": self.initial_strained}
        drawn = [(k, v.seed) for k, v in sets.items() if v is not None and v.per_structure]
        for i, (a, seed) in enumerate(drawn):
            for b, other in drawn[i + 1:]:
                if seed == other:
                    raise ValueError(f"{a}.seed and {b}.seed are both {seed}: they would draw "
                                     "the same displacements and strains; give them different "
                                     "seeds")
        return self


@dataclass
class LearnReport:
    run_dir: Path
    iterations: list[IterationRecord] = field(default_factory=list)
    converged: bool = False
    status: str = ""
    fit: dict = field(default_factory=dict)  # the final model's fit_state


def cutoff_A(potential) -> float | None:
    """The radial cutoff (Å) of a potential's settings: MTP ``cutoff``, MACE ``r_max``, a
    committee's member's."""
    member = getattr(potential, "member", None)
    if member is not None:
        return cutoff_A(member)
    return getattr(potential, "cutoff", None) or getattr(potential, "r_max", None)


def _starting_structures(cfg: LearnConfig, run: Run, progress: bool) -> list[tuple[str, Path]]:
    """The built starting cells, each at least 2 x the potential's cutoff wide in every
    direction unless ``structures.min_width_A`` says otherwise."""
    cutoff, asked = cutoff_A(cfg.potential), cfg.structures.min_width_A
    if cutoff and asked and asked < 2 * cutoff:
        log.warning("structures.min_width_A %.3g Å is below 2 x the potential's cutoff "
                    "(%.3g Å): atoms may see their own periodic images", asked, 2 * cutoff)
    build = with_cutoff(cfg.structures, cutoff)
    report = run_build(build, out_dir=run.structures, progress=progress)
    if report.failures:
        names = ", ".join(f["name"] for f in report.failures)
        raise SeiflowError(f"could not build the starting structure(s) {names}; see "
                           f"{run.build_summary}")
    return [(r["name"], Path(next(f for f in r["files"] if f.endswith(".extxyz"))))
            for r in report.built]


def budget_cut(n_test: int, n_initial: int, budget: int) -> tuple[int, int]:
    """Frames of the held-out and of the initial set that fit in ``budget`` labels: both
    whole if they fit, else shared in proportion, keeping at least one training frame."""
    if n_test + n_initial <= budget:
        return n_test, n_initial
    keep_test = min(n_test, budget * n_test // (n_test + n_initial))
    if n_initial and keep_test >= budget:
        keep_test = budget - 1
    return keep_test, min(n_initial, budget - keep_test)


def _spread(frames: list[Atoms], n: int) -> list[Atoms]:
    """``n`` of ``frames``, evenly spaced (every starting structure keeps some)."""
    if n >= len(frames):
        return frames
    return [frames[i] for i in np.linspace(0, len(frames) - 1, n).round().astype(int)] \
        if n else []


def _initial_sets(cfg: LearnConfig, structures: list[Atoms], run: Run
                  ) -> tuple[list[Atoms], list[Atoms], str]:
    """The held-out and the initial training frames, cut to the label budget (the cut of the
    first start is kept: a resume with a higher budget labels the same sets), and what was
    cut (empty if nothing)."""
    sets = (cfg.test_set, cfg.initial, cfg.initial_strained)
    centred = at_zero_pressure(structures, cfg.labeler.calculator,
                               run.structures / "zero-pressure") \
        if any(s is not None and s.zero_pressure for s in sets) else []

    def copies(s: PerturbSettings, tag: str) -> list[Atoms]:
        return perturbed(centred if s.zero_pressure else structures, s, tag)

    test = copies(cfg.test_set, "test rattle")
    initial = copies(cfg.initial, "initial rattle")
    if cfg.initial_strained is not None:
        initial += copies(cfg.initial_strained, "initial strain")
    saved = run.read_initial_sets()
    if saved is not None:
        n_test, n_initial = int(saved["test"]), int(saved["initial"])
    else:
        n_test, n_initial = budget_cut(len(test), len(initial), cfg.label_budget)
        run.write_initial_sets({"test": n_test, "initial": n_initial, "drawn_test": len(test),
                                "drawn_initial": len(initial),
                                "label_budget": cfg.label_budget})
    cut = ""
    if (n_test, n_initial) != (len(test), len(initial)):
        cut = (f"label_budget {cfg.label_budget}: held-out set cut from {len(test)} to "
               f"{n_test} frames, initial set from {len(initial)} to {n_initial}")
        log.warning("%s", cut)
    return _spread(test, n_test), _spread(initial, n_initial), cut


def _label(frames: list[Atoms], cfg: LearnConfig, store: LabelStore, origin: Origin,
           split: str, run: Run, tag: str) -> int:
    if not frames:
        return 0
    rep = run_label(frames, cfg.labeler, store, cfg.engine, origin,
                    records=RecordLog(run.label_records(tag)))
    rows = [r.id for r in store.rows(group=origin.group) if r.get("split") != split]
    store.set_split(rows, split)
    return rep.ok


def _split(store: LabelStore) -> tuple[list[Atoms], list[Atoms], list[Atoms]]:
    """Training structures, the rattled held-out set, the MD held-out set."""
    frames = store.frames()
    return tuple([a for a in frames if a.info.get("split") == s]
                 for s in ("train", "test", "test-md"))


def _md_test_set(cfg: LearnConfig, tasks: list[ExploreTask], results, store: LabelStore,
                 run: Run) -> None:
    """Label ``cfg.test_md`` random frames of the first trajectories that ran to their end
    (γ never above γ_break: physical MD, not the runaway part of a broken run), once: the
    frames are chosen once (``test-md.extxyz``), within the label budget, and labelled from
    that file, so a killed run labels the same ones."""
    path = run.test_md
    if cfg.test_md == 0 or (not path.exists() and store.count(group="test-md")):
        return
    if not path.exists():
        frames = [f for t, r in zip(tasks, results) if r.status == "finished"
                  for f in ase.io.read(t.out_dir / "trajectory.extxyz", index=":")[1:]]
        if not frames:
            return
        n = min(cfg.test_md, len(frames), max(0, cfg.label_budget - store.count()))
        if n < min(cfg.test_md, len(frames)):
            log.warning("label_budget %d: held-out MD set cut from %d to %d frames",
                        cfg.label_budget, min(cfg.test_md, len(frames)), n)
        rng = np.random.default_rng(cfg.seed + 7)
        picked = [frames[i] for i in sorted(rng.choice(len(frames), n, replace=False))]
        for a in picked:
            a.info["source"] = f"held-out MD frame, {a.info.get('time_fs')} fs"
        with atomic_path(path) as tmp:
            ase.io.write(tmp, picked, format="extxyz")
    picked = ase.io.read(path, index=":") if path.stat().st_size else []
    _label(picked, cfg, store, Origin(group="test-md"), "test-md", run, "test-md")


def _explore_tasks(cfg: LearnConfig, starts: list[tuple[str, Path]], model_dir: Path,
                   it_dir: IterationDir, iteration: int) -> list[ExploreTask]:
    e, tasks = cfg.explore, []
    for name, path in starts:
        for ens in e.ensembles:
            for temp in e.temperatures_K:
                for p in (e.pressures_bar if ens == "npt" else [None]):
                    label = f"{name}-{ens}-{temp:g}K" + (f"-{p:g}bar" if p is not None else "")
                    md = MDSettings(ensemble=ens, temperature_K=temp, pressure_bar=p or 1.0,
                                    timestep_fs=e.timestep_fs, steps=e.steps,
                                    tdamp_fs=e.tdamp_fs, pdamp_fs=e.pdamp_fs,
                                    seed=cfg.seed + 1000 * iteration + len(tasks),
                                    traj_stride=e.traj_stride,
                                    checkpoint_every=e.traj_stride * max(1, 200 // e.traj_stride))
                    tasks.append(ExploreTask(label, path, model_dir, md, cfg.gamma_select,
                                             cfg.gamma_break, it_dir.explore(label)))
    return tasks


def _select(model, tasks: list[ExploreTask], limit: int) -> list[Atoms]:
    candidates = [a for t in tasks for a in read_candidates(t.out_dir)]
    if not candidates or limit <= 0:
        return []
    if not isinstance(model, Gradable) or model.active_set is None:  # no row space to select in
        chosen = sorted(range(len(candidates)), key=lambda k: -candidates[k].info["gamma"])
        return [candidates[k] for k in chosen[:limit]]
    chosen = select_add(model.active_set, [model.rows(a) for a in candidates], max_frames=limit)
    return [candidates[k] for k in chosen]


def _fitted(cfg: LearnConfig, run: Run, it: int, data: tuple[list, list], db: str,
            progress: bool) -> Path:
    """The folder of iteration ``it``'s model, fitted on ``data`` (training, test frames) from
    the previous iteration's model unless a rerun finds it there."""
    it_dir = run.iteration(it)
    model_dir = it_dir.model
    if not (model_dir / "model.json").exists():
        start = load_potential(run.iteration(it - 1).model) if it > 0 else None
        # a committee sends each member's fit through the run's engine (Parsl: in parallel)
        fan_out = {"engine": cfg.engine} if isinstance(cfg.potential, CommitteeSettings) else {}
        model = cfg.potential.fit(data[0], progress=progress, start=start,
                                  checkpoint=it_dir.fit_checkpoint, **fan_out)
        record_provenance(model, db, *data)
        save_model(model, model_dir)
    return model_dir


def _selected(cfg: LearnConfig, model, tasks, budget_left: int, path: Path) -> list:
    """The frames MaxVol selects from this iteration's candidates, written to ``path`` once
    so that a rerun labels the same frames."""
    if not path.exists():
        selected = _select(model, tasks, min(cfg.max_select_per_iteration, budget_left)) \
            if budget_left > 0 else []
        with atomic_path(path) as tmp:
            ase.io.write(tmp, selected, format="extxyz")
    return ase.io.read(path, index=":") if path.stat().st_size else []


def _iteration(cfg: LearnConfig, run: Run, store: LabelStore, starts, it: int,
               progress: bool) -> IterationRecord:
    it_dir = run.iteration(it)
    it_dir.path.mkdir(exist_ok=True)
    times = {}
    t0 = time.perf_counter()
    train, test, _ = _split(store)
    model_dir = _fitted(cfg, run, it, (train, test), store.url, progress)
    model = load_potential(model_dir)
    test_errors = error_table(predict(model, test))["all"] if test else {}
    times["fit"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    tasks = _explore_tasks(cfg, starts, model_dir, it_dir, it)
    cfg.engine.map(explore, tasks, [t.name for t in tasks],
                   records=RecordLog(it_dir.explore_records))
    results = [read_result(t.out_dir) for t in tasks]
    missing = [t.name for t, r in zip(tasks, results) if r is None]
    if missing:
        raise SeiflowError(f"exploration failed for {', '.join(missing)}; see "
                           f"{it_dir.explore_records}")
    _md_test_set(cfg, tasks, results, store, run)
    test_md = _split(store)[2]
    md_errors = error_table(predict(model, test_md))["all"] if test_md else {}
    times["explore"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    budget_left = cfg.label_budget - store.count()
    selected = _selected(cfg, model, tasks, budget_left, it_dir.selected)
    # clean MD: no trajectory broke (γ > γ_break) and no frame above γ_select enlarges the
    # active set any more (MaxVol selects nothing)
    converged = all(r.status == "finished" for r in results) and not selected \
        and budget_left > 0
    times["select"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    before = store.count()
    _label(selected, cfg, store, Origin(group="active", iteration=it), "train", run,
           it_dir.path.name)
    times["label"] = time.perf_counter() - t0
    cand_gammas = [float(a.info["gamma"]) for t in tasks for a in read_candidates(t.out_dir)]
    record = IterationRecord(
        iteration=it, train_structures=len(train), test_structures=len(test),
        labels_added=store.count() - before, labels_total=store.count(),
        test_errors=test_errors, test_md_errors=md_errors,
        trajectories=[vars(r) for r in results],
        finished=sum(r.status == "finished" for r in results),
        broken=sum(r.status == "broken" for r in results),
        max_gamma=max(r.max_gamma for r in results),
        candidates=len(cand_gammas), candidate_gammas=cand_gammas,
        selected=len(selected), converged=converged,
        stage_wall_s={k: round(v, 2) for k, v in times.items()})
    it_dir.write_record(record)
    return record


def run_learn(cfg: LearnConfig, progress: bool = True, config_file: str | None = None
              ) -> LearnReport:
    run = Run(cfg.run_dir)
    run.claim_config(cfg.model_dump(mode="json", exclude={"run_dir"}))
    report = LearnReport(run.root)
    inputs = {"config_file": config_file, "config": cfg.model_dump(mode="json")}
    with RunSummary(run.summary_file, "seiflow learn", inputs) as summary:
        starts = _starting_structures(cfg, run, progress)
        store = LabelStore(run.labels_db)
        test, initial, cut = _initial_sets(cfg, [ase.io.read(p) for _, p in starts], run)
        if cut:
            summary.data["label_budget_cut"] = cut
        _label(test, cfg, store, Origin(group="test"), "test", run, "test")
        _label(initial, cfg, store, Origin(group="initial"), "train", run, "initial")
        if cfg.initial_md is not None:
            summary.data["initial_md"] = _initial_md(cfg, run, store, starts)
        for it in range(cfg.max_iterations):
            rec = run.iteration(it).record() or _iteration(cfg, run, store, starts, it, progress)
            report.iterations.append(rec)
            _write_reports(cfg, run, report, store, "running")
            log.info("iteration %d: %d/%d trajectories finished, %d labels added (%d total)",
                     it, rec.finished, len(rec.trajectories), rec.labels_added,
                     rec.labels_total)
            if rec.converged:
                report.converged = True
                break
            if store.count() >= cfg.label_budget:
                break
        report.status = ("converged" if report.converged else
                         "label budget reached" if store.count() >= cfg.label_budget else
                         "iteration limit reached")
        _write_reports(cfg, run, report, store, report.status)
        summary.data["held_out_errors"] = _final_evaluation(run, store)
        if cfg.initial_md is not None and cfg.initial_md.rdf:
            summary.data["rdf_comparison"] = _rdf_comparison(cfg, run, store, starts)
        summary.data.update(status_learning=report.status, iterations=len(report.iterations),
                            labels=store.count(), final_fit=report.fit)
    return report


def _write_reports(cfg: LearnConfig, run: Run, report: LearnReport, store: LabelStore,
                   status: str) -> None:
    its = [r.to_dict() for r in report.iterations]
    if not its:
        return
    report.fit = fit_state(run.final_model())
    learning_curves(its, run.learning_curves)
    gamma_histograms({r["iteration"]: r["candidate_gammas"] for r in its},
                     run.gamma_histograms, cfg.gamma_select, cfg.gamma_break)
    meta = {"run_dir": str(run.root), "labeler": cfg.labeler.name,
            "potential": cfg.potential.describe(),
            "gamma_select": cfg.gamma_select, "gamma_break": cfg.gamma_break,
            "status": status, "labels_total": store.count(),
            "fit": fit_sentence(report.fit),
            "test_structures": its[-1]["test_structures"]}
    markdown_report(its, meta, run.report_md)


def _final_evaluation(run: Run, store: LabelStore) -> dict:
    """The final model on the held-out sets: errors.json, per-frame errors and parity plots
    (energy as errors) in ``run/evaluation``, linked from report.md."""
    _, test, test_md = _split(store)
    sets = {"test-rattled": test, "test-md": test_md,
            REFERENCE_MD_SPLIT: [a for a in store.frames()
                                 if a.info.get("split") == REFERENCE_MD_SPLIT]}
    errors, _ = evaluate(load_potential(run.final_model()), sets, run.evaluation,
                         "final model on held-out")
    shown = [f"![{name}](evaluation/parity-{name}.png)" for name in errors]
    before = run.report_md.read_text() if run.report_md.exists() else ""
    atomic_write(run.report_md, before +
                 "\n## Final model on the held-out sets\n\n" + "\n\n".join(shown) + "\n")
    return {name: {f"{comp}_rmse": e["rmse"] for comp, e in table["all"].items()}
            for name, table in errors.items()}


def _initial_md(cfg: LearnConfig, run: Run, store: LabelStore, starts) -> dict:
    """The frames of the reference MD, stored as they come (resumed, never relabelled)."""
    tasks = reference_md_tasks(cfg.initial_md, starts, cfg.labeler, store.url, run.root)
    done = run_reference_md(cfg.initial_md, tasks, cfg.engine, store, run.root)
    if store.count() >= cfg.label_budget:
        log.warning("label_budget %d is spent by the initial sets (%d labels, %d of them from "
                    "reference MD): the loop will select nothing", cfg.label_budget,
                    store.count(), done["frames_train"] + done["frames_test"])
    return done


def _rdf_comparison(cfg: LearnConfig, run: Run, store: LabelStore, starts) -> list[dict]:
    """g(r) of each reference trajectory against the final model's MD, in evaluation/ and
    report.md."""
    tasks = reference_md_tasks(cfg.initial_md, starts, cfg.labeler, store.url, run.root)
    records = compare_rdfs(cfg.initial_md, tasks, run.final_model(), run.evaluation)
    atomic_write(run.report_md, run.report_md.read_text() + rdf_markdown(records))
    return [{k: r[k] for k in ("trajectory", "failure") if k in r} |
            {"rms_difference": {p: v["rms_difference"] for p, v in r.get("pairs", {}).items()}}
            for r in records]


def resume(run_dir: Path, progress: bool = True, max_iterations: int | None = None,
           label_budget: int | None = None) -> LearnReport:
    """Continue a run; raising ``max_iterations`` or ``label_budget`` continues one that
    stopped at its limit."""
    run = Run.existing(run_dir)
    cfg = load_config(run.config_file, LearnConfig)
    cfg.run_dir = run.root
    for key, value in (("max_iterations", max_iterations), ("label_budget", label_budget)):
        if value is not None:
            setattr(cfg, key, value)
    return run_learn(cfg, progress=progress, config_file=str(run.config_file))

"""Train a potential on a label store, evaluate a model, grade structures.

``run_train``: the store's frames (status ok) are split into train and test (a split already
marked in the store is kept, so every model of a project is judged on the same test set), the
backend fits on train, and the model folder receives the model, ``errors.json`` (per component
and group, train and test), per-frame errors, parity plots and a run summary. Before any fit the
labels are checked (finite values, test elements present in train, stresses where the loss
weights them), and ``model.json`` records the reference (labeler, settings hash) the labels came
from, so that ``seiflow evaluate`` can refuse labels of another method.
"""

from __future__ import annotations

import contextlib
import csv
import logging
from pathlib import Path

import numpy as np
from ase import Atoms
from pydantic import Field

import seiflow

from seiflow.core.atomic import write_json
from seiflow.core.config import StrictModel
from seiflow.core.errors import SeiflowError
from seiflow.data.stats import split_by_group
from seiflow.data.store import LabelStore
from seiflow.execution import EngineSettings, InProcessSettings
from seiflow.potentials.base import Potential
from seiflow.potentials.committee import CommitteeSettings
from seiflow.potentials.metrics import FRAME_COLUMNS, error_table, predict_frames
from seiflow.potentials.registry import (MACESettings, MTPSettings, PotentialSettings,
                                         load_potential)
from seiflow.report.figures import parity_plots
from seiflow.report.learning import committee_training_curve, training_curve
from seiflow.workflows.summary import RunSummary

log = logging.getLogger(__name__)


class SplitSettings(StrictModel):
    test_fraction: float = Field(0.1, gt=0, lt=1)
    mode: str = Field("stratified", pattern="^(stratified|grouped)$")
    seed: int = 0


class TrainConfig(StrictModel):
    """``seiflow train`` configuration (YAML/TOML or command-line options)."""

    db: str = Field(..., description="label store: .db file or postgresql:// URL")
    out: Path = Field(Path("model"), description="model folder to write")
    potential: PotentialSettings = Field(default_factory=MTPSettings)
    split: SplitSettings = SplitSettings()
    settings_hash: str | None = Field(None, description="use only labels made with these "
                                      "reference settings (needed when the store mixes several)")
    engine: EngineSettings = Field(default_factory=InProcessSettings, description="where a "
                                   "committee's members are fitted, each one task (parsl: in "
                                   "parallel); a single model fits here")


PRESETS = ("small", "paper")


def preset_settings(backend: str, preset: str) -> dict:
    """The fit settings a preset stands for. MTP: small = level 8, paper = level 16 (Li et al.
    2025); MACE: small = ``MACESettings.small()``, paper = the defaults (the paper's MACE)."""
    if preset not in PRESETS:
        raise SeiflowError(f"unknown preset {preset!r} (valid: {', '.join(PRESETS)})")
    if backend == "mtp":
        return {"level": 8 if preset == "small" else 16}
    if backend == "mace":
        if preset == "paper":
            return {}
        small = MACESettings.small().model_dump(mode="json")
        default = MACESettings().model_dump(mode="json")
        return {k: v for k, v in small.items() if v != default[k]}
    knobs = "epochs, weights and freeze" if backend == "chgnet" else "epochs and weights"
    raise SeiflowError(f"--preset is for mtp and mace; {backend} fine-tunes its shipped "
                       f"model (set {knobs} instead)")


def apply_fit_options(member: dict, preset: str | None = None, device: str | None = None,
                      weights: tuple[float, float, float] | None = None) -> None:
    """Put command-line fit options into a backend's raw settings. ``preset`` fills only keys
    not given; ``device`` is ignored by an MTP (it fits on CPU processes) except ``cuda``,
    which is refused; ``weights`` = (energy, forces, stress) in the backend's own loss units;
    for MACE a stress weight 0 also turns stress off in stage two."""
    backend = member.get("backend", "mtp")
    for key, value in (preset_settings(backend, preset) if preset else {}).items():
        member.setdefault(key, value)
    if device == "cuda" and backend == "mtp":
        raise SeiflowError("--device cuda: an MTP fits on CPU processes (use --workers N); "
                           "--device is for mace and chgnet")
    if device is not None and backend != "mtp":
        member["device"] = device
    if weights is not None:
        member["weights"] = dict(zip(("energy", "forces", "stress"), map(float, weights)))
        if backend == "mace" and weights[2] == 0:
            two = member.setdefault("stage_two_weights",
                                    MACESettings().stage_two_weights.model_dump())
            two["stress"] = 0.0


def one_reference(store: LabelStore, settings_hash: str | None = None) -> list[Atoms]:
    """The store's labelled frames, all from one reference method and settings: a potential
    fitted to a mixture of methods (xTB and PBE, two cut-offs) would be fitted to no method."""
    frames = store.frames(**({"settings_hash": settings_hash} if settings_hash else {}))
    if not frames:
        raise SeiflowError(f"{store.url} holds no labelled structures"
                           + (f" with settings {settings_hash}" if settings_hash else ""))
    kinds = sorted({(str(a.info.get("labeler")), str(a.info.get("settings_hash")))
                    for a in frames})
    if len(kinds) > 1:
        shown = ", ".join(f"{lab} {h}" for lab, h in kinds)
        raise SeiflowError(f"{store.url} mixes labels from {len(kinds)} reference settings "
                           f"({shown}); choose one with settings_hash (--settings-hash), or "
                           "import files of one method under one name (seiflow data import "
                           "--reference)")
    return frames


def load_split(store: LabelStore, split: SplitSettings,
               settings_hash: str | None = None) -> tuple[list[Atoms], list[Atoms]]:
    """Train and test frames; frames without a split mark are split now and marked."""
    frames = one_reference(store, settings_hash)
    unmarked = [a for a in frames if a.info.get("split") not in ("train", "test")]
    if unmarked:
        if len(unmarked) < 2:
            tr, te = [0], []
        else:
            tr, te = split_by_group([str(a.info.get("group", "default")) for a in unmarked],
                                    split.test_fraction, split.seed, split.mode)
        store.set_split([unmarked[i].info["id"] for i in tr], "train")
        store.set_split([unmarked[i].info["id"] for i in te], "test")
        for i in tr:
            unmarked[i].info["split"] = "train"
        for i in te:
            unmarked[i].info["split"] = "test"
    train = [a for a in frames if a.info["split"] == "train"]
    test = [a for a in frames if a.info["split"] == "test"]
    return train, test


def evaluate(potential: Potential, sets: dict[str, list[Atoms]], out: Path,
             title: str = "", progress: bool = False) -> tuple[dict, list[dict]]:
    """Error tables and parity PNGs of ``potential`` on each named set, and one row of errors
    per frame (``metrics.FRAME_COLUMNS``); writes errors.json, per-frame.csv and
    per-frame.json into ``out``."""
    out.mkdir(parents=True, exist_ok=True)
    errors, rows = {}, []
    for name, frames in sets.items():
        if not frames:
            continue
        parity, frame_rows = predict_frames(potential, frames, grade=True, progress=progress,
                                            description=f"evaluate {name}")
        errors[name] = error_table(parity)
        rows.extend({**r, "split": r["split"] or name} for r in frame_rows)
        parity_plots(parity, out / f"parity-{name}.png", f"{title} {name} ({len(frames)} "
                     "structures)".strip())
    write_json(out / "errors.json", errors)
    write_frame_errors(rows, out)
    return errors, rows


def write_frame_errors(rows: list[dict], out: Path) -> None:
    """per-frame.csv and per-frame.json (units in the column names; empty: not available)."""
    write_json(out / "per-frame.json", rows)
    with open(out / "per-frame.csv", "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=FRAME_COLUMNS)
        writer.writeheader()
        writer.writerows(rows)


def worst(rows: list[dict], key: str, n: int = 5) -> list[dict]:
    """The ``n`` rows with the largest ``key`` (rows without it are left out)."""
    return sorted((r for r in rows if r.get(key) is not None), key=lambda r: -r[key])[:n]


def save_model(model: Potential, folder: Path) -> Path:
    """Save ``model`` to ``folder`` with ``training-curve.png`` beside it (loss or errors
    against wall time or epoch, from the backend's training record); a committee gets one per
    member in the member's folder and the members' curves together in its own."""
    model.save(folder)
    members = getattr(model, "members", None) or []
    for k, member in enumerate(members):
        training = _training_record(member)
        training_curve(training, Path(folder) / f"member-{k:02d}" / "training-curve.png",
                       f"member {k}: {_fit_title(member.backend, training)}")
    if members:
        committee_training_curve([_training_record(m) for m in members],
                                 Path(folder) / "training-curve.png",
                                 f"committee of {len(members)} {members[0].backend} fits")
    else:
        training = _training_record(model)
        training_curve(training, Path(folder) / "training-curve.png",
                       _fit_title(model.backend, training))
    return Path(folder)


def _fit_title(backend: str, training: dict) -> str:
    stop = training.get("stop") or training.get("stopped")
    return f"{backend} fit" + (f", stopped: {stop}" if stop else "")


def _training_record(model: Potential) -> dict:
    record = getattr(model, "record", None)
    training = record.get("training") if isinstance(record, dict) else None
    return training if isinstance(training, dict) else {}


def run_train(cfg: TrainConfig, progress: bool = True, config_file: str | None = None) -> dict:
    store = LabelStore(cfg.db)
    inputs = {**cfg.model_dump(mode="json"), "config_file": config_file}
    with RunSummary(cfg.out / "train-summary.yml", "seiflow train", inputs) as summary:
        train, test = load_split(store, cfg.split, cfg.settings_hash)
        check_training_data(train, test, cfg.potential, store.url)
        summary.data.update(train_structures=len(train), test_structures=len(test))
        committee = isinstance(cfg.potential, CommitteeSettings)
        fan_out = {"engine": cfg.engine} if committee else {}
        with cfg.engine.session() if committee else contextlib.nullcontext():
            model = cfg.potential.fit(train, progress=progress,
                                      checkpoint=cfg.out / "fit-checkpoint.pt", **fan_out)
        record_provenance(model, cfg.db, train, test)
        save_model(model, cfg.out)
        errors, _ = evaluate(model, {"train": train, "test": test}, cfg.out,
                             cfg.potential.describe(), progress=progress)
        summary.data["errors"] = {k: v["all"] for k, v in errors.items()}
        summary.add_output(model=cfg.out)
    return errors


def record_provenance(model: Potential, db: str, train: list[Atoms],
                      test: list[Atoms]) -> None:
    """What ``model`` was trained on, kept in its model.json: the store, the row ids of its
    training and test structures, the reference (labeler, settings hash), seiflow's version."""
    model.record["data"] = {"db": str(db), "train_ids": [a.info["id"] for a in train],
                            "test_ids": [a.info["id"] for a in test]}
    model.record["reference"] = reference_of(train[0])
    model.record["seiflow_version"] = seiflow.__version__


def reference_of(atoms: Atoms) -> dict:
    """Which reference method and settings a labelled frame's label came from."""
    return {"labeler": str(atoms.info.get("labeler")),
            "settings_hash": str(atoms.info.get("settings_hash"))}


def reference_frames(store: LabelStore, record: dict, model: str,
                     any_reference: bool = False) -> list[Atoms]:
    """The store's frames labelled with the reference a model was trained on (``record``: its
    model.json). Refused when the store holds none, unless ``any_reference``; a model without
    the record (trained before seiflow kept it) takes every frame, with a warning."""
    frames = store.frames()
    if not frames:
        raise SeiflowError(f"{store.url} holds no labelled structures")
    ref = record.get("reference")
    if any_reference:
        return frames
    if not isinstance(ref, dict) or "settings_hash" not in ref:
        log.warning("%s records no reference method (trained before seiflow kept it): its "
                    "errors are against whatever %s holds", model, store.url)
        return frames
    mine = [a for a in frames if str(a.info.get("settings_hash")) == ref["settings_hash"]]
    if not mine:
        held = ", ".join(sorted({"{labeler} {settings_hash}".format(**reference_of(a))
                                 for a in frames}))
        raise SeiflowError(f"{model} was trained on {ref.get('labeler')} labels (settings "
                           f"{ref['settings_hash']}) but {store.url} holds only {held}: errors "
                           "would compare two reference methods; pass --any-reference to "
                           "evaluate anyway")
    if len(mine) < len(frames):
        log.info("%d frames of %s have other reference settings and are left out",
                 len(frames) - len(mine), store.url)
    return mine


def grade_frames(model_path: Path, frames: list[Atoms]) -> list[np.ndarray]:
    """Per-atom extrapolation grades of every frame."""
    model = load_potential(model_path)
    grades = [model.grade(a) for a in frames]
    if any(g is None for g in grades):
        raise SeiflowError(f"{model_path} ({model.backend}) has no extrapolation grade; train "
                           "a committee of it (--committee N) to get one")
    return grades


# --- checks of the training data, before any fit -------------------------------------------

def check_training_data(train: list[Atoms], test: list[Atoms], potential: PotentialSettings,
                        where: str) -> None:
    """One clear error for labels a fit cannot use: non-finite values, test elements that no
    training frame has, a stress term in the loss with no stress in the data."""
    check_finite_labels(train + test, where)
    check_test_species(train, test, where)
    check_stress_labels(train, potential, where)


def _shown(ids: list, n: int = 8) -> str:
    return ", ".join(str(i) for i in ids[:n]) + (f" and {len(ids) - n} more" if len(ids) > n
                                                 else "")


def check_finite_labels(frames: list[Atoms], where: str) -> None:
    """Every frame has a finite energy and forces, and a finite stress where it has one (the
    store keeps a NaN energy as no energy)."""
    bad = []
    for atoms in frames:
        res = atoms.calc.results if atoms.calc is not None else {}
        what = [k for k in ("energy", "forces", "stress")
                if (k in res and not np.all(np.isfinite(res[k])))
                or (k not in res and k != "stress")]
        if what:
            bad.append(f"{atoms.info.get('id')} ({'/'.join(what)})")
    if bad:
        raise SeiflowError(f"{where} has labels that are NaN, infinite or missing in rows "
                           f"{_shown(bad)}; relabel or delete those rows before training")


def check_test_species(train: list[Atoms], test: list[Atoms], where: str) -> None:
    """Every element of the test frames occurs in a training frame."""
    known = {s for a in train for s in a.get_chemical_symbols()}
    missing = sorted({s for a in test for s in a.get_chemical_symbols()} - known)
    if missing:
        rows = [a.info.get("id") for a in test if set(a.get_chemical_symbols()) - known]
        els = ", ".join(missing)
        raise SeiflowError(f"the test frames of {where} contain {els}, which no training frame "
                           f"has (rows {_shown(rows)}); split again (seiflow data split) or "
                           f"label training structures with {els}")


def stress_weight(potential) -> float:
    """The largest stress weight of the fit's loss (a committee's member; MACE: stage two)."""
    settings = getattr(potential, "member", potential)
    weights = [settings.weights.stress]
    if getattr(settings, "stage_two_start", None) is not None:
        weights.append(settings.stage_two_weights.stress)
    return max(weights)


def check_stress_labels(train: list[Atoms], potential, where: str) -> None:
    """A loss with a stress term needs stresses: refused when no training frame has one but
    some are periodic cells (frames without stress are fine if others have it)."""
    if stress_weight(potential) <= 0:
        return
    periodic = [a for a in train if a.cell.rank == 3 and a.pbc.all()]
    with_stress = [a for a in train if a.calc is not None and "stress" in a.calc.results]
    if periodic and not with_stress:
        raise SeiflowError(f"none of the {len(train)} training frames of {where} has a stress "
                           "label, but the loss weights stress: set --weights E F 0 (stress "
                           "weight 0) or label stresses")

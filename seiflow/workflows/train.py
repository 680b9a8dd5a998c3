"""Train a potential on a label store, evaluate a model, grade structures.

``run_train``: the store's frames (status ok) are split into train and test (a split already
marked in the store is kept, so every model of a project is judged on the same test set), the
backend fits on train, and the model folder receives the model, ``errors.json`` (per component
and group, train and test), parity plots and a run summary.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from ase import Atoms
from pydantic import Field

from seiflow.core.config import StrictModel
from seiflow.core.errors import SeiflowError
from seiflow.data.stats import split_by_group
from seiflow.data.store import LabelStore
from seiflow.potentials.base import Potential
from seiflow.potentials.metrics import error_table, predict
from seiflow.potentials.registry import MTPSettings, PotentialSettings, load_potential
from seiflow.report.figures import parity_plots
from seiflow.workflows.summary import RunSummary


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
                           f"({shown}); choose one with settings_hash (--settings-hash), or import files "
                           "of one method under one name (seiflow data import --reference)")
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
             title: str = "") -> dict:
    """Error tables and parity PNGs of ``potential`` on each named set; writes errors.json."""
    out.mkdir(parents=True, exist_ok=True)
    errors = {}
    for name, frames in sets.items():
        if not frames:
            continue
        parity = predict(potential, frames)
        errors[name] = error_table(parity)
        parity_plots(parity, out / f"parity-{name}.png", f"{title} {name} ({len(frames)} "
                     "structures)".strip())
    (out / "errors.json").write_text(json.dumps(errors, indent=1))
    return errors


def run_train(cfg: TrainConfig, progress: bool = True, config_file: str | None = None) -> dict:
    store = LabelStore(cfg.db)
    inputs = {**cfg.model_dump(mode="json"), "config_file": config_file}
    with RunSummary(cfg.out / "train-summary.yml", "seiflow train", inputs) as summary:
        train, test = load_split(store, cfg.split, cfg.settings_hash)
        summary.data.update(train_structures=len(train), test_structures=len(test))
        model = cfg.potential.fit(train, progress=progress,
                                  checkpoint=cfg.out / "fit-checkpoint.pt")
        model.record["data"] = {"db": cfg.db, "train_ids": [a.info["id"] for a in train],
                                "test_ids": [a.info["id"] for a in test]}
        model.save(cfg.out)
        errors = evaluate(model, {"train": train, "test": test}, cfg.out,
                          cfg.potential.describe())
        summary.data["errors"] = {k: v["all"] for k, v in errors.items()}
        summary.add_output(model=cfg.out)
    return errors


def grade_frames(model_path: Path, frames: list[Atoms]) -> list[np.ndarray]:
    """Per-atom extrapolation grades of every frame."""
    model = load_potential(model_path)
    grades = [model.grade(a) for a in frames]
    if any(g is None for g in grades):
        raise SeiflowError(f"{model_path} ({model.backend}) has no extrapolation grade; train "
                           "a committee of it (--committee N) to get one")
    return grades

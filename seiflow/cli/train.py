"""`seiflow train`, `seiflow evaluate MODEL`, `seiflow grade MODEL STRUCTURES...`."""

from __future__ import annotations

from pathlib import Path

import ase.io
import typer
from rich.console import Console
from rich.table import Table

from seiflow.core.config import parse_config, read_mapping
from seiflow.data.store import LabelStore
from seiflow.potentials.metrics import COMPONENTS
from seiflow.potentials.registry import load_potential
from seiflow.structures.io import read_frames
from seiflow.workflows.train import TrainConfig, evaluate, grade_frames, run_train


def _table(errors: dict, title: str) -> Table:
    table = Table(title=title)
    for col in ("set", "group", "component", "unit", "RMSE", "MAE", "max", "n"):
        table.add_column(col)
    for name, by_group in errors.items():
        for group, comps in by_group.items():
            for comp, e in comps.items():
                if e["n"]:
                    table.add_row(name, group, comp, COMPONENTS[comp], f"{e['rmse']:.4g}",
                                  f"{e['mae']:.4g}", f"{e['max']:.4g}", str(e["n"]))
    return table


def train(
    config: Path | None = typer.Argument(None, help="YAML/TOML train config (optional)"),
    db: str | None = typer.Option(None, "--db", help="label store"),
    backend: str = typer.Option("mtp", "--backend", help="mtp | mace | chgnet"),
    level: int | None = typer.Option(None, "--level", help="MTP level (2-28)"),
    max_iter: int | None = typer.Option(None, "--max-iter", help="MTP iterations"),
    workers: int | None = typer.Option(None, "--workers",
                                       help="MTP fit processes (one per core)"),
    epochs: int | None = typer.Option(None, "--epochs", help="MACE / CHGNet epochs"),
    foundation: Path | None = typer.Option(None, "--foundation",
                                           help="MACE model file to fine-tune (local)"),
    committee: int | None = typer.Option(None, "--committee",
                                         help="train N models of the backend as a committee"),
    out: Path | None = typer.Option(None, "--out", help="model folder"),
    settings_hash: str | None = typer.Option(None, "--settings-hash",
                                             help="labels of these reference settings only"),
    progress: bool = typer.Option(True, "--progress/--no-progress"),
) -> None:
    """Fit a potential on a label store's train split; report train and test errors."""
    raw = read_mapping(config) if config else {}
    pot = raw.setdefault("potential", {})
    member = pot.setdefault("member", {}) if pot.get("backend") == "committee" else pot
    member.setdefault("backend", backend)
    for key, value in (("level", level), ("max_iter", max_iter), ("workers", workers),
                       ("epochs", epochs), ("foundation", foundation)):
        if value is not None:
            member[key] = str(value) if isinstance(value, Path) else value
    if committee is not None and pot.get("backend") != "committee":
        raw["potential"] = {"backend": "committee", "size": committee, "member": pot}
    elif committee is not None:
        pot["size"] = committee
    for key, value in (("db", db), ("out", out), ("settings_hash", settings_hash)):
        if value is not None:
            raw[key] = str(value)
    cfg = parse_config(raw, TrainConfig, where=str(config or "command line"))
    errors = run_train(cfg, progress=progress, config_file=str(config) if config else None)
    Console().print(_table({k: {"all": v["all"]} for k, v in errors.items()},
                           f"model {cfg.out}"))


def evaluate_cmd(
    model: Path = typer.Argument(..., help="model folder"),
    db: str = typer.Option(..., "--db", help="label store"),
    split: str | None = typer.Option(None, "--split", help="train | test (default: both)"),
    out: Path | None = typer.Option(None, "--out", help="folder for errors.json and plots"),
) -> None:
    """Errors of a model on a label store (per split, component, group) with parity plots."""
    potential = load_potential(model)
    sets: dict[str, list] = {}
    for atoms in LabelStore(db).frames():
        sets.setdefault(str(atoms.info.get("split", "all")), []).append(atoms)
    if split:
        sets = {split: sets.get(split, [])}
    errors = evaluate(potential, sets, out or model / "evaluation", str(model))
    Console().print(_table(errors, f"model {model} on {db}"))


def grade(
    model: Path = typer.Argument(..., help="model folder"),
    structures: list[Path] = typer.Argument(..., help="structure files (all frames)"),
    out: Path | None = typer.Option(None, "--out", help="extxyz with per-atom 'gamma'"),
) -> None:
    """Extrapolation grade γ of every structure (per-atom maximum)."""
    frames = [a for p in structures for a in read_frames(p)]
    grades = grade_frames(model, frames)
    table = Table(title=f"extrapolation grade (model {model})")
    for col in ("structure", "atoms", "max γ", "mean γ", "atoms γ>2"):
        table.add_column(col)
    for atoms, g in zip(frames, grades):
        table.add_row(str(atoms.info.get("source", atoms.get_chemical_formula())), str(len(g)),
                      f"{g.max():.3g}", f"{g.mean():.3g}", str(int((g > 2).sum())))
        atoms.arrays["gamma"] = g
    Console().print(table)
    if out:
        ase.io.write(out, frames, format="extxyz")

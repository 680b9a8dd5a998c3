"""`seiflow train`, `seiflow evaluate MODEL`, `seiflow grade MODEL STRUCTURES...`."""

from __future__ import annotations

from pathlib import Path

import ase.io
import typer
from rich.table import Table

from seiflow.cli.console import out_console
from seiflow.cli.inputs import existing_store, read_checked_frames
from seiflow.cli.runs import RunLock, fresh_model_folder
from seiflow.core.config import mapping_at, parse_config, read_mapping
from seiflow.core.errors import SeiflowError
from seiflow.data.store import LabelStore
from seiflow.potentials.base import read_model_json
from seiflow.potentials.metrics import COMPONENTS
from seiflow.potentials.registry import load_potential
from seiflow.workflows.train import (TrainConfig, apply_fit_options, evaluate, grade_frames,
                                     reference_frames, run_train, worst)


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
    backend: str = typer.Option("mtp", "--backend", help="mtp | mace | chgnet | sevennet"),
    level: int | None = typer.Option(None, "--level", help="MTP level (2-28)"),
    max_iter: int | None = typer.Option(None, "--max-iter", help="MTP iterations"),
    workers: int | None = typer.Option(None, "--workers",
                                       help="MTP fit processes (one per core)"),
    epochs: int | None = typer.Option(None, "--epochs", help="MACE / CHGNet / SevenNet epochs"),
    max_time: float | None = typer.Option(None, "--max-time", metavar="SECONDS",
                                          help="fit time budget, s"),
    preset: str | None = typer.Option(None, "--preset", help="small | paper (mtp, mace): "
                                      "settings not given explicitly"),
    device: str | None = typer.Option(None, "--device", help="cpu | cuda | auto (mace, "
                                      "chgnet, sevennet; an MTP fits on CPU, refuses cuda)"),
    weights: tuple[float, float, float] | None = typer.Option(
        None, "--weights", metavar="E F S",
        help="loss weights of energy, forces, stress (the backend's own units)"),
    foundation: Path | None = typer.Option(None, "--foundation", help="model to fine-tune: "
                                           "a local MACE file; sevennet: sevennet-0 (shipped)"),
    optimizer: str | None = typer.Option(None, "--optimizer",
                                         help="MTP fit: lm | varpro | bfgs (default lm)"),
    weighting: str | None = typer.Option(None, "--weighting", help="MTP loss: structures | "
                                         "mlip (MLIP-3's: stress x N atoms); docs/potentials.md"),
    committee: int | None = typer.Option(None, "--committee",
                                         help="train N models of the backend as a committee"),
    engine: str | None = typer.Option(None, "--engine", help="inprocess | parsl: where a "
                                      "committee's members are fitted (parsl: in parallel)"),
    engine_config: Path | None = typer.Option(None, "--engine-config",
                                              help="engine settings file (YAML/TOML)"),
    out: Path | None = typer.Option(None, "--out", help="model folder"),
    settings_hash: str | None = typer.Option(None, "--settings-hash",
                                             help="labels of these reference settings only"),
    overwrite: bool = typer.Option(False, "--overwrite",
                                   help="replace the model already in the --out folder"),
    progress: bool = typer.Option(True, "--progress/--no-progress"),
) -> None:
    """Fit a potential on a label store's train split; report train and test errors."""
    if device is not None and device not in ("cpu", "cuda", "auto"):
        raise SeiflowError(f"--device {device}: use cpu, cuda or auto")
    where = str(config or "command line")
    raw = _with_options(
        read_mapping(config) if config else {}, where, backend,
        fit={"level": level, "max_iter": max_iter, "workers": workers, "epochs": epochs,
             "max_time": max_time, "foundation": foundation, "optimizer": optimizer,
             "weighting": weighting},
        fit_options={"preset": preset, "device": device, "weights": weights},
        committee=committee, top={"db": db, "out": out, "settings_hash": settings_hash})
    if engine is not None or engine_config is not None:
        eng = read_mapping(engine_config) if engine_config else mapping_at(raw, "engine", where)
        raw["engine"] = {**eng, **({"name": engine} if engine else {})}
    cfg = parse_config(raw, TrainConfig, where=where)
    existing_store(cfg.db)
    with RunLock(cfg.out, "seiflow train"):
        fresh_model_folder(cfg.out, overwrite)
        errors = run_train(cfg, progress=progress, config_file=str(config) if config else None)
    out_console().print(_table({k: {"all": v["all"]} for k, v in errors.items()},
                           f"model {cfg.out}"))


def _with_options(raw: dict, where: str, backend: str, fit: dict, fit_options: dict,
                  committee: int | None, top: dict) -> dict:
    """The train config ``raw`` with the command-line options merged in: ``fit`` settings into
    the potential (or a committee's member), ``committee`` wrapping it, ``top`` at the top."""
    pot = mapping_at(raw, "potential", where)
    member = mapping_at(pot, "member", where, "potential.member") \
        if pot.get("backend") == "committee" else pot
    if "stage_two_weights" in member:  # --weights merges into it
        mapping_at(member, "stage_two_weights", where)
    member.setdefault("backend", backend)
    for key, value in fit.items():
        if value is not None:
            member[key] = str(value) if isinstance(value, Path) else value
    apply_fit_options(member, **fit_options)
    if committee is not None and pot.get("backend") != "committee":
        raw["potential"] = {"backend": "committee", "size": committee, "member": pot}
    elif committee is not None:
        pot["size"] = committee
    for key, value in top.items():
        if value is not None:
            raw[key] = str(value)
    return raw


def evaluate_cmd(
    model: Path = typer.Argument(..., help="model folder"),
    db: str = typer.Option(..., "--db", help="label store"),
    split: str | None = typer.Option(None, "--split", help="train | test (default: both)"),
    out: Path | None = typer.Option(None, "--out", help="folder for errors.json, per-frame "
                                    "errors and plots (default: MODEL/evaluation)"),
    any_reference: bool = typer.Option(False, "--any-reference",
                                       help="evaluate on labels of another reference method"),
    progress: bool = typer.Option(True, "--progress/--no-progress"),
) -> None:
    """Errors of a model on a label store (per split, component, group, and per frame, with
    the worst frames) and parity plots."""
    frames = reference_frames(LabelStore(existing_store(db)), read_model_json(model), str(model),
                              any_reference)
    potential = load_potential(model)
    sets: dict[str, list] = {}
    for atoms in frames:
        sets.setdefault(str(atoms.info.get("split", "all")), []).append(atoms)
    if split:
        sets = {split: sets.get(split, [])}
    folder = out or model / "evaluation"
    errors, rows = evaluate(potential, sets, folder, str(model), progress=progress)
    console = out_console()
    console.print(_table(errors, f"model {model} on {db}"))
    for key, what in (("energy_error_meV_per_atom", "|ΔE|/atom"),
                      ("max_force_error_eV_per_A", "max |ΔF|")):
        if worst(rows, key):
            console.print(_worst_table(worst(rows, key), f"worst frames by {what}"))
    console.print(f"per-frame errors: {folder / 'per-frame.csv'}", highlight=False)


def _worst_table(rows: list[dict], title: str) -> Table:
    table = Table(title=title)
    for col in ("row", "split", "group", "atoms", "|ΔE|/atom", "max |ΔF|", "stress RMSE",
                "max γ"):
        table.add_column(col, no_wrap=True)
    table.caption = "meV/atom, eV/Å (per atom), GPa; sources in per-frame.csv"
    for r in rows:
        cells = [r["energy_error_meV_per_atom"], r["max_force_error_eV_per_A"],
                 r["stress_rmse_GPa"], r["max_gamma"]]
        table.add_row(str(r["id"]), str(r["split"]), str(r["group"]), str(r["natoms"]),
                      *("-" if c is None else f"{c:.3g}" for c in cells))
    return table


def grade(
    model: Path = typer.Argument(..., help="model folder"),
    structures: list[Path] = typer.Argument(..., help="structure files (all frames)"),
    out: Path | None = typer.Option(None, "--out", help="extxyz with per-atom 'gamma'"),
) -> None:
    """Extrapolation grade γ of every structure (per-atom maximum)."""
    frames = [a for p in structures for a in read_checked_frames(p)]
    grades = grade_frames(model, frames)
    table = Table(title=f"extrapolation grade (model {model})")
    for col in ("structure", "atoms", "max γ", "mean γ", "atoms γ>2"):
        table.add_column(col)
    for atoms, g in zip(frames, grades):
        table.add_row(str(atoms.info.get("source", atoms.get_chemical_formula())), str(len(g)),
                      f"{g.max():.3g}", f"{g.mean():.3g}", str(int((g > 2).sum())))
        atoms.arrays["gamma"] = g
    out_console().print(table)
    if out:
        ase.io.write(out, frames, format="extxyz")

"""`seiflow export-lammps MODEL STRUCTURE --out DIR` and `seiflow import-mtp FILE --species ...`
(docs/lammps.md)."""

from __future__ import annotations

from pathlib import Path

import typer

from seiflow.cli.console import out_console
from seiflow.cli.inputs import read_checked_structure
from seiflow.cli.runs import fresh_model_folder
from seiflow.core.errors import SeiflowError
from seiflow.workflows.lammps import LammpsRun, export_lammps
from seiflow.workflows.mlip_import import import_mtp

# `--species Li F`: the words after the first element arrive as extra arguments
IMPORT_SETTINGS = {"allow_extra_args": True}


def export_lammps_cmd(
    model: Path = typer.Argument(..., help="model folder (mtp or mace)"),
    structure: Path = typer.Argument(..., help="structure file (the last frame is used)"),
    out: Path = typer.Option(..., "--out", help="folder for the LAMMPS files"),
    ensemble: str = typer.Option("nvt", "--ensemble", help="nvt | npt (Nosé–Hoover)"),
    temperature: float = typer.Option(300.0, "--temperature", help="K"),
    pressure_bar: float = typer.Option(1.0, "--pressure-bar", help="bar (npt)"),
    steps: int = typer.Option(10000, "--steps", help="MD steps"),
    timestep_fs: float = typer.Option(0.5, "--timestep-fs", help="fs"),
) -> None:
    """Write a LAMMPS data file, in.lammps and the potential files of an MTP or MACE model."""
    if not (model / "model.json").is_file():
        raise SeiflowError(f"{model} is not a seiflow model folder (no model.json)")
    atoms = read_checked_structure(structure)
    run = LammpsRun(ensemble=ensemble.lower(), temperature=temperature,
                    pressure_bar=pressure_bar, steps=steps, timestep_fs=timestep_fs)
    info = export_lammps(model, atoms, out, run)
    gamma = ("γ control: select > "
             f"{run.gamma_select:g}, break > {run.gamma_break:g}" if info["gamma_control"]
             else "no γ control" + (" (the model has no active set)"
                                    if info["backend"] == "mtp" else ""))
    out_console().print(
        f"{info['backend'].upper()} {', '.join(info['species'])}: {info['atoms']} atoms, "
        f"{run.ensemble.upper()} {run.temperature:g} K, {run.steps} x {run.timestep_fs:g} fs; "
        f"{gamma}; wrote {', '.join(info['files'])} in {out} (run: lmp -in in.lammps)",
        highlight=False)


def import_mtp_cmd(
    ctx: typer.Context,
    file: Path = typer.Argument(..., help="MLIP-2/MLIP-3 .mtp or .almtp file"),
    species: list[str] = typer.Option(..., "--species", help="element of each type, in "
                                      "the file's order: --species Li F (after FILE)"),
    out: Path = typer.Option(..., "--out", help="model folder to write"),
    als: Path | None = typer.Option(None, "--als", help="MLIP-2 selection state (.als)"),
    overwrite: bool = typer.Option(False, "--overwrite", help="replace a model in --out"),
) -> None:
    """Read an MLIP-trained MTP (and its selection state) into a seiflow model folder."""
    names = [s for item in [*species, *ctx.args] for s in item.replace(",", " ").split()]
    fresh_model_folder(out, overwrite)
    info = import_mtp(file, names, out, als=als)
    level = f"level {info['level']}" if info["level"] else "level unknown"
    out_console().print(
        f"MTP ({level}, {', '.join(info['species'])}, cutoff {info['cutoff']:g} Å) -> "
        f"{info['model']}; {info['note']}", highlight=False)

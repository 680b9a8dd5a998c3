"""`seiflow build CONFIG`: structures from a YAML/TOML config."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from seiflow.cli.inputs import check_structure_files
from seiflow.cli.runs import RunLock
from seiflow.core.config import load_config
from seiflow.workflows.build import BuildConfig, run_build


def build(
    config: Path = typer.Argument(..., help="YAML or TOML build config"),
    out: Path | None = typer.Option(None, "--out", "-o", help="output folder (overrides out_dir)"),
    progress: bool = typer.Option(True, "--progress/--no-progress"),
) -> None:
    """Build library phases, amorphous mixtures, defects and interfaces; write files + summary."""
    cfg = load_config(config, BuildConfig)
    check_structure_files(p.file for p in cfg.phases)
    with RunLock(out or cfg.out_dir, "seiflow build"):
        report = run_build(cfg, out_dir=out, progress=progress, config_file=str(config))
    console = Console(width=160)
    t = Table("name", "kind", "formula", "atoms", "density (g/cm³)", "notes",
              title=f"structures in {report.out_dir}")
    for r in report.built:
        notes = []
        if "strain" in r:
            notes.append(f"strain {100 * r['strain']:.2f} %, area {r['area_A2']:.1f} Å²")
        if "density_final" in r:
            notes.append(f"{r['density_initial']:.2f} -> {r['density_final']:.2f} g/cm³, "
                         f"P = {r['final_pressure_GPa']:.2f} GPa")
        if r["name"] in report.reused:
            notes.append("reused")
        t.add_row(r["name"], r["kind"], r["formula"], str(r["natoms"]),
                  f"{r['density_g_cm3']:.3f}", "; ".join(notes))
    console.print(t)
    console.print(f"summary: {report.out_dir / 'build-summary.yml'}")
    if report.failures:
        for f in report.failures:
            console.print(f"[red]failed[/] {f['name']}: {f['error']}", highlight=False)
        raise typer.Exit(1)

"""`seiflow validate MODEL --reference xtb --phases li2co3,lif,li-bcc --out DIR`: every property
with the potential and with the reference method, side by side."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console

from seiflow.cli.inputs import check_structure_files
from seiflow.cli.runs import RunLock
from seiflow.core.config import mapping_at, parse_config, read_mapping
from seiflow.core.errors import ConfigError
from seiflow.workflows.methods import fit_sentence
from seiflow.workflows.validate import ValidateConfig, run_validate


def _csv(text: str | None) -> list[str]:
    return [t.strip() for t in text.split(",") if t.strip()] if text else []


def _phase_list(data: dict, where: str) -> list[dict]:
    """The config's phases, for options that apply to each: a list of mappings."""
    phases = data.get("phases") or []
    if not isinstance(phases, list) or not all(isinstance(p, dict) for p in phases):
        raise ConfigError(f"config {where}: phases must be a list of mappings "
                          "({phase: NAME, ...})")
    return phases


def validate(
    model: Path = typer.Argument(..., help="potential folder (seiflow train / learn)"),
    reference: str | None = typer.Option(None, "--reference", "-r",
                                         help="sevennet | chgnet | xtb | gpaw | cp2k | vasp | emt "
                                         "(default sevennet)"),
    settings: Path | None = typer.Option(None, "--settings", help="YAML/TOML labeler settings"),
    phases: str | None = typer.Option(None, "--phases", help="e.g. li2co3,lif,li-bcc"),
    properties: str | None = typer.Option(
        None, "--properties", help="of the phases: lattice,elastic,phonons (default all)"),
    neb: str | None = typer.Option(
        None, "--neb", help="PHASE:MECHANISM,... e.g. li2co3:vacancy,li2co3:knockoff,"
        "li2co3:frenkel"),
    config: Path | None = typer.Option(None, "--config", "-c",
                                       help="YAML/TOML suite config (options override it)"),
    out: Path | None = typer.Option(None, "--out", "-o", help="output folder"),
    min_width: float | None = typer.Option(None, "--min-width",
                                           help="supercell width of the phases, Å"),
    allow_thin: bool = typer.Option(False, "--allow-thin", help="xtb: cells < 12 Å"),
    progress: bool = typer.Option(True, "--progress/--no-progress"),
) -> None:
    """Validate a potential against a reference method: lattice/EOS, elastic constants,
    phonons, NEB barriers, interface energies. A rerun resumes."""
    where = str(config or "command line")
    data = read_mapping(config) if config else {}
    data["model"] = str(model)
    if reference or settings or allow_thin:
        lab = read_mapping(settings) if settings else dict(mapping_at(data, "reference", where))
        lab["name"] = reference or lab.get("name", "sevennet")
        if allow_thin:
            lab["allow_thin"] = True
        data["reference"] = lab
    if phases:
        data["phases"] = [{"phase": p} for p in _csv(phases)]
    if properties or min_width:
        for phase in _phase_list(data, where):
            if properties:
                phase["properties"] = _csv(properties)
            if min_width:
                phase["min_width"] = min_width
    if neb:
        pairs = [item.split(":", 1) for item in _csv(neb)]
        if any(len(p) != 2 for p in pairs):
            raise typer.BadParameter("--neb takes PHASE:MECHANISM pairs, e.g. li2co3:vacancy")
        data["neb"] = [{"phase": p, "mechanism": m} for p, m in pairs]
    if out:
        data["out_dir"] = str(out)
    engine = mapping_at(data, "engine", where)
    if not engine:
        engine["name"] = "inprocess"
    engine["progress"] = progress  # one bar over the tasks (target x method)
    cfg = parse_config(data, ValidateConfig, where=where)
    check_structure_files(t.file for t in [*cfg.phases, *cfg.neb])
    with RunLock(cfg.out_dir, "seiflow validate"):
        summary = run_validate(cfg)
    _print_summary(summary, cfg.out_dir)


def _print_summary(summary: dict, out_dir: Path) -> None:
    """Counts, where the table is, and every quantity outside the tolerance by name."""
    rows = summary["rows"]
    failed = sum(r["status"] != "ok" for r in rows)
    outside = [r for r in rows if r.get("agreement", "").startswith("outside")]
    console = Console(soft_wrap=True)
    console.print(f"{len(rows)} rows ({failed} with a failed calculation, {len(outside)} "
                  f"outside the tolerance): {out_dir / 'table.md'}, "
                  f"{len(summary['figures'])} figures in {out_dir}")
    if summary["fit"]["converged"] is False:
        console.print(fit_sentence(summary["fit"]))
    for r in outside:
        console.print(f"  {r['target']} {r['quantity']}: {r['value']:.4g} vs {r['reference']:.4g}"
                      f" {r['unit']}, {r['agreement']}")

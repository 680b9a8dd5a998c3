"""`seiflow label STRUCTURES... --labeler NAME --db labels.db [--engine parsl]`."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console

from seiflow.cli.inputs import is_url, read_checked_frames
from seiflow.core.config import StrictModel, parse_config, read_mapping
from seiflow.data.store import LabelStore, Origin
from seiflow.execution import EngineSettings
from seiflow.execution.base import RecordLog
from seiflow.reference import LabelerSettings
from seiflow.workflows.label import run_label
from seiflow.workflows.summary import RunSummary


class LabelJob(StrictModel):
    labeler: LabelerSettings
    engine: EngineSettings


def label(
    structures: list[Path] = typer.Argument(..., help="structure files (all frames are read)"),
    labeler: str = typer.Option("xtb", "--labeler", "-l", help="sevennet | chgnet | xtb | gpaw "
                                "| cp2k | vasp | emt (docs/reference.md: which for what)"),
    settings: Path | None = typer.Option(None, "--settings", help="YAML/TOML labeler settings"),
    db: str = typer.Option("labels.db", "--db", help="label store (.db or postgresql://)"),
    engine: str = typer.Option("inprocess", "--engine", help="inprocess | parsl"),
    engine_config: Path | None = typer.Option(None, "--engine-config", help="engine settings"),
    group: str = typer.Option("default", "--group", help="group name stored with each label"),
    allow_thin: bool = typer.Option(False, "--allow-thin", help="xtb: label cells < 12 Å"),
    progress: bool = typer.Option(True, "--progress/--no-progress"),
) -> None:
    """Label structures with a reference method; finished labels are never redone."""
    lab = read_mapping(settings) if settings else {}
    lab.setdefault("name", labeler)
    if allow_thin:
        lab["allow_thin"] = True
    eng = read_mapping(engine_config) if engine_config else {}
    eng.setdefault("name", engine)
    eng.setdefault("progress", progress)
    job = parse_config({"labeler": lab, "engine": eng}, LabelJob,
                       where=str(settings or engine_config or "command line"))
    frames = [a for path in structures for a in read_checked_frames(path)]
    store = LabelStore(db)
    inputs = {"structures": [str(p) for p in structures], "db": db, "group": group,
              **job.model_dump(mode="json")}
    summary_path = Path("label-summary.yml") if is_url(db) else Path(db + "-label-summary.yml")
    with RunSummary(summary_path, "seiflow label", inputs) as summary:
        report = run_label(frames, job.labeler, store, job.engine, Origin(group=group),
                           records=RecordLog(summary_path.with_suffix(".records.jsonl")))
        summary.data.update(total=report.total, already=report.already, ok=report.ok,
                            failed=report.failed)
    Console(soft_wrap=True).print(
        f"{report.total} structures: {report.ok} labelled, {report.failed} failed, "
        f"{report.already} already in {db} (labeler {job.labeler.name}, settings "
        f"{job.labeler.settings_hash()})")
    errors = [r for r in report.records if r.status == "error"]
    if errors:
        for r in errors:
            Console(stderr=True).print(f"task {r.key} crashed: {r.error}", highlight=False)
        raise typer.Exit(1)

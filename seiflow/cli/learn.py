"""`seiflow learn CONFIG` and `seiflow resume RUN_DIR`: the active-learning loop."""

from __future__ import annotations

from pathlib import Path

import typer

from seiflow.cli.console import out_console
from seiflow.cli.inputs import check_structure_files
from seiflow.core.errors import SeiflowError
from seiflow.core.config import load_config
from seiflow.workflows.learn import LearnConfig, LearnReport, resume, run_learn
from seiflow.workflows.methods import fit_sentence
from seiflow.workflows.run import Run


def _print(report: LearnReport) -> None:
    last, run = report.iterations[-1], Run(report.run_dir)
    errors = "; ".join(
        f"held-out {name} RMSE {e['energy']['rmse']:.3g} meV/atom, {e['forces']['rmse']:.3g} eV/Å"
        for name, e in (("rattled", last.test_errors), ("MD", last.test_md_errors)) if e)
    out_console().print(
        f"{report.status} after {len(report.iterations)} iteration(s): {last.labels_total} "
        f"labels; {errors}; model {run.final_model()}; report {run.report_md}")
    if report.fit.get("converged") is not True:
        out_console().print(fit_sentence(report.fit))


def learn(
    config: Path = typer.Argument(..., help="YAML/TOML active-learning config"),
    run_dir: Path | None = typer.Option(None, "--run-dir", help="override run_dir"),
    progress: bool = typer.Option(True, "--progress/--no-progress"),
) -> None:
    """Build, label, fit, explore, select, label, refit — until MD runs clean."""
    cfg = load_config(config, LearnConfig)
    if run_dir is not None:
        cfg.run_dir = run_dir
    check_structure_files(p.file for p in cfg.structures.phases)
    with Run(cfg.run_dir).lock("seiflow learn"):
        report = run_learn(cfg, progress=progress, config_file=str(config))
    _print(report)


def resume_cmd(
    run_dir: Path = typer.Argument(..., help="run folder of `seiflow learn`"),
    max_iterations: int | None = typer.Option(None, "--max-iterations",
                                              help="raise the iteration limit"),
    label_budget: int | None = typer.Option(None, "--label-budget",
                                            help="raise the label budget"),
    progress: bool = typer.Option(True, "--progress/--no-progress"),
) -> None:
    """Continue an interrupted `seiflow learn` run where it stopped (or, with a higher limit,
    one that reached its limit)."""
    if not run_dir.is_dir():
        raise SeiflowError(f"{run_dir}: no such run folder")
    with Run(run_dir).lock("seiflow resume"):
        report = resume(run_dir, progress=progress, max_iterations=max_iterations,
                        label_budget=label_budget)
    _print(report)

"""Entry point: the Typer app, logging set-up and one-line errors for user mistakes."""

from __future__ import annotations

import os

# one OpenMP thread per process unless the user says otherwise: seiflow parallelises over
# structures (engine workers), and GPAW must run with OMP_NUM_THREADS=1
os.environ.setdefault("OMP_NUM_THREADS", "1")

import logging  # noqa: E402
import sys  # noqa: E402

import typer  # noqa: E402
from rich.console import Console  # noqa: E402
from rich.logging import RichHandler  # noqa: E402

from seiflow import __version__  # noqa: E402
from seiflow.cli import (  # noqa: E402
    analyze,
    build,
    data,
    label,
    learn,
    md,
    phases,
    train,
    validate,
)
from seiflow.core.errors import SeiflowError  # noqa: E402

app = typer.Typer(
    name="seiflow",
    help="SEI structures -> reference labels -> ML interatomic potentials -> properties.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
app.command("phases")(phases.phases)
app.command("build")(build.build)
app.command("label")(label.label)
app.command("train")(train.train)
app.command("evaluate")(train.evaluate_cmd)
app.command("grade")(train.grade)
app.command("learn")(learn.learn)
app.command("resume")(learn.resume_cmd)
app.command("md")(md.md)
app.command("md-batched")(md.md_batched)
app.command("validate")(validate.validate)
app.add_typer(data.app, name="data")
app.add_typer(analyze.app, name="analyze")

err_console = Console(stderr=True)


@app.callback()
def _root(verbose: bool = typer.Option(False, "--verbose", "-v", help="debug logging")) -> None:
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(message)s",
        handlers=[RichHandler(console=err_console, show_path=False, rich_tracebacks=False)],
        force=True,
    )
    for noisy in ("matplotlib", "PIL", "pymatgen", "parsl"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


@app.command("version")
def version() -> None:
    """Print the seiflow version."""
    typer.echo(__version__)


def main() -> None:
    try:
        app()
    except SeiflowError as exc:
        err_console.print(f"[bold red]error:[/] {exc}", highlight=False, soft_wrap=True)
        sys.exit(2)
    except KeyboardInterrupt:
        err_console.print("interrupted; rerun the same command to resume", highlight=False)
        sys.exit(130)

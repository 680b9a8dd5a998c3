"""Entry point: the Typer app, logging set-up and one-line errors for user mistakes."""

from __future__ import annotations

import logging
import sys

import typer
from rich.console import Console
from rich.logging import RichHandler

from seiflow import __version__
from seiflow.cli import build, phases
from seiflow.core.errors import SeiflowError

app = typer.Typer(
    name="seiflow",
    help="SEI structures -> reference labels -> ML interatomic potentials -> properties.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
app.command("phases")(phases.phases)
app.command("build")(build.build)

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

"""Entry point: the Typer app, logging set-up, and the guard that turns every error into one
line on stderr and an exit code (seiflow.cli.guard)."""

from __future__ import annotations

import os

# one OpenMP thread per process unless the user says otherwise: seiflow parallelises over
# structures (engine workers), and GPAW must run with OMP_NUM_THREADS=1
os.environ.setdefault("OMP_NUM_THREADS", "1")
# a PostgreSQL label store on a host that drops packets fails after 10 s instead of hanging
os.environ.setdefault("PGCONNECT_TIMEOUT", "10")

import inspect  # noqa: E402
import logging  # noqa: E402
import sys  # noqa: E402
from collections.abc import Sequence  # noqa: E402

import typer  # noqa: E402
from rich.console import Console  # noqa: E402
from rich.logging import RichHandler  # noqa: E402

from seiflow import __version__  # noqa: E402
from seiflow.cli import (  # noqa: E402
    analyze,
    build,
    data,
    guard,
    label,
    lammps,
    learn,
    md,
    phases,
    properties,
    train,
    validate,
)

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
for _name in ("singlepoint", "geomopt", "eos", "elastic", "phonons", "neb"):
    app.command(_name)(getattr(properties, _name))
app.command("export-lammps")(lammps.export_lammps_cmd)
app.command("import-mtp", context_settings=lammps.IMPORT_SETTINGS)(lammps.import_mtp_cmd)
app.add_typer(data.app, name="data")
app.add_typer(analyze.app, name="analyze")

err_console = Console(stderr=True)


def _print_version(value: bool) -> None:
    if value:
        typer.echo(__version__)
        raise typer.Exit()


@app.callback()
def _root(verbose: bool = typer.Option(False, "--verbose", "-v", help="debug logging"),
          _version: bool = typer.Option(False, "--version", callback=_print_version,
                                        is_eager=True, help="print the version and exit")
          ) -> None:
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(message)s",
        handlers=[RichHandler(console=err_console, show_path=False, rich_tracebacks=False)],
        force=True,
    )
    for noisy in ("matplotlib", "PIL", "pymatgen", "parsl"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    # a missing optional font is not the user's problem (one warning per font and figure)
    logging.getLogger("matplotlib.font_manager").setLevel(logging.ERROR)


@app.command("version")
def version() -> None:
    """Print the seiflow version."""
    typer.echo(__version__)


def _one_line_summaries(typer_app: typer.Typer) -> None:
    """Each command's line in a ``--help`` list: its docstring's first paragraph on one line
    (typer keeps the docstring's line breaks there, which splits sentences mid-way)."""
    for info in typer_app.registered_commands:
        if info.short_help is None and info.callback is not None:
            doc = inspect.cleandoc(info.help or info.callback.__doc__ or "")
            info.short_help = " ".join(doc.split("\n\n")[0].split()) or None
    for group in typer_app.registered_groups:
        _one_line_summaries(group.typer_instance)


_one_line_summaries(app)


def run(argv: Sequence[str] | None = None) -> int:
    """Run ``seiflow ARGV`` in this process and return its exit code: never raises, writes at
    most one ``error: ...`` line on stderr (see seiflow.cli.guard and docs/reliability.md)."""
    return guard.run_guarded(app, sys.argv[1:] if argv is None else argv)


def main() -> None:
    sys.exit(run())

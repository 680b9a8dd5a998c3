"""One progress-bar style for every long loop (tasks, fits, MD)."""

from __future__ import annotations

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn


def progress_bar(enabled: bool, *extra: TextColumn) -> Progress:
    """A rich progress bar: description, bar, done/total, extra columns, elapsed time."""
    return Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                    *extra, TimeElapsedColumn(), disable=not enabled)

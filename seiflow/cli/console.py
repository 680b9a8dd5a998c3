"""The consoles the commands print to. On a terminal rich uses its width; into a file or a
pipe (a batch job's log) rich would assume 80 columns and cut table numbers, so output there
gets a wide fixed width instead."""

from __future__ import annotations

import sys

from rich.console import Console

PIPE_WIDTH = 200  # columns when stdout is not a terminal


def out_console() -> Console:
    return Console(width=None if sys.stdout.isatty() else PIPE_WIDTH, soft_wrap=True)

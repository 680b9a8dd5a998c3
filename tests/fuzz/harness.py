"""Running `seiflow` in-process on fuzzed inputs and judging the outcome.

``invoke(argv)`` calls the real entry point's guarded runner (``seiflow.cli.app.run``: what
``main()`` runs), capturing stdout and stderr, with a wall-clock alarm so that a hang fails the
case instead of the suite. ``install_probes`` replaces the work of every config-consuming
command (the workflow call after the config is loaded and checked) with a probe that exits
with :data:`PROBE_EXIT`: a config that the command accepts is seen to be accepted, and no
structure is built, no model fitted, no MD run.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import signal
import time
from dataclasses import dataclass
from pathlib import Path

import typer

PROBE_EXIT = 99  # the command accepted its input and was about to start work
CASE_TIMEOUT_S = 20
TRACEBACK = "Traceback (most recent call last)"
# (cli module, name of the workflow function it calls after checking its inputs)
PROBED = (("build", "run_build"), ("learn", "run_learn"), ("md", "run_md_config"),
          ("validate", "run_validate"), ("train", "run_train"), ("label", "run_label"))


class CaseTimeout(BaseException):
    """A case ran past CASE_TIMEOUT_S (a BaseException: no `except Exception` swallows it)."""


@dataclass
class Outcome:
    argv: list[str]
    code: int
    stdout: str
    stderr: str
    seconds: float


def _alarm(signum, frame):
    raise CaseTimeout()


def invoke(argv: list[str], timeout_s: int = CASE_TIMEOUT_S) -> Outcome:
    """``seiflow ARGV`` in this process; a hang past ``timeout_s`` raises CaseTimeout."""
    from seiflow.cli.app import run

    out, err = io.StringIO(), io.StringIO()
    old = signal.signal(signal.SIGALRM, _alarm)
    signal.alarm(timeout_s)
    start = time.perf_counter()
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = run(argv)
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)
    return Outcome(list(argv), code, out.getvalue(), err.getvalue(), time.perf_counter() - start)


def _probe(*args, **kwargs):
    raise typer.Exit(PROBE_EXIT)


def install_probes(monkeypatch) -> None:
    """Replace the work of every config-consuming command with the probe."""
    import importlib

    for module, name in PROBED:
        monkeypatch.setattr(importlib.import_module(f"seiflow.cli.{module}"), name, _probe)


def store_state(path: Path) -> str | None:
    """Digest of a store file and of every file beside it that shares its name (lock,
    summaries, records): None if there is no such file."""
    if not path.exists():
        return None
    h = hashlib.sha256()
    for p in sorted(path.parent.glob(path.name + "*")):
        h.update(p.name.encode() + b"\0" + p.read_bytes())
    return h.hexdigest()


def problems(out: Outcome, must_reject: bool, allow_accept: bool = True) -> list[str]:
    """What is wrong with an outcome: a traceback, an exit code other than 2 (or the probe's
    when the input may be valid), more than one line on stderr for an error."""
    found = []
    text = out.stdout + out.stderr
    if TRACEBACK in text:
        found.append("traceback in the output")
    accepted = out.code == PROBE_EXIT and allow_accept and not must_reject
    if out.code != 2 and not accepted:
        found.append(f"exit code {out.code}")
    if out.code == 2:
        lines = [line for line in out.stderr.splitlines() if line.strip()]
        if len(lines) != 1 or not lines[0].startswith("error: "):
            found.append(f"stderr is not one 'error: ...' line ({len(lines)} lines)")
        if "internal error" in out.stderr:
            found.append("internal error reported as bad input")
    return found


def report(failures: list[tuple[str, Outcome, list[str]]], limit: int = 15) -> str:
    """A readable summary of failed cases (the first ``limit``)."""
    rows = []
    for what, out, why in failures[:limit]:
        tail = (out.stderr.strip().splitlines() or [""])[-1][:300]
        rows.append(f"- {what}\n    seiflow {' '.join(out.argv)} -> {out.code}: "
                    f"{', '.join(why)}\n    stderr: {tail}")
    more = f"\n... and {len(failures) - limit} more" if len(failures) > limit else ""
    return f"{len(failures)} failing case(s):\n" + "\n".join(rows) + more


DEFAULT_TOTAL = 1200  # generated cases over the whole fuzz suite in CI


def cases_for(share: float) -> int:
    """This test's part of the suite's cases: SEIFLOW_FUZZ_CASES (default DEFAULT_TOTAL, e.g.
    10000 for a nightly run) times ``share`` (the shares of the tests add up to 1)."""
    total = int(os.environ.get("SEIFLOW_FUZZ_CASES", DEFAULT_TOTAL))
    return max(1, round(total * share))


def record(test: str, counts: dict) -> None:
    """Append this test's counts as one JSON line to $SEIFLOW_FUZZ_RECORD, if set."""
    path = os.environ.get("SEIFLOW_FUZZ_RECORD")
    if path:
        with open(path, "a", encoding="utf-8") as fh:
            fh.write(json.dumps({"test": test, **counts}) + "\n")

"""Every benchmark script still imports: the benchmarks run by hand, outside the suite, so a
moved or renamed seiflow name would otherwise be found only when someone reruns them."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[1] / "benchmarks"


@pytest.mark.parametrize("path", sorted(BENCH.glob("*.py")), ids=lambda p: p.stem)
def test_benchmark_imports(path: Path, monkeypatch) -> None:
    monkeypatch.syspath_prepend(str(BENCH))
    spec = importlib.util.spec_from_file_location(f"_bench_{path.stem}", path)
    module = importlib.util.module_from_spec(spec)
    try:
        spec.loader.exec_module(module)  # runs module level only: main() is behind __main__
    finally:
        sys.modules.pop(spec.name, None)
    assert module.__doc__, f"{path.name} says what it measures in its docstring"

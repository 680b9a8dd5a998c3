"""The layout is a picture of the architecture: a layer imports only the layers below it
(../shared/design.md). This test reads every module's imports."""

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "seiflow"
# top to bottom, as in design.md
LAYERS = ["cli", "workflows", "execution", "active", "md", "analysis", "report", "potentials",
          "reference", "structures", "data", "core"]


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("seiflow."):
            out.add(node.module.split(".")[1])
        elif isinstance(node, ast.Import):
            out |= {a.name.split(".")[1] for a in node.names if a.name.startswith("seiflow.")}
    return out


@pytest.mark.parametrize("layer", [p.name for p in PACKAGE.iterdir()
                                   if p.is_dir() and p.name in LAYERS])
def test_layer_imports_only_lower_layers(layer):
    rank = LAYERS.index(layer)
    allowed = set(LAYERS[rank:])
    for path in (PACKAGE / layer).rglob("*.py"):
        bad = _imports(path) - allowed
        assert not bad, f"{path.relative_to(PACKAGE)} imports higher layer(s) {sorted(bad)}"


MAX_FUNCTION_LINES, MAX_MODULE_LINES = 60, 500


def test_small_functions_and_modules():
    """No function over 60 lines (signature and docstring included), no module over 500."""
    too_long = []
    for path in PACKAGE.rglob("*.py"):
        source = path.read_text()
        if len(source.splitlines()) > MAX_MODULE_LINES:
            too_long.append(f"{path.relative_to(PACKAGE)}: {len(source.splitlines())} lines")
        for node in ast.walk(ast.parse(source)):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                n = node.end_lineno - node.lineno + 1
                if n > MAX_FUNCTION_LINES:
                    too_long.append(f"{path.relative_to(PACKAGE)}:{node.name}: {n} lines")
    assert not too_long, "split these: " + "; ".join(sorted(too_long))

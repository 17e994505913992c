"""The layers import downwards only: common -> cohorts -> features -> models -> training ->
serving -> abscopal (the CLI and the Python API). Read from the source, so a new upward import
fails here before it makes an import cycle."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LAYERS = ["common", "cohorts", "features", "models", "training", "serving", "abscopal"]


def _imported_layers(path: Path) -> set[tuple[str, int]]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        names = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module]
        for name in names:
            top = name.split(".")[0]
            if top in LAYERS:
                found.add((top, node.lineno))
    return found


@pytest.mark.parametrize("layer", LAYERS)
def test_no_upward_import(layer):
    rank = LAYERS.index(layer)
    upward = [f"{path.relative_to(ROOT)}:{line} imports {top}"
              for path in sorted((ROOT / layer).rglob("*.py"))
              for top, line in _imported_layers(path) if LAYERS.index(top) > rank]
    assert not upward, "\n".join(upward)


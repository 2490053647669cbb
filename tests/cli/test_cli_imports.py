"""The CLI's import rule: it goes through the public API, the fleet and the simulator only."""

from __future__ import annotations

import ast
from pathlib import Path

import zoho_convert.cli

PACKAGE = Path(zoho_convert.cli.__file__).parent
ALLOWED = ("zoho_convert.cli", "zoho_convert.fleet", "zoho_convert.simulator")


def _imports(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
    return {name for name in found if name.split(".")[0] == "zoho_convert"}


def test_cli_imports_only_public_exports_the_fleet_and_the_simulator() -> None:
    """No CLI module reaches into zoho_convert.api or zoho_convert.bulk (or the client module):
    only ``zoho_convert`` itself, ``zoho_convert.fleet`` and ``zoho_convert.simulator``."""
    seen = set()
    for path in sorted(PACKAGE.glob("*.py")):
        for name in _imports(path):
            seen.add(name)
            allowed = name == "zoho_convert" or any(
                name == prefix or name.startswith(prefix + ".") for prefix in ALLOWED
            )
            assert allowed, f"{path.name} imports {name}"
    assert {"zoho_convert", "zoho_convert.fleet"} <= seen

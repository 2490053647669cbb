"""The fleet package's import rules (its ``__init__`` docstring): checked, not hoped for."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import zoho_convert.fleet

PACKAGE = Path(zoho_convert.fleet.__file__).parent
#: The fleet implements protocols of the endpoint surface and the bulk engine: it may import
#: them; they never import the fleet (tests/test_layers.py checks the other direction).
ALLOWED_PREFIXES = ("zoho_convert.api.", "zoho_convert.bulk.")
REDIS_MODULES = {"redis.py", "redis_limiter.py", "redis_tokens.py", "redis_ledger.py", "link.py"}


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
    return found


def test_fleet_imports_only_the_layers_below_it() -> None:
    """No fleet module imports the client facade, the CLI or the simulator."""
    for path in sorted(PACKAGE.glob("*.py")):
        ours = {m for m in _imports(path) if m.startswith("zoho_convert.")}
        outside = {m for m in ours if not m.startswith("zoho_convert.fleet")}
        assert all(m.startswith(ALLOWED_PREFIXES) for m in outside), (path.name, outside)


def test_only_the_redis_modules_import_redis() -> None:
    """redis-py is optional: only the Redis modules import it, and importing the package
    does not."""
    for path in sorted(PACKAGE.glob("*.py")):
        uses_redis = any(m == "redis" or m.startswith("redis.") for m in _imports(path))
        assert uses_redis == (path.name in REDIS_MODULES), path.name
    probe = "import sys, zoho_convert.fleet; print('redis' in sys.modules)"
    out = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True
    ).stdout
    assert out.strip() == "False"

"""The package's layout rules, checked: each layer imports only what its ``__init__`` says.

``api`` (the endpoint surface) imports nothing above it; ``bulk`` reaches the endpoints only;
``fleet`` implements their protocols; the CLI goes through the public surface (``zoho_convert``)
and the simulator; the simulator imports nothing from the client side, nor anything it.
No module is longer than ~400 lines, and no import cycle exists.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "zoho_convert"
MAX_LINES = 400

#: layer -> the layers (package prefixes) its modules may import (besides themselves).
ALLOWED: dict[str, tuple[str, ...]] = {
    "zoho_convert.api": (),
    "zoho_convert.bulk": ("zoho_convert.api",),
    "zoho_convert.fleet": ("zoho_convert.api", "zoho_convert.bulk"),
    "zoho_convert.simulator": (),
    "zoho_convert.cli": ("zoho_convert", "zoho_convert.simulator", "zoho_convert.fleet"),
    "zoho_convert.settings": ("zoho_convert.api",),
    "zoho_convert.client": (
        "zoho_convert.api",
        "zoho_convert.bulk",
        "zoho_convert.fleet",
        "zoho_convert.settings",
    ),
    "zoho_convert.testing": ("zoho_convert", "zoho_convert.simulator"),
    "zoho_convert.__main__": ("zoho_convert.cli",),
    "zoho_convert": (
        "zoho_convert.api",
        "zoho_convert.bulk",
        "zoho_convert.client",
        "zoho_convert.settings",
    ),
}


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _modules() -> dict[str, Path]:
    return {_module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def _imports(path: Path, name: str) -> set[str]:
    """Every zoho_convert module ``path`` imports (``from . import x`` resolved)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.startswith("zoho_convert"))
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            if base.startswith("zoho_convert"):
                found.add(base)
    return found


def _layer(name: str) -> str:
    """The most specific layer in ``ALLOWED`` that ``name`` belongs to."""
    candidates = [layer for layer in ALLOWED if name == layer or name.startswith(layer + ".")]
    return max(candidates, key=len)


def _allowed(importer: str, imported: str) -> bool:
    layer = _layer(importer)
    if imported == layer or (imported.startswith(layer + ".") and layer != "zoho_convert"):
        return True
    for allowed in ALLOWED[layer]:
        if allowed == "zoho_convert":
            if imported == "zoho_convert":  # the public surface itself
                return True
        elif imported == allowed or imported.startswith(allowed + "."):
            return True
    return False


@pytest.mark.parametrize("name", sorted(_modules()))
def test_module_imports_only_the_layers_below_it(name: str) -> None:
    """A module imports only its own layer and the ones its layer may (see ``ALLOWED``)."""
    path = _modules()[name]
    wrong = sorted(m for m in _imports(path, name) if not _allowed(name, m))
    assert not wrong, f"{name} ({_layer(name)}) imports {wrong}"


def test_nothing_imports_the_cli_but_the_entry_point() -> None:
    """The CLI is a leaf: only ``python -m zoho_convert`` and the CLI itself import it."""
    for name, path in _modules().items():
        if name.startswith("zoho_convert.cli") or name == "zoho_convert.__main__":
            continue
        imported = _imports(path, name)
        assert not any(m == "zoho_convert.cli" or m.startswith("zoho_convert.cli.")
                       for m in imported), name


@pytest.mark.parametrize("name", sorted(_modules()))
def test_no_module_is_longer_than_the_limit(name: str) -> None:
    """Small modules with one job each: none above ~400 lines."""
    lines = len(_modules()[name].read_text(encoding="utf-8").splitlines())
    assert lines <= MAX_LINES, f"{name} has {lines} lines"


def test_no_import_cycle() -> None:
    """The module import graph (type-checking imports included) has no cycle."""
    modules = _modules()
    graph = {name: {m for m in _imports(path, name) if m in modules and m != name}
             for name, path in modules.items()}
    # A package's __init__ importing its own modules is how a package exports: not a cycle.
    graph = {name: {m for m in edges if not name.startswith(m + ".")}
             for name, edges in graph.items()}
    visiting: list[str] = []
    done: set[str] = set()

    def visit(node: str) -> None:
        if node in done:
            return
        assert node not in visiting, " -> ".join([*visiting[visiting.index(node):], node])
        visiting.append(node)
        for nxt in sorted(graph[node]):
            visit(nxt)
        visiting.pop()
        done.add(node)

    for name in sorted(graph):
        visit(name)


def test_each_subpackage_says_what_it_owns_and_may_import() -> None:
    """Every subpackage's ``__init__`` docstring states what it owns and what it may import."""
    for init in sorted(PACKAGE.glob("*/__init__.py")):
        doc = ast.get_docstring(ast.parse(init.read_text(encoding="utf-8"))) or ""
        assert "May import" in doc or "imports nothing" in doc, init.parent.name

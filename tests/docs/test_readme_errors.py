"""The README's error tree is the package's: every ZohoConvertError subclass, each under its
real parent, and no class that does not exist."""

from __future__ import annotations

import re

from readme import block_under

import zoho_convert
import zoho_convert.fleet

_NODE = re.compile(r"^(?P<indent>[│ ]*)[├└]── (?P<name>\w+)")


def readme_tree() -> dict[str, str]:
    """Each class the README's tree shows under ZohoConvertError, with its parent."""
    block = block_under("Errors", "")
    parents: dict[str, str] = {}
    stack = ["ZohoConvertError"]
    for line in block.code.splitlines():
        match = _NODE.match(line)
        if match is None:
            if line.strip() and not line.startswith(("│", " ")):
                stack = [line.split()[0]]  # a new root (ValueError, TypeError)
            continue
        depth = len(match.group("indent")) // 4
        del stack[depth + 1 :]
        if stack[0] == "ZohoConvertError":
            parents[match.group("name")] = stack[depth]
        stack.append(match.group("name"))
    return parents


def real_tree() -> dict[str, str]:
    parents: dict[str, str] = {}
    todo = [zoho_convert.ZohoConvertError]
    while todo:
        cls = todo.pop()
        for sub in cls.__subclasses__():
            parents[sub.__name__] = cls.__name__
            todo.append(sub)
    return parents


def test_the_readme_error_tree_is_the_real_one() -> None:
    """Adding, removing or moving an error class without updating the README fails here."""
    assert readme_tree() == real_tree()


def test_every_error_in_the_tree_is_exported() -> None:
    """Each class the README names can be imported from zoho_convert (the fleet's from
    zoho_convert.fleet, as the tree says)."""
    for name in readme_tree():
        assert hasattr(zoho_convert.fleet if name.startswith("Fleet") else zoho_convert, name)

"""Module names on the command line: matched case-insensitively, with a "did you mean".

``quotes``, ``Sales Orders`` and ``sales-orders`` all name Zoho's ``Quotes`` and
``Sales_Orders``: the CLI sends the API name Zoho expects.
"""

from __future__ import annotations

import difflib
from collections.abc import Sequence

from zoho_convert import INVENTORY_CONVERSIONS, check_inventory_conversion
from zoho_convert.cli.errors import UsageError

__all__ = [
    "LEAD_TARGETS",
    "MASS_SOURCES",
    "MODULES",
    "TARGETS",
    "canonical_module",
    "check_pair",
]

#: Modules ``convert`` and ``status`` work on.
MASS_SOURCES = (*INVENTORY_CONVERSIONS, "Leads")
#: Modules a lead converts into.
LEAD_TARGETS = ("Contacts", "Accounts", "Deals")
#: Every target of an inventory conversion.
TARGETS = tuple(dict.fromkeys(t for targets in INVENTORY_CONVERSIONS.values() for t in targets))
#: Every module the CLI names.
MODULES = tuple(dict.fromkeys((*MASS_SOURCES, *TARGETS, *LEAD_TARGETS)))


def _key(name: str) -> str:
    return "".join(ch for ch in name.lower() if ch.isalnum())


def canonical_module(name: str, choices: Sequence[str], *, verb: str = "convert") -> str:
    """The API name among ``choices`` that ``name`` spells, ignoring case, spaces, - and _.

    Raises:
        UsageError: ``name`` matches none; the message suggests the closest choice.
    """
    wanted = _key(name)
    for choice in choices:
        if _key(choice) == wanted:
            return choice
    keys = {_key(choice): choice for choice in choices}
    close = difflib.get_close_matches(wanted, list(keys), n=1, cutoff=0.6)
    hint = f" (did you mean {keys[close[0]]}?)" if close else ""
    raise UsageError(f"unknown module {name!r}{hint}: {verb} one of {', '.join(choices)}")


def check_pair(module: str, to: str | None) -> tuple[str, str | None]:
    """Canonical ``(module, to)`` for ``convert``: ``to`` is required except for Leads.

    Raises:
        UsageError: an unknown module, a missing ``--to``, or a pair Zoho cannot convert.
    """
    module = canonical_module(module, MASS_SOURCES)
    if module == "Leads":
        if to is not None and canonical_module(to, MODULES) != "Contacts":
            raise UsageError("Leads convert to Contacts, Accounts and Deals: leave out --to")
        return module, None
    if to is None:
        raise UsageError(
            f"--to is required for {module}: "
            f"{' or '.join(INVENTORY_CONVERSIONS[module])}"
        )
    try:
        target = canonical_module(to, MODULES)
    except UsageError:
        targets = INVENTORY_CONVERSIONS[module]
        target = canonical_module(to, targets, verb=f"{module} converts to")
    try:
        check_inventory_conversion(module, target)
    except ValueError as error:
        raise UsageError(str(error)) from None
    return module, target

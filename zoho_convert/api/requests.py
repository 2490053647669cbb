"""The bodies the client sends, checked before anything is sent.

Every request body is built here from the caller's arguments, after checking them: a mistake
raises ``ValueError``/``TypeError`` before any request leaves. Where Zoho's v7 pages and its
OpenAPI v8 specs disagree on a shape, the body satisfies both (a comment names them).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any

from zoho_convert.api.errors import ResponseValidationError
from zoho_convert.api.ids import MAX_IDS_PER_CALL, normalize_id, normalize_ids
from zoho_convert.api.lead_wire import deal_to_wire, module_ref_to_wire
from zoho_convert.api.models import (
    DealDetails,
    LeadConversion,
    ModuleRef,
    check_related_module,
    deal_or_none,
)

__all__ = [
    "LEAD_TARGETS",
    "as_processed",
    "check_lead_options",
    "convert_to",
    "inventory_mass_body",
    "leads_mass_body",
    "processed_if_unreadable",
]

#: The modules a lead converts into (and may carry tags over to, or move attachments to).
LEAD_TARGETS = ("Contacts", "Accounts", "Deals")


def _mass_body(
    ids: Iterable[str | int], assign_to: str | int | None, related_modules: Sequence[ModuleRef]
) -> dict[str, Any]:
    body: dict[str, Any] = {"ids": normalize_ids(ids, limit=MAX_IDS_PER_CALL)}
    if assign_to is not None:
        body["assign_to"] = {"id": normalize_id(assign_to, what="assign_to user id")}
    if related_modules:
        body["related_modules"] = [
            {"api_name": ref.api_name, "id": ref.id}
            for ref in map(check_related_module, related_modules)
        ]
    return body


def inventory_mass_body(
    ids: Iterable[str | int],
    *,
    carry_over_tags: bool,
    assign_to: str | int | None,
    related_modules: Sequence[ModuleRef],
) -> dict[str, Any]:
    """The body of a mass inventory convert, but its target (see ``convert_to``): checked
    before the target's id is looked up, so bad input sends no request at all."""
    if not isinstance(carry_over_tags, bool):
        raise TypeError(f"carry_over_tags must be True or False, not {carry_over_tags!r}")
    return _mass_body(ids, assign_to, related_modules)


def convert_to(target: ModuleRef, carry_over_tags: bool | None = None) -> list[dict[str, Any]]:
    """``convert_to``: the one target module, with its id (and ``carry_over_tags``, which a
    mass convert requires and a single convert does without)."""
    entry: dict[str, Any] = {"module": {"id": target.id, "api_name": target.api_name}}
    if carry_over_tags is not None:
        entry["carry_over_tags"] = carry_over_tags
    return [entry]


def leads_mass_body(
    ids: Iterable[str | int],
    *,
    deals: DealDetails | Mapping[str, Any] | None,
    assign_to: str | int | None,
    carry_over_tags: Sequence[str],
    related_modules: Sequence[ModuleRef],
    move_attachments_to: str | None,
    module_ids: Mapping[str, str],
) -> dict[str, Any]:
    """The body of a Leads mass convert; module references carry the ids ``module_ids`` knows."""
    for name in carry_over_tags:
        if name not in LEAD_TARGETS:
            raise ValueError(f"carry_over_tags: {name!r} is not one of {LEAD_TARGETS}")
    if move_attachments_to is not None and move_attachments_to not in LEAD_TARGETS:
        raise ValueError(f"move_attachments_to must be one of {LEAD_TARGETS}")
    deal = deal_or_none(deals)
    body = _mass_body(ids, assign_to, related_modules)
    if carry_over_tags:
        # Objects, not names: the OpenAPI v8 spec types carry_over_tags as [{api_name, id}]
        # and the official SDK sends [{"api_name": "Contacts"}].
        body["carry_over_tags"] = [module_ref_to_wire(name, module_ids) for name in carry_over_tags]
    if deal is not None:
        body["Deals"] = deal_to_wire(deal)
    if move_attachments_to is not None:
        body["move_attachments_to"] = module_ref_to_wire(move_attachments_to, module_ids)
    return body


def check_lead_options(options: object) -> LeadConversion:
    """Check Convert Lead options before anything is sent.

    Raises:
        TypeError: ``options`` is not a ``LeadConversion``.
        ValueError: an id or a module name is invalid.
    """
    if not isinstance(options, LeadConversion):
        raise TypeError(f"options must be a LeadConversion, not {type(options).__name__}")
    for name in ("accounts", "contacts", "assign_to"):
        value = getattr(options, name)
        if value is not None:
            normalize_id(value, what=f"{name} id")
    if options.move_attachments_to not in (None, *LEAD_TARGETS):
        raise ValueError(f"move_attachments_to must be one of {LEAD_TARGETS}")
    return options


@contextlib.contextmanager
def processed_if_unreadable() -> Iterator[None]:
    """Mark a reply we cannot read as possibly processed: Zoho answered a POST with success,
    so it may have converted the records even though we cannot tell what it did."""
    try:
        yield
    except ResponseValidationError as error:
        raise as_processed(error) from None


def as_processed(error: ResponseValidationError) -> ResponseValidationError:
    """``error``, marked as possibly processed (see ``processed_if_unreadable``)."""
    return ResponseValidationError(error.message, field=error.field, maybe_processed=True)

"""Convert Lead options on the wire: written as Zoho's bodies, read from Zoho's own JSON.

Where the Convert Lead page (v7) and Zoho's OpenAPI v8 spec disagree on a shape, what is sent
satisfies both (a comment names them).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from zoho_convert.api.models import CarryOverTags, DealDetails, LeadConversion

__all__ = [
    "deal_to_wire",
    "lead_conversion_from_wire",
    "lead_conversion_to_wire",
    "module_ref_to_wire",
]

_LEAD_MODULES = ("Contacts", "Accounts", "Deals")


def deal_to_wire(deal: DealDetails) -> dict[str, Any]:
    """Write a deal as Zoho's Deals object (mandatory keys plus any extra fields)."""
    wire: dict[str, Any] = dict(deal.extra)
    wire.update(
        Deal_Name=deal.deal_name,
        Closing_Date=deal.closing_date,
        Stage=deal.stage,
        Pipeline=deal.pipeline if isinstance(deal.pipeline, str) else dict(deal.pipeline),
    )
    if deal.amount is not None:
        wire["Amount"] = deal.amount
    if deal.contact_role is not None:
        wire["Contact_Role"] = deal.contact_role
    return wire


def module_ref_to_wire(api_name: str, module_ids: Mapping[str, str]) -> dict[str, str]:
    """``{"api_name": ...}`` plus the module's ``id`` when it is known.

    The Convert Lead page shows ``move_attachments_to`` as ``{"api_name"}``; Zoho's OpenAPI v8
    spec gives ``{api_name, id}`` (id required in one spec): send the id whenever the Modules API
    cache has it, so the body satisfies both.
    """
    ref = {"api_name": api_name}
    module_id = module_ids.get(api_name)
    if module_id is not None:
        ref["id"] = module_id
    return ref


def _unstructure_tags(tags: CarryOverTags) -> dict[str, list[str]]:
    wire: dict[str, list[str]] = {}
    for module, names in (
        ("Contacts", tags.contacts),
        ("Accounts", tags.accounts),
        ("Deals", tags.deals),
    ):
        if names:
            wire[module] = list(names)
    return wire


def _unstructure_lead_conversion(
    options: LeadConversion, module_ids: Mapping[str, str] | None = None
) -> dict[str, Any]:
    wire: dict[str, Any] = {}
    for key in ("overwrite", "notify_lead_owner", "notify_new_entity_owner"):
        value = getattr(options, key)
        if value is not None:
            wire[key] = value
    if options.move_attachments_to is not None:
        wire["move_attachments_to"] = module_ref_to_wire(
            options.move_attachments_to, module_ids or {}
        )
    if options.accounts is not None:
        wire["Accounts"] = {"id": options.accounts}
    if options.contacts is not None:
        wire["Contacts"] = {"id": options.contacts}
    if options.assign_to is not None:
        wire["assign_to"] = {"id": options.assign_to}
    if options.deals is not None:
        wire["Deals"] = deal_to_wire(options.deals)
    if options.carry_over_tags is not None:
        wire["carry_over_tags"] = _unstructure_tags(options.carry_over_tags)
    if options.add_to_existing_record:
        # The OpenAPI v8 spec allows only true (the official SDK treats it as a one-value
        # choice); the Convert Lead page does not name it: sent only to ask for it.
        wire["add_to_existing_record"] = True
    return wire


def _input_error(message: str, key: str) -> ValueError:
    return ValueError(f"lead conversion options: {key}: {message}")


def _input_id(value: object, key: str) -> str:
    if isinstance(value, Mapping):
        value = value.get("id")
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise _input_error("expected an object with an 'id'", key)
    return str(value)


def _input_bool(value: object, key: str) -> bool:
    if not isinstance(value, bool):
        raise _input_error(f"expected true or false, got {value!r}", key)
    return value


def _input_deal(value: object) -> DealDetails:
    try:
        return DealDetails.from_json(value)
    except ValueError as error:
        raise ValueError(f"lead conversion options: {error}") from None


def _input_tags(value: object) -> CarryOverTags:
    if not isinstance(value, Mapping):
        raise _input_error("expected an object", "carry_over_tags")
    tags: dict[str, tuple[str, ...]] = {}
    for module in _LEAD_MODULES:
        names = value.get(module, [])
        if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
            raise _input_error("expected a list of tag names", f"carry_over_tags.{module}")
        tags[module.lower()] = tuple(names)
    return CarryOverTags(**tags)


def lead_conversion_from_wire(payload: object) -> LeadConversion:
    """Read lead-conversion options written in Zoho's own JSON (the Convert Lead page's input).

    Accepts the bare object or the ``{"data": [ {...} ]}`` envelope.

    Raises:
        ValueError: the options are malformed; the message names the key.
    """
    if isinstance(payload, Mapping) and "data" in payload:
        rows = payload["data"]
        if not isinstance(rows, list) or len(rows) != 1:
            raise _input_error("expected exactly one object", "data")
        payload = rows[0]
    if not isinstance(payload, Mapping):
        raise _input_error("expected a JSON object", "<options>")
    known = {
        "overwrite",
        "notify_lead_owner",
        "notify_new_entity_owner",
        "move_attachments_to",
        "Accounts",
        "Contacts",
        "assign_to",
        "Deals",
        "carry_over_tags",
        "add_to_existing_record",
    }
    unknown = sorted(set(payload) - known)
    if unknown:
        raise _input_error(f"unknown key(s); expected some of {sorted(known)}", ", ".join(unknown))
    move = payload.get("move_attachments_to")
    if isinstance(move, Mapping):
        move = move.get("api_name")
    if move is not None and move not in _LEAD_MODULES:
        raise _input_error(f"expected one of {', '.join(_LEAD_MODULES)}", "move_attachments_to")
    flags = {
        key: _input_bool(payload[key], key)
        for key in (
            "overwrite",
            "notify_lead_owner",
            "notify_new_entity_owner",
            "add_to_existing_record",
        )
        if key in payload
    }
    return LeadConversion(
        **flags,
        move_attachments_to=move,
        accounts=_input_id(payload["Accounts"], "Accounts") if "Accounts" in payload else None,
        contacts=_input_id(payload["Contacts"], "Contacts") if "Contacts" in payload else None,
        assign_to=_input_id(payload["assign_to"], "assign_to") if "assign_to" in payload else None,
        deals=_input_deal(payload["Deals"]) if "Deals" in payload else None,
        carry_over_tags=(
            _input_tags(payload["carry_over_tags"]) if "carry_over_tags" in payload else None
        ),
    )


def lead_conversion_to_wire(
    options: LeadConversion | None, module_ids: Mapping[str, str] | None = None
) -> dict[str, Any]:
    """Write lead-conversion options as the body of a Convert Lead request.

    Args:
        options: the options (None: Zoho's defaults).
        module_ids: module ids known from the Modules API, added to module references.
    """
    row = {} if options is None else _unstructure_lead_conversion(options, module_ids)
    return {"data": [row]}



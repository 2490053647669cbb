"""Strict request-body validation per Zoho's convert pages, raising ``ApiError``.

Liberal where Zoho is (ids and module ids as strings or JSON numbers), strict everywhere else.
"""

from __future__ import annotations

import json
from typing import Any

import attrs

from .catalog import (
    INVENTORY_CONVERSIONS,
    LEAD_TARGETS,
    MODULES_BY_NAME,
    RELATED_MODULES,
    find_module,
    module_id,
)
from .config import ErrorDetails
from .errors import ApiError

MAX_IDS = 50
_MAX_ID = 10**19


def parse_json_body(raw: bytes) -> Any:
    """Decode a JSON request body; anything unreadable is INVALID_DATA."""
    if not raw.strip():
        raise ApiError(
            "INVALID_DATA", {"expected_data_type": "jsonobject"}, message="body is empty"
        )
    try:
        return json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise ApiError("INVALID_DATA", {"expected_data_type": "jsonobject"}) from None


def parse_id(value: object) -> int | None:
    """A record/module/job id given as a JSON number or a numeric string (<= 19 digits)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value if 0 < value < _MAX_ID else None
    if isinstance(value, str) and value.isascii() and value.isdigit() and len(value) <= 19:
        parsed = int(value)
        return parsed if parsed > 0 else None
    return None


def _missing(api_name: str, json_path: str) -> ApiError:
    return ApiError("MANDATORY_NOT_FOUND", {"api_name": api_name, "json_path": json_path})


def _bad_type(api_name: str, json_path: str, expected: str) -> ApiError:
    return ApiError(
        "INVALID_DATA",
        {"api_name": api_name, "json_path": json_path, "expected_data_type": expected},
    )


def ambiguity(api_name: str, json_path: str, style: ErrorDetails) -> ApiError:
    """AMBIGUITY_DURING_PROCESSING for a module id that is not that module's.

    The OAS nests the culprit in ``ambiguity_due_to``; older replies name it flat.
    """
    culprit = {"api_name": api_name, "json_path": json_path}
    details = {"ambiguity_due_to": [culprit]} if style == "oas" else culprit
    return ApiError("AMBIGUITY_DURING_PROCESSING", details)


def _expected_missing(api_name: str, json_path: str, style: ErrorDetails) -> ApiError:
    culprit = {"api_name": api_name, "json_path": json_path}
    details = {"expected_fields": [culprit]} if style == "oas" else culprit
    return ApiError("EXPECTED_FIELD_MISSING", details)


def _require_object(body: Any, json_path: str = "$") -> dict[str, Any]:
    if not isinstance(body, dict):
        raise _bad_type("body", json_path, "jsonobject")
    return body


@attrs.frozen
class InventoryTarget:
    """The validated ``convert_to[0]`` of an inventory conversion."""

    api_name: str
    carry_over_tags: bool


def validate_convert_to(
    parent: str,
    body: dict[str, Any],
    org_prefix: str,
    *,
    path: str,
    tags_required: bool,
    style: ErrorDetails = "oas",
) -> InventoryTarget:
    """Validate ``convert_to`` of an inventory (mass) convert.

    Args:
        parent: Parent module (Quotes or Sales_Orders).
        body: The object holding ``convert_to``.
        org_prefix: The org's id prefix (module ids derive from it).
        path: JSON path of ``body`` for error details.
        tags_required: ``carry_over_tags`` is mandatory for mass convert only.
        style: Shape of error details (``SimulatorConfig.error_details``).
    """
    convert_to = body.get("convert_to")
    ct_path = f"{path}.convert_to"
    if convert_to is None or convert_to == []:
        raise _expected_missing("convert_to", ct_path, style)
    if not isinstance(convert_to, list):
        raise _bad_type("convert_to", ct_path, "jsonarray")
    if len(convert_to) > 1:
        raise ApiError(
            "INVALID_DATA",
            {"api_name": "convert_to", "json_path": ct_path, "maximum_length": 1},
            message="Multiple modules have been used for conversion in the request body",
        )
    entry = convert_to[0]
    entry_path = f"{ct_path}[0]"
    if not isinstance(entry, dict):
        raise _bad_type("convert_to", entry_path, "jsonobject")
    module = entry.get("module")
    if module is None:
        raise _missing("module", f"{entry_path}.module")
    if not isinstance(module, dict):
        raise _bad_type("module", f"{entry_path}.module", "jsonobject")
    tags = entry.get("carry_over_tags")
    if tags is None and tags_required:
        raise _missing("carry_over_tags", f"{entry_path}.carry_over_tags")
    if tags is not None and not isinstance(tags, bool):
        raise _bad_type("carry_over_tags", f"{entry_path}.carry_over_tags", "boolean")
    mod_path = f"{entry_path}.module"
    api_name, raw_id = module.get("api_name"), module.get("id")
    if api_name is None:
        raise _missing("api_name", f"{mod_path}.api_name")
    if not isinstance(api_name, str):
        raise _bad_type("api_name", f"{mod_path}.api_name", "string")
    if raw_id is None:
        raise _missing("id", f"{mod_path}.id")
    target_id = parse_id(raw_id)
    if target_id is None:
        raise _bad_type("id", f"{mod_path}.id", "long")
    target = find_module(api_name)
    if target is None or target.api_name not in INVENTORY_CONVERSIONS.get(parent, frozenset()):
        raise ApiError(
            "INVALID_DATA",
            {"api_name": "api_name", "json_path": f"{mod_path}.api_name"},
            message="The provided parent or child module name is invalid",
        )
    if str(target_id) != module_id(org_prefix, target):
        raise ambiguity("id", f"{mod_path}.id", style)
    return InventoryTarget(target.api_name, bool(tags))


def validate_ids(body: dict[str, Any]) -> list[int]:
    """Validate a mass call's ``ids`` (1..50 ids, each a string or a number)."""
    ids = body.get("ids")
    if ids is None or ids == []:
        raise _missing("ids", "$.ids")
    if not isinstance(ids, list):
        raise _bad_type("ids", "$.ids", "jsonarray")
    if len(ids) > MAX_IDS:
        raise ApiError(
            "LIMIT_EXCEEDED",
            # No "limit_due_to" list: the official SDK (7.0.0) maps it to a class it lacks
            # (ApinameJsonpathDetails) and crashes, so flat keys are what works in the wild.
            {"api_name": "ids", "json_path": "$.ids", "limit": MAX_IDS},
        )
    parsed = []
    for index, raw in enumerate(ids):
        rid = parse_id(raw)
        if rid is None:
            raise ApiError(
                "INVALID_DATA",
                {"api_name": "ids", "json_path": f"$.ids[{index}]", "expected_data_type": "long"},
            )
        parsed.append(rid)
    return parsed


def validate_optional_ref(body: dict[str, Any], key: str, path: str) -> None:
    """An optional ``{"id": ...}`` object such as ``assign_to``."""
    value = body.get(key)
    if value is None:
        return
    if not isinstance(value, dict):
        raise _bad_type(key, f"{path}.{key}", "jsonobject")
    if "id" in value and parse_id(value["id"]) is None:
        raise _bad_type("id", f"{path}.{key}.id", "long")


def validate_related_modules(
    body: dict[str, Any], org_prefix: str, style: ErrorDetails = "oas"
) -> None:
    """Optional ``related_modules``: ``[{"api_name": Tasks|Calls|Events, "id": module id}]``."""
    related = body.get("related_modules")
    if related is None:
        return
    if not isinstance(related, list):
        raise _bad_type("related_modules", "$.related_modules", "jsonarray")
    for index, entry in enumerate(related):
        path = f"$.related_modules[{index}]"
        if not isinstance(entry, dict):
            raise _bad_type("related_modules", path, "jsonobject")
        name = entry.get("api_name")
        info = find_module(name) if isinstance(name, str) else None
        if info is None or info.api_name not in RELATED_MODULES:
            raise _bad_type("api_name", f"{path}.api_name", "string")
        if "id" in entry:
            given = parse_id(entry["id"])
            if given is None:
                raise _bad_type("id", f"{path}.id", "long")
            if str(given) != module_id(org_prefix, info):
                raise ambiguity("id", f"{path}.id", style)


def data_entry(body: Any) -> dict[str, Any]:
    """The single ``data[0]`` object of a ``{"data":[{...}]}`` body."""
    obj = _require_object(body)
    data = obj.get("data")
    if data is None or data == []:
        raise _missing("data", "$.data")
    if not isinstance(data, list):
        raise _bad_type("data", "$.data", "jsonarray")
    if len(data) > 1:
        raise ApiError("LIMIT_EXCEEDED", {"api_name": "data", "json_path": "$.data", "limit": 1})
    entry = data[0]
    if not isinstance(entry, dict):
        raise _bad_type("data", "$.data[0]", "jsonobject")
    return entry


_DEAL_MANDATORY = ("Deal_Name", "Closing_Date", "Stage", "Pipeline")


def validate_deals(entry: dict[str, Any], path: str) -> dict[str, Any] | None:
    """Optional ``Deals`` of a lead conversion.

    Deal_Name, Closing_Date, Stage and Pipeline are mandatory; Pipeline is a picklist value
    (a string) or, as the v8 record API also writes it, an object ``{"name", "id"}``.
    """
    deals = entry.get("Deals")
    if deals is None:
        return None
    if not isinstance(deals, dict):
        raise _bad_type("Deals", f"{path}.Deals", "jsonobject")
    for key in _DEAL_MANDATORY:
        if deals.get(key) in (None, "", {}):
            raise _missing(key, f"{path}.Deals.{key}")
    pipeline = deals["Pipeline"]
    if isinstance(pipeline, dict):
        name, pid = pipeline.get("name"), pipeline.get("id")
        if not (isinstance(name, str) and name) and parse_id(pid) is None:
            raise _bad_type("Pipeline", f"{path}.Deals.Pipeline", "picklist")
    elif not isinstance(pipeline, str):
        raise _bad_type("Pipeline", f"{path}.Deals.Pipeline", "picklist")
    return deals


def _lead_target(
    value: Any,
    key: str,
    json_path: str,
    org_prefix: str,
    style: ErrorDetails,
    *,
    name_required: bool,
) -> None:
    """A ``{"api_name": Contacts|Accounts|Deals, "id"?: that module's id}`` object.

    With ``name_required`` False an object with only ``id`` is accepted when the id is one of
    the three modules' ids (the OAS marks ``id`` required for lead convert's
    ``move_attachments_to``; the seed page sends ``api_name`` alone).
    """
    if not isinstance(value, dict):
        raise _bad_type(key, json_path, "jsonobject")
    name, raw_id = value.get("api_name"), value.get("id")
    if name is None and (name_required or raw_id is None):
        raise _missing("api_name", f"{json_path}.api_name")
    info = None
    if name is not None:
        info = MODULES_BY_NAME.get(name) if isinstance(name, str) else None
        if info is None or info.api_name not in LEAD_TARGETS:
            raise ApiError(
                "INVALID_DATA",
                {"api_name": "api_name", "json_path": f"{json_path}.api_name",
                 "supported_values": sorted(LEAD_TARGETS)},
            )
    if raw_id is None:
        return
    given = parse_id(raw_id)
    if given is None:
        raise _bad_type("id", f"{json_path}.id", "long")
    allowed = [info] if info is not None else [MODULES_BY_NAME[m] for m in LEAD_TARGETS]
    if str(given) not in {module_id(org_prefix, m) for m in allowed}:
        raise ambiguity("id", f"{json_path}.id", style)


def validate_lead_convert(
    entry: dict[str, Any], org_prefix: str, style: ErrorDetails = "oas"
) -> dict[str, Any] | None:
    """Validate ``data[0]`` of a lead convert; returns its ``Deals`` object if any."""
    path = "$.data[0]"
    for key in ("overwrite", "notify_lead_owner", "notify_new_entity_owner",
                "add_to_existing_record"):
        if key in entry and not isinstance(entry[key], bool):
            raise _bad_type(key, f"{path}.{key}", "boolean")
    for key in ("Accounts", "Contacts", "assign_to"):
        validate_optional_ref(entry, key, path)
    move = entry.get("move_attachments_to")
    if move is not None:
        _lead_target(move, "move_attachments_to", f"{path}.move_attachments_to", org_prefix,
                     style, name_required=False)
    tags = entry.get("carry_over_tags")
    if tags is not None and not isinstance(tags, dict):
        raise _bad_type("carry_over_tags", f"{path}.carry_over_tags", "jsonobject")
    return validate_deals(entry, path)


def validate_lead_mass_convert(
    body: dict[str, Any], org_prefix: str, style: ErrorDetails = "oas"
) -> list[int]:
    """Validate a lead mass convert body; returns the ids.

    ``carry_over_tags`` is an array of objects ``{"api_name", "id"?}`` (the OAS; the official
    SDK sends ``[{"api_name": "Contacts"}]``): an array of plain module names is refused.
    """
    ids = validate_ids(body)
    validate_deals(body, "$")
    validate_optional_ref(body, "assign_to", "$")
    validate_related_modules(body, org_prefix, style)
    tags = body.get("carry_over_tags")
    if tags is not None:
        if not isinstance(tags, list):
            raise _bad_type("carry_over_tags", "$.carry_over_tags", "jsonarray")
        for index, tag in enumerate(tags):
            _lead_target(tag, "carry_over_tags", f"$.carry_over_tags[{index}]", org_prefix,
                         style, name_required=True)
    move = body.get("move_attachments_to")
    if move is not None:
        _lead_target(move, "move_attachments_to", "$.move_attachments_to", org_prefix, style,
                     name_required=False)
    return ids


def require_object(body: Any) -> dict[str, Any]:
    """The body must be a JSON object."""
    return _require_object(body)

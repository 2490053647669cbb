"""The wire format: the one cattrs converter and the functions that read and write Zoho JSON.

Everything that knows a Zoho key name lives here: the odd spellings (``not_converted_Count``,
the capitalised keys of the Leads status API), the ``data`` envelope, error bodies inside
``data[0]``. A reply that does not have the expected shape raises ``ResponseValidationError``
naming the field, never a bare ``KeyError`` or ``TypeError``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import cattrs

from zoho_convert.errors import ResponseValidationError
from zoho_convert.models import (
    CarryOverTags,
    ConvertedRecord,
    DealDetails,
    JobState,
    JobStatus,
    LeadConversion,
    LeadConversionResult,
    ModuleRef,
)

__all__ = [
    "ErrorBody",
    "converter",
    "deal_to_wire",
    "error_in_reply",
    "lead_conversion_from_wire",
    "lead_conversion_to_wire",
    "module_ref_to_wire",
    "parse_converted_record",
    "parse_job_id",
    "parse_job_status",
    "parse_lead_result",
    "parse_modules",
]

_COUNT_FIELDS = ("total_count", "converted_count", "not_converted_count", "failed_count")
_LEAD_MODULES = ("Contacts", "Accounts", "Deals")


def _expect_mapping(value: object, field: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise ResponseValidationError(
            f"expected a JSON object, got {type(value).__name__}", field=field
        )
    return value


def _first_row(payload: object, field: str = "data") -> Mapping[str, Any]:
    """Return ``payload["data"][0]``, checking every step."""
    body = _expect_mapping(payload, "<body>")
    rows = body.get(field)
    if not isinstance(rows, Sequence) or isinstance(rows, (str, bytes)):
        raise ResponseValidationError("expected a JSON array", field=field)
    if not rows:
        raise ResponseValidationError("the array is empty", field=field)
    return _expect_mapping(rows[0], f"{field}[0]")


# No count or id is a 64-bit long's size or more. Checking first also keeps int() and str() off
# numbers past Python's 4300-digit conversion limit, which raise a bare ValueError.
_MAX_DIGITS = 19


def _oversized(value: object) -> bool:
    if isinstance(value, int) and not isinstance(value, bool):
        return value.bit_length() > 64
    return isinstance(value, str) and len(value) > _MAX_DIGITS and value.isdigit()


def _count(value: object, field: str) -> int:
    # bool is an int in Python but never a count; numeric strings do occur in Zoho replies.
    if _oversized(value):
        raise ResponseValidationError("expected a count, got an oversized number", field=field)
    if isinstance(value, int) and not isinstance(value, bool):
        number = value
    elif isinstance(value, str) and value.isascii() and value.isdigit():
        number = int(value)
    else:
        raise ResponseValidationError(
            f"expected a non-negative integer, got {value!r}", field=field
        )
    if number < 0:
        raise ResponseValidationError(f"expected a non-negative integer, got {number}", field=field)
    return number


def _id(value: object, field: str) -> str:
    if _oversized(value):
        raise ResponseValidationError("expected an id, got an oversized number", field=field)
    if isinstance(value, bool) or not isinstance(value, (str, int)) or value in ("", 0):
        raise ResponseValidationError(f"expected an id, got {value!r}", field=field)
    return str(value)


def _optional_count(value: object, field: str) -> int | None:
    # Zoho's specs and its SDK make every status field optional; null means "not known yet".
    return None if value is None else _count(value, field)


def _structure_job_status(row: object, _: type) -> JobStatus:
    # Keys are matched case-insensitively: the inventory API writes total_count (and one page
    # not_converted_Count); the Leads API writes Total_Count and Status.
    lowered = {str(key).lower(): value for key, value in _expect_mapping(row, "<row>").items()}
    if "status" not in lowered:
        raise ResponseValidationError("missing job status", field="status")
    counts = {name: _optional_count(lowered.get(name), name) for name in _COUNT_FIELDS}
    # Counts that are missing or do not add up are kept as reported (JobStatus.counts_consistent
    # says so): refusing them would make the poller ask again for a reply that will not change.
    return JobStatus(state=JobState.parse(lowered["status"]), **counts)


def _structure_converted(value: object, module: str, field: str) -> ConvertedRecord:
    record = _expect_mapping(value, field)
    name = record.get("name")
    return ConvertedRecord(
        module=module,
        id=_id(record.get("id"), f"{field}.id"),
        name=name if isinstance(name, str) else None,
    )


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
    if options.add_to_existing_record is not None:
        wire["add_to_existing_record"] = options.add_to_existing_record
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


def _make_converter() -> cattrs.Converter:
    conv = cattrs.Converter()
    conv.register_structure_hook(JobState, lambda value, _: JobState.parse(value))
    conv.register_unstructure_hook(JobState, lambda state: state.value)
    conv.register_structure_hook(JobStatus, _structure_job_status)
    conv.register_unstructure_hook(LeadConversion, _unstructure_lead_conversion)
    return conv


#: The project's one cattrs converter (built once: building converters is not free).
converter = _make_converter()


def parse_job_status(payload: object) -> JobStatus:
    """Read a mass-convert status reply.

    Two documented readings: the v7 page wraps the counts in ``{"data": [ {...} ]}``, Zoho's
    OpenAPI v8 spec documents a bare object; both are accepted, with inventory (``total_count``)
    or Leads (``Total_Count``) key spellings.
    """
    body = _expect_mapping(payload, "<body>")
    if "data" in body:
        try:
            return converter.structure(_first_row(body), JobStatus)
        except ResponseValidationError as error:
            raise _within(error, "data[0]") from None
    return converter.structure(body, JobStatus)


def _within(error: ResponseValidationError, prefix: str) -> ResponseValidationError:
    """The same error, its field named from the reply's root (``data[0].status``)."""
    field = error.field
    if field is None or field == "<row>":
        field = prefix
    elif not field.startswith("data"):
        field = f"{prefix}.{field}"
    return ResponseValidationError(error.message, field=field)


def parse_job_id(payload: object) -> str:
    """Read the job id from a mass-convert reply (a bare object, not wrapped in ``data``)."""
    body = _expect_mapping(payload, "<body>")
    details = _expect_mapping(body.get("details"), "details")
    return _id(details.get("job_id"), "details.job_id")


def parse_converted_record(payload: object, to: str) -> ConvertedRecord:
    """Read a single inventory convert reply: the record created in module ``to``."""
    details = _expect_mapping(_first_row(payload).get("details"), "data[0].details")
    if to not in details:
        raise ResponseValidationError(
            f"the reply names no {to} record", field=f"data[0].details.{to}"
        )
    return _structure_converted(details[to], to, f"data[0].details.{to}")


def parse_lead_result(payload: object) -> LeadConversionResult:
    """Read a lead convert reply: the contact, account and deal it created or linked."""
    details = _expect_mapping(_first_row(payload).get("details"), "data[0].details")
    found = {
        module.lower(): _structure_converted(details[module], module, f"data[0].details.{module}")
        for module in _LEAD_MODULES
        if details.get(module) is not None
    }
    if not found:
        raise ResponseValidationError(
            "the reply names no converted record", field="data[0].details"
        )
    return LeadConversionResult(**found)


def parse_modules(payload: object) -> list[ModuleRef]:
    """Read a Modules API reply into (api_name, id) pairs."""
    body = _expect_mapping(payload, "<body>")
    rows = body.get("modules")
    if not isinstance(rows, list):
        raise ResponseValidationError("expected a JSON array", field="modules")
    refs = []
    for index, row in enumerate(rows):
        module = _expect_mapping(row, f"modules[{index}]")
        name = module.get("api_name")
        if not isinstance(name, str) or not name:
            raise ResponseValidationError(
                "expected a module name", field=f"modules[{index}].api_name"
            )
        refs.append(ModuleRef(api_name=name, id=_id(module.get("id"), f"modules[{index}].id")))
    return refs


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


class ErrorBody:
    """An error found in a reply: Zoho's code, message and details."""

    __slots__ = ("code", "details", "message")

    def __init__(self, code: str, message: str, details: Mapping[str, Any]) -> None:
        self.code = code
        self.message = message
        self.details = details


def _error_from(obj: Mapping[str, Any]) -> ErrorBody | None:
    if obj.get("status") != "error" or not isinstance(obj.get("code"), str):
        return None
    details = obj.get("details")
    message = obj.get("message")
    return ErrorBody(
        code=obj["code"],
        message=message if isinstance(message, str) else "",
        details=details if isinstance(details, Mapping) else {},
    )


def error_in_reply(payload: object) -> ErrorBody | None:
    """Find a Zoho error in a reply: at the top level, or inside ``data[0]``."""
    if not isinstance(payload, Mapping):
        return None
    found = _error_from(payload)
    if found is not None:
        return found
    rows = payload.get("data")
    if isinstance(rows, list) and rows and isinstance(rows[0], Mapping):
        return _error_from(rows[0])
    return None

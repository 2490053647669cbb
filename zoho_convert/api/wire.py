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

from zoho_convert.api.errors import ResponseValidationError
from zoho_convert.api.ids import normalize_job_id
from zoho_convert.api.models import (
    ConvertedRecord,
    JobState,
    JobStatus,
    LeadConversionResult,
    ModuleRef,
)
from zoho_convert.api.state_words import read_state_words

__all__ = [
    "EndedStateError",
    "ErrorBody",
    "converter",
    "error_in_reply",
    "mixed_outcomes",
    "parse_converted_record",
    "parse_job_id",
    "parse_job_status",
    "parse_lead_result",
    "parse_modules",
]

_COUNT_FIELDS = ("total_count", "converted_count", "not_converted_count", "failed_count")
_LEAD_MODULES = ("Contacts", "Accounts", "Deals")


def _expect_mapping(value: object, field: str) -> Mapping[str, Any]:
    if type(value) is dict:  # what json.loads makes: spares the ABC check on every reply
        return value
    if not isinstance(value, Mapping):
        raise ResponseValidationError(
            f"expected a JSON object, got {type(value).__name__}", field=field
        )
    return value


def _first_row(payload: object, field: str = "data") -> Mapping[str, Any]:
    """Return ``payload["data"][0]``, checking every step."""
    body = _expect_mapping(payload, "<body>")
    rows = body.get(field)
    if type(rows) is list:
        pass  # what json.loads makes
    elif not isinstance(rows, Sequence) or isinstance(rows, (str, bytes)):
        raise ResponseValidationError("expected a JSON array", field=field)
    if not rows:
        raise ResponseValidationError("the array is empty", field=field)
    return _expect_mapping(rows[0], f"{field}[0]")


# No count or id is a 64-bit long's size or more. Checking first also keeps int() and str() off
# numbers past Python's 4300-digit conversion limit, which raise a bare ValueError.
_MAX_DIGITS = 19
_LONG_BOUND = 2**64  # a count at or past this is oversized (``_oversized``)


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
    elif isinstance(value, float) and value.is_integer() and abs(value) < _LONG_BOUND:
        # JSON has one number type: 10.0 is the integer 10 (JSON Schema's "integer" too).
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
    if type(value) is int and 0 <= value < _LONG_BOUND:
        return value  # the usual count: no further checks to make
    return None if value is None else _count(value, field)


def _structure_job_status(row: object, _: type) -> JobStatus:
    # Keys are matched case-insensitively: the inventory API writes total_count (and one page
    # not_converted_Count); the Leads API writes Total_Count and Status.
    lowered = {str(key).lower(): value for key, value in _expect_mapping(row, "<row>").items()}
    if "status" not in lowered and "state" in lowered:
        lowered["status"] = lowered["state"]  # our own JSON (journal, report) names it state
    if "status" not in lowered:
        raise ResponseValidationError("missing job status", field="status")
    counts = {name: _optional_count(lowered.get(name), name) for name in _COUNT_FIELDS}
    # Counts that are missing or do not add up are kept as reported (JobStatus.counts_consistent
    # says so): refusing them would make the poller ask again for a reply that will not change.
    try:
        return JobStatus(state=_state(lowered["status"]), **counts)
    except EndedStateError:
        if all(count is None for count in counts.values()):
            # No count at all: no job's status row (``{"status": "success"}``, a record API's
            # envelope, a reply cut to its keys), so no sign that the job ended: unusable,
            # polled again, never given up on for it.
            raise ResponseValidationError(
                f"a reply without counts, its status {lowered['status']!r}", field="status"
            ) from None
        raise


class EndedStateError(ResponseValidationError):
    """A job state of another name whose words say the job ended (CANCELLED, ABORTED,
    EXPIRED): what it did cannot be read from it, and it will not change again. Polling such
    a job on learns nothing (a run stops polling it: ``bulk.job_watch``)."""


def _state(text: object) -> JobState:
    state = JobState.from_wire(text)
    if state is not None:
        return state
    reading = read_state_words(text) if isinstance(text, str) else None
    # A state of another name (the OAS types the status as a bare string) is read by its
    # words: one that says the job ended cannot be used (what it did is unknown); one that
    # says it runs is IN PROGRESS; any other (QUEUED, NOT_STARTED) is SCHEDULED, not started.
    # Either way its job holds back what was sent after it, as one polled does (read as
    # unusable, a running job held nothing back, and a lost job sent after it went again
    # while it ran); and only a job read as started bears on ``bulk.queued_jobs``.
    if reading == "running":
        return JobState.IN_PROGRESS
    if reading == "not started":
        return JobState.SCHEDULED
    if reading == "ended":
        raise EndedStateError(f"job ended in a state of unknown outcome: {text!r}", field="status")
    raise ResponseValidationError(f"unknown job status {text!r}", field="status")


def _structure_converted(value: object, module: str, field: str) -> ConvertedRecord:
    record = _expect_mapping(value, field)
    name = record.get("name")
    return ConvertedRecord(
        module=module,
        id=_id(record.get("id"), f"{field}.id"),
        name=name if isinstance(name, str) else None,
    )


def _make_converter() -> cattrs.Converter:
    # Tuples become JSON arrays (lists), so outputs compare equal to what json.loads gives.
    conv = cattrs.Converter(unstruct_collection_overrides={tuple: list})
    conv.register_structure_hook(JobState, lambda value, _: _state(value))
    conv.register_unstructure_hook(JobState, lambda state: state.value)
    conv.register_structure_hook(JobStatus, _structure_job_status)
    return conv


#: The project's one cattrs converter (built once: building converters is not free).
converter = _make_converter()


def parse_job_status(payload: object, job_id: str | None = None) -> JobStatus:
    """Read a mass-convert status reply (of job ``job_id``, when given).

    Two documented readings: the v7 page wraps the counts in ``{"data": [ {...} ]}``, Zoho's
    OpenAPI v8 spec documents a bare object; both are accepted, with inventory (``total_count``)
    or Leads (``Total_Count``) key spellings.

    No page names the job in its row, but a row may (a ``job_id`` key): one naming another
    job is not this job's status, and of several rows only one naming this job, or rows all
    alike, can be read as its status (a cache or a proxy mixing replies); any other reply
    raises ``ResponseValidationError`` (the poller asks again later).
    """
    body = _expect_mapping(payload, "<body>")
    # The converter's JobStatus hook, called directly: the converter's dispatch costs as much
    # again, once per poll.
    if "data" in body:
        row = _first_row(body)
        rows = body["data"]
        if job_id is not None and (len(rows) > 1 or _names_job(row) is not None):
            row = _own_row(rows, job_id)
        try:
            return _structure_job_status(row, JobStatus)
        except ResponseValidationError as error:
            raise _within(error, "data[0]") from None
    if job_id is not None and _names_job(body) is not None:
        body = _own_row([body], job_id)
    return _structure_job_status(body, JobStatus)


def _names_job(row: object) -> str | None:
    """The job id a status row names (``job_id``, any case), if any."""
    if not isinstance(row, Mapping):
        return None
    for key, value in row.items():
        # (bool is an int, never an id; a value of another type names no job either)
        named = isinstance(value, (str, int)) and not isinstance(value, bool)
        if named and str(key).lower() == "job_id":
            return str(value)
    return None


def _same_job(named: str | None, job_id: str) -> bool:
    # As written, or the same number (a JSON number has no leading zeros to keep).
    if named is None or named == job_id:
        return named is not None
    return named.isdigit() and job_id.isdigit() and int(named) == int(job_id)


def _own_row(rows: Sequence[object], job_id: str) -> Mapping[str, Any]:
    """The row of ``rows`` that is job ``job_id``'s status: the one naming it, or the one
    naming no job when no row names another, or any of rows all alike."""
    named = [_names_job(row) for row in rows]
    mine = [row for row, name in zip(rows, named, strict=True) if _same_job(name, job_id)]
    if not mine and all(name is None for name in named):
        mine = list(rows)
    if not mine:
        others = sorted({name for name in named if name is not None})
        raise ResponseValidationError(
            f"the status names job {', '.join(others)}, not job {job_id}", field="data"
        )
    if any(row != mine[0] for row in mine):
        raise ResponseValidationError(
            f"{len(mine)} different status rows for job {job_id}", field="data"
        )
    return _expect_mapping(mine[0], "data[0]")


def _within(error: ResponseValidationError, prefix: str) -> ResponseValidationError:
    """The same error, its field named from the reply's root (``data[0].status``)."""
    field = error.field
    if field is None or field == "<row>":
        field = prefix
    elif not field.startswith("data"):
        field = f"{prefix}.{field}"
    return type(error)(error.message, field=field)  # (an ``EndedStateError`` stays one)


def parse_job_id(payload: object) -> str:
    """Read the job id from a mass-convert reply: a bare object (the OAS and the page), or
    that object as the one row of ``data`` (the envelope of Zoho's record APIs). Any id
    ``ids.normalize_job_id`` takes, as written (not only digits: see ``job_id_problem``)."""
    body = _expect_mapping(payload, "<body>")
    rows = body.get("data")
    if "details" not in body and type(rows) is list and len(rows) == 1:
        row = _expect_mapping(rows[0], "data[0]")
        details = _expect_mapping(row.get("details"), "data[0].details")
        return _job_id(details.get("job_id"), "data[0].details.job_id")
    details = _expect_mapping(body.get("details"), "details")
    return _job_id(details.get("job_id"), "details.job_id")


def _job_id(value: object, field: str) -> str:
    try:
        return normalize_job_id(value)
    except (TypeError, ValueError) as problem:
        # (Not the value itself in the message: it may be 100 characters of anything.)
        raise ResponseValidationError(f"expected a job id: {problem}"[:200], field=field) from None


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


def mixed_outcomes(payload: object) -> bool:
    """Whether a reply's ``data`` rows mix errors with rows that are not errors (the
    multi-status shape of Zoho's record APIs, HTTP 207): Zoho acted on part of the request,
    so the error of one row is no refusal of the whole of it."""
    if not isinstance(payload, Mapping):
        return False
    rows = payload.get("data")
    if not isinstance(rows, list) or len(rows) < 2:
        return False
    states = {row.get("status") == "error" for row in rows if isinstance(row, Mapping)}
    return states == {True, False}

"""How ``convert_many`` reads a failed submission: isolate offenders, retry, or stop the run.

Pure functions of an exception (and of the batch it concerned), so the engine's decisions
can be read, and tested, apart from its bookkeeping. Internal to ``zoho_convert``.

Zoho names the record it refused in several documented ways, all read here: the OpenAPI v8
specs give ``{"resource_path_index": N}`` (the index of the id in ``ids``); the v7 pages and
older replies give ``{"json_path": "$.ids[N]"}`` or ``{"id": "..."}``; some replies list
``ids``. An error whose details point anywhere else in the body (``$.convert_to[0].module.id``
inside ``ambiguity_due_to``, ``expected_fields``, ...) concerns the request, not an id: the
same request would fail for every batch, so the run stops instead of bisecting.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from typing import Any, Literal

from zoho_convert.api.errors import (
    APIError,
    InvalidRequestError,
    PermissionDeniedError,
    RateLimitError,
    ResponseValidationError,
    ServerError,
    TransportError,
)

__all__ = [
    "ISOLATE_CODES",
    "REQUEST_LEVEL",
    "about_the_call",
    "answered_by_zoho",
    "error_text",
    "is_isolatable",
    "locate_offenders",
    "maybe_processed",
    "proxy_page",
    "retry_later",
    "unlocated_invalid_data",
    "unreadable_refusal",
]

# Codes with which Zoho refuses a whole batch because of some of its ids: isolate them (by the
# details' hint, or by bisecting when there is none).
ISOLATE_CODES = frozenset(
    {
        "INVALID_DATA",
        "ID_ALREADY_CONVERTED",
        "NOT_APPROVED",
        "NOT_REVIEWED",
        "RECORD_LOCKED",
        "DUPLICATE_DATA",
    }
)
# Codes that concern an id only when the details point at one (a NO_PERMISSION with
# ``resource_path_index``; an AMBIGUITY_DURING_PROCESSING is otherwise about a module id).
_ISOLATE_IF_LOCATED = frozenset({"NO_PERMISSION", "AMBIGUITY_DURING_PROCESSING"})

# Keys of the request body other than ``ids``: an error about one of them is about the request.
_REQUEST_KEYS = frozenset(
    {
        "convert_to",
        "module",
        "assign_to",
        "related_modules",
        "carry_over_tags",
        "Deals",
        "move_attachments_to",
        "apply_assignment_threshold",
        "portal_user_type",
    }
)
# Nested lists of ``{api_name, json_path}`` objects in error details (OpenAPI v8 specs).
_NESTED = ("ambiguity_due_to", "expected_fields", "limit_due_to", "dependee")

_JSON_PATH_ID = re.compile(r"^\$\.ids\[(\d+)\]")

#: ``locate_offenders``' answer for an error that concerns the request, not its ids.
REQUEST_LEVEL: Literal["request"] = "request"


def error_text(error: BaseException) -> str:
    """The reason given in the report for ids an error kept from converting."""
    # Our errors never carry credentials (errors.py builds messages from replies only).
    return f"{type(error).__name__}: {error}"


def maybe_processed(error: BaseException) -> bool:
    """Whether a failed submission may nevertheless have been processed by Zoho."""
    if isinstance(error, (TransportError, APIError, ResponseValidationError)):
        return bool(error.maybe_processed)
    return False


def latest_start(error: BaseException, at: float) -> float:
    """When a job that a failed submission may have started began, at the latest: when its
    error came back ``at``; for a request that timed out, as long again after that (the
    server never answered, so it may still be working on the request: a job it starts after
    the timeout outlives a wait counted from it)."""
    if isinstance(error, TransportError) and error.timed_out_after is not None:
        return at + error.timed_out_after
    return at


def retry_later(error: BaseException) -> bool:
    """A submission that surely did nothing, after the client's retries gave up."""
    return isinstance(error, (TransportError, RateLimitError, ServerError))


def unreadable_refusal(error: BaseException) -> bool:
    """A 400 or 403 whose body was not Zoho's error (cut short, a proxy's page): refused, so
    nothing was processed, but for a reason unknown (its ids, or the request)."""
    return (
        isinstance(error, (InvalidRequestError, PermissionDeniedError))
        and error.status in (400, 403)
        and error.code == f"HTTP_{error.status}"
    )


def proxy_page(error: BaseException) -> bool:
    """A 4xx whose body was not Zoho's error at all (a proxy's or a balancer's page): not
    Zoho refusing the call. To a record's single convert, it does not say the single call
    is refused for every record (hunt round 9: one 404 page stopped the run's record
    checks, leaving the records of later settling jobs uncertain)."""
    return (
        isinstance(error, APIError)
        and 400 <= error.status < 500
        and error.code == f"HTTP_{error.status}"
    )


def _index(value: object) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.isascii() and value.isdigit():
        return int(value)
    return None


def _detail_objects(details: Mapping[str, Any]) -> Iterator[Mapping[str, Any]]:
    """The details object and every object nested in its documented lists."""
    yield details
    for key in _NESTED:
        nested = details.get(key)
        if isinstance(nested, Mapping):
            yield nested
        elif isinstance(nested, list):
            yield from (item for item in nested if isinstance(item, Mapping))


def locate_offenders(
    error: APIError, part: Sequence[str]
) -> frozenset[int] | Literal["request"] | None:
    """Find which ids of ``part`` the error refused, from its details.

    Returns:
        the indices in ``part`` of the refused ids; None when the details give no usable hint
        (the caller bisects); ``REQUEST_LEVEL`` when they point at something other than the
        ids (the error concerns the request, so the run must stop).
    """
    found: set[int] = set()
    named: set[str] = set()
    for details in _detail_objects(error.details):
        position = _index(details.get("resource_path_index"))
        if position is not None and 0 <= position < len(part):
            found.add(position)
        path = details.get("json_path")
        if isinstance(path, str):
            match = _JSON_PATH_ID.match(path)
            if match is not None:
                index = int(match.group(1))
                if index < len(part):
                    found.add(index)
            elif path.startswith("$.") and not path.startswith("$.ids"):
                return REQUEST_LEVEL  # whatever else the details name: the request is at fault
        elif details.get("api_name") in _REQUEST_KEYS:
            return REQUEST_LEVEL
        if isinstance(details.get("param_name"), str):
            return REQUEST_LEVEL  # a query parameter, never an id of the body
        ident = details.get("id")
        if isinstance(ident, (str, int)):  # ids are digit strings: a bool's "True" matches none
            named.add(str(ident))
        listed = details.get("ids")
        if isinstance(listed, list):
            named.update(str(item) for item in listed if isinstance(item, (str, int)))
    if named:
        found.update(index for index, value in enumerate(part) if value in named)
    return frozenset(found) if found else None


def is_isolatable(error: BaseException, part: Sequence[str]) -> bool:
    """Whether Zoho refused the whole batch because of some of its ids (not the request)."""
    if not isinstance(error, (InvalidRequestError, PermissionDeniedError)):
        return False
    if error.code in ISOLATE_CODES:
        return locate_offenders(error, part) != REQUEST_LEVEL
    if error.code in _ISOLATE_IF_LOCATED:
        located = locate_offenders(error, part)
        return located is not None and located != REQUEST_LEVEL
    return False


def unlocated_invalid_data(error: BaseException, part: Sequence[str]) -> bool:
    """Whether ``error`` is an INVALID_DATA whose details name no id of ``part`` (for a single
    convert, it may be about the request: not the record's fate)."""
    return (
        isinstance(error, APIError)
        and error.code == "INVALID_DATA"
        and locate_offenders(error, part) is None
    )


def about_the_call(error: BaseException, part: Sequence[str]) -> bool:
    """Whether a single convert's refusal of ``part`` (one record) may be about the call, not
    the record, so that it says nothing of the record's fate: an INVALID_DATA naming no id of
    ``part``, or a NO_PERMISSION even when it names the record (as the OAS writes id-level
    errors, and Convert Lead's 202 every error). The single convert has a permission of its
    own (a profile's *Convert*, beside *Mass Convert*): a record the lost submission
    converted, refused so, was reported rejected NO_PERMISSION (hunt round 11)."""
    if unlocated_invalid_data(error, part):
        return True
    return isinstance(error, APIError) and error.code == "NO_PERMISSION"


def answered_by_zoho(error: BaseException) -> bool:
    """Whether Zoho itself answered (not a dropped call, nor a gateway's 502/504, behind which
    a single convert may still be running)."""
    if isinstance(error, TransportError):
        return False
    return not (isinstance(error, APIError) and error.status in (502, 504))

"""How ``convert_many`` reads a failed submission: isolate offenders, retry, or stop the run.

Pure functions of an exception (and of the batch it concerned), so the engine's decisions
can be read, and tested, apart from its bookkeeping. Internal to ``zoho_convert``.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from zoho_convert.errors import (
    APIError,
    InvalidRequestError,
    RateLimitError,
    ResponseValidationError,
    ServerError,
    TransportError,
)

__all__ = [
    "ISOLATE_CODES",
    "error_text",
    "is_isolatable",
    "maybe_processed",
    "offender",
    "retry_later",
]

# Codes with which Zoho refuses a whole batch because of some of its ids: isolate them.
ISOLATE_CODES = frozenset(
    {
        "INVALID_DATA",
        "ID_ALREADY_CONVERTED",
        "NOT_APPROVED",
        "NOT_REVIEWED",
        "RECORD_LOCKED",
        "DUPLICATE_DATA",
        "AMBIGUITY_DURING_PROCESSING",
    }
)
# Zoho points at the offending id of a refused batch as ``$.ids[3]`` in ``details.json_path``.
_JSON_PATH_ID = re.compile(r"^\$\.ids\[(\d+)\]")


def error_text(error: BaseException) -> str:
    """The reason given in the report for ids an error kept from converting."""
    # Our errors never carry credentials (errors.py builds messages from replies only).
    return f"{type(error).__name__}: {error}"


def maybe_processed(error: BaseException) -> bool:
    """Whether a failed submission may nevertheless have been processed by Zoho."""
    if isinstance(error, (TransportError, APIError, ResponseValidationError)):
        return bool(error.maybe_processed)
    return False


def retry_later(error: BaseException) -> bool:
    """A submission that surely did nothing, after the client's retries gave up."""
    return isinstance(error, (TransportError, RateLimitError, ServerError))


def offender(error: APIError, part: Sequence[str]) -> int | bool | None:
    """Locate the offending id from the error's details.

    Returns:
        its index in ``part``; None when the details give no usable hint (bisect); False when
        they point at something other than the ids (the error concerns the whole run).
    """
    details = error.details
    path = details.get("json_path")
    if isinstance(path, str):
        match = _JSON_PATH_ID.match(path)
        if match is None:
            return False if path.startswith("$.") and not path.startswith("$.ids") else None
        index = int(match.group(1))
        return index if index < len(part) else None
    ident = details.get("id")
    if isinstance(ident, (str, int)) and not isinstance(ident, bool):
        text = str(ident)
        for index, value in enumerate(part):
            if value == text:
                return index
    return None


def is_isolatable(error: BaseException) -> bool:
    """Whether Zoho refused the whole batch because of some of its ids."""
    return isinstance(error, InvalidRequestError) and error.code in ISOLATE_CODES

"""Job ids as a server writes them (hunt round 8): any short printable text, sent back as is.

Zoho documents job ids as numeric strings; a server no one has seen may write them otherwise
(``job-7f3a``, ``A1B2``, ``000123``). ``normalize_job_id`` takes any of 1 to 100 printable
ASCII characters without whitespace (or a positive int) and returns it unchanged, leading
zeros kept; ``parse_job_id`` reads a submit reply's job id by the same rule, and a reply
whose job id is unreadable raises a ``ResponseValidationError`` marked processed (the batch
is settled like a lost reply: ``tests/integration/test_hunt_round8.py``).
"""

from __future__ import annotations

from typing import Any

import pytest

from zoho_convert import InvalidIdError, normalize_job_id
from zoho_convert.api.errors import ResponseValidationError
from zoho_convert.api.requests import as_processed
from zoho_convert.api.wire import parse_job_id

GOOD = {
    "digits": ("2423488000000626117", "2423488000000626117"),
    "leading zeros kept": ("000123", "000123"),
    "prefixed": ("job-7f3a", "job-7f3a"),
    "letters and digits": ("A1B2", "A1B2"),
    "punctuation": ("j+1&x=%/#?;~", "j+1&x=%/#?;~"),
    "one character": ("0", "0"),
    "100 characters": ("x" * 100, "x" * 100),
    "an int": (7340011, "7340011"),
    "a 64-bit int": (2**64, str(2**64)),
}
BAD: dict[str, tuple[Any, type[Exception]]] = {
    "empty": ("", InvalidIdError),
    "a space": ("123 456", InvalidIdError),
    "a tab": ("123\t456", InvalidIdError),
    "a newline": ("123\n", InvalidIdError),
    "101 characters": ("7" * 101, InvalidIdError),
    "not ASCII": ("jöb", InvalidIdError),
    "a control character": ("job\x00", InvalidIdError),
    "zero": (0, InvalidIdError),
    "negative": (-5, InvalidIdError),
    "101 digits": (10**100, InvalidIdError),
    "a bool": (True, TypeError),
    "a float": (7.5, TypeError),
    "None": (None, TypeError),
    "a list": ([7], TypeError),
}


@pytest.mark.parametrize(("value", "expected"), GOOD.values(), ids=GOOD.keys())
def test_a_job_id_is_kept_as_written(value: Any, expected: str) -> None:
    """A job id of any printable text is returned as written (an int in decimal), and a
    submit reply carrying it is read so, bare or inside ``data``."""
    assert normalize_job_id(value) == expected
    assert parse_job_id({"details": {"job_id": value}}) == expected
    assert parse_job_id({"data": [{"details": {"job_id": value}}]}) == expected


@pytest.mark.parametrize(("value", "error"), BAD.values(), ids=BAD.keys())
def test_an_unreadable_job_id_is_refused(value: Any, error: type[Exception]) -> None:
    """A job id that is empty, too long, has whitespace or other characters, or is no str or
    int, is refused before any request; in a submit reply, it is a validation error naming
    the field (which the client marks processed: ``api/client.py`` ``_schedule``)."""
    with pytest.raises(error):
        normalize_job_id(value)
    with pytest.raises(ResponseValidationError, match=r"details\.job_id") as raised:
        parse_job_id({"details": {"job_id": value}})
    assert as_processed(raised.value).maybe_processed
    with pytest.raises(ResponseValidationError, match=r"details\.job_id"):
        parse_job_id({"details": {}})

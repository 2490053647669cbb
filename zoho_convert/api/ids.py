"""Local validation of Zoho record ids, so bad input is refused before any request is sent."""

from __future__ import annotations

from typing import Any

__all__ = [
    "MAX_IDS_PER_CALL",
    "MAX_ID_DIGITS",
    "MAX_JOB_ID_LENGTH",
    "InvalidIdError",
    "id_problem",
    "job_id_problem",
    "normalize_id",
    "normalize_ids",
    "normalize_job_id",
]

#: Zoho converts at most 50 records per mass-convert call (the one place this number lives).
MAX_IDS_PER_CALL = 50

# Zoho record ids are 64-bit longs written in decimal: at most 19 digits.
MAX_ID_DIGITS = 19
_MAX_LONG = 2**63 - 1
_MAX_LONG_TEXT = str(_MAX_LONG)


class InvalidIdError(ValueError):
    """A record id that Zoho would refuse: empty, non-numeric, negative or too long."""


def id_problem(value: object) -> str | None:
    """Say why ``value`` is not a valid record id, or return None when it is.

    Accepts a ``str`` of 1 to 19 decimal digits or a non-negative ``int``; ``bool``, ``float``
    and ``None`` are refused because they are almost always a caller's mistake (a float id has
    usually lost precision already).
    """
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        return f"record id must be a str or int, not {type(value).__name__}"
    if isinstance(value, int):
        if value <= 0:
            return f"record id must be positive, got {value}"
        if value > _MAX_LONG:
            return f"record id {value} has more than {MAX_ID_DIGITS} digits"
        return None
    if not value:
        return "record id is empty"
    if not (value.isascii() and value.isdigit()):
        return f"record id {value!r} is not numeric"
    if len(value) > MAX_ID_DIGITS:
        return f"record id {value!r} has more than {MAX_ID_DIGITS} digits"
    if int(value) == 0 or int(value) > _MAX_LONG:
        return f"record id {value!r} is out of range"
    return None


def normalize_id(value: object, *, what: str = "record id") -> str:
    """Return ``value`` as Zoho's canonical id string, or raise.

    Raises:
        TypeError: ``value`` is not a str or int.
        InvalidIdError: ``value`` is empty, not numeric, not positive, or too long.
    """
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise TypeError(f"{what} must be a str or int, not {type(value).__name__}")
    problem = id_problem(value)
    if problem is not None:
        raise InvalidIdError(problem.replace("record id", what, 1))
    if isinstance(value, str) and value[0] != "0":
        return value
    return str(int(value))  # canonical: "0012" is 12, as Zoho reads a long


#: The longest job id taken: Zoho's are 19 digits; an id far past that is no id.
MAX_JOB_ID_LENGTH = 100
_JOB_ID_BOUND = 10**MAX_JOB_ID_LENGTH


def job_id_problem(value: object) -> str | None:
    """Say why ``value`` cannot be a job id, or return None when it can.

    Zoho documents job ids as numeric strings, but nothing of the client depends on that: a
    server may name its jobs otherwise (``job-7f3a``, ``A1B2``, ``000123``), and its status
    API then wants the id back as written. So a job id is any text of 1 to
    ``MAX_JOB_ID_LENGTH`` printable ASCII characters without whitespace, or a positive
    ``int`` (a JSON number: the official SDK sends job ids so).
    """
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        return f"job id must be a str or int, not {type(value).__name__}"
    if isinstance(value, int):
        if not 0 < value < _JOB_ID_BOUND:
            return "job id must be a positive number of at most 100 digits"
        return None
    if not value:
        return "job id is empty"
    if len(value) > MAX_JOB_ID_LENGTH:
        return f"job id has {len(value)} characters, more than {MAX_JOB_ID_LENGTH}"
    # Printable ASCII without whitespace: '!' (0x21) to '~' (0x7e). Anything else cannot go
    # back in a query string as written, and is no id a server meant.
    if not (value.isascii() and value.isprintable()) or any(c.isspace() for c in value):
        return f"job id {value!r} holds whitespace or characters that are not printable ASCII"
    return None


def normalize_job_id(value: object) -> str:
    """Return ``value`` as the text to send back as ``job_id`` when polling: a str exactly as
    given (leading zeros kept: ``000123`` is not job 123 to a server that wrote it so), an int
    in decimal.

    Raises:
        TypeError: ``value`` is not a str or int.
        InvalidIdError: ``value`` is empty, too long, or holds whitespace or a character that
            is not printable ASCII.
    """
    problem = job_id_problem(value)
    if problem is None:
        return str(value)
    if isinstance(value, (str, int)) and not isinstance(value, bool):
        raise InvalidIdError(problem)
    raise TypeError(problem)


def normalize_ids(values: object, *, limit: int, what: str = "record id") -> list[str]:
    """Validate a small, finite collection of ids for a single call.

    Raises:
        TypeError: ``values`` is a bare string/int or holds a non-id value.
        ValueError: the collection is empty or holds more than ``limit`` ids.
    """
    if isinstance(values, (str, bytes, int)):
        raise TypeError(f"expected a collection of {what}s, not a single {type(values).__name__}")
    try:
        items = list(values)  # type: ignore[call-overload]
    except TypeError:
        raise TypeError(f"expected a collection of {what}s, not {type(values).__name__}") from None
    if not items:
        raise ValueError(f"no {what}s given: pass at least one")
    if len(items) > limit:
        raise ValueError(
            f"{len(items)} {what}s given; at most {limit} per call "
            "(use convert_many to convert more in batches)"
        )
    if _all_canonical(items):
        checked: list[str] = items
        return checked
    return [normalize_id(item, what=what) for item in items]


def _all_canonical(items: list[Any]) -> bool:
    """Whether every item is already a canonical id string (what ``convert_many`` sends).

    A few C-level string operations over the whole batch instead of a Python call per id: this
    runs for every batch of a run. Any doubt returns False, and ``normalize_id`` decides per id.
    """
    try:
        digits = "".join(items)  # TypeError unless every item is a str
    except TypeError:
        return False
    # bytes.isdigit checks each byte against 0-9; str.isdigit looks every character up in the
    # Unicode tables, several times slower (for ASCII text both accept exactly 0-9).
    if not (digits.isascii() and digits.encode().isdigit()):
        return False  # a character other than 0-9 (a space, a sign, a letter) somewhere
    count = len(items)
    spaced = " " + " ".join(items)
    step = len(items[0]) + 1
    if len(spaced) == step * count and spaced[::step] == " " * count:
        # Every id has the same number of digits (as Zoho's 19-digit ids do): each id's first
        # digit is one slice away, cheaper than searching the text and scanning the lengths.
        width, firsts = step - 1, spaced[1::step]
        if "0" in firsts:
            return False  # a leading zero (not canonical, maybe zero)
        return width < MAX_ID_DIGITS or (width == MAX_ID_DIGITS and "9" not in firsts)
    if "  " in spaced or spaced.endswith(" ") or " 0" in spaced:
        return False  # an empty id, or a leading zero (not canonical, maybe zero)
    longest = max(map(len, items))
    # A 19-digit id starting with 1-8 is below the largest long (9223372036854775807).
    return longest < MAX_ID_DIGITS or (longest == MAX_ID_DIGITS and " 9" not in spaced)

"""Local validation of Zoho record ids, so bad input is refused before any request is sent."""

from __future__ import annotations

__all__ = ["MAX_ID_DIGITS", "InvalidIdError", "id_problem", "normalize_id", "normalize_ids"]

# Zoho record ids are 64-bit longs written in decimal: at most 19 digits.
MAX_ID_DIGITS = 19
_MAX_LONG = 2**63 - 1


class InvalidIdError(ValueError):
    """A record id that Zoho would refuse: empty, non-numeric, negative or too long."""


class CheckedIds(list[str]):
    """Canonical id strings checked one by one already: ``normalize_ids`` does not redo it.

    Internal, not part of the public API: ``convert_many`` checks each id as it reads it and
    sends its batches as ``CheckedIds`` through the public ``mass_convert`` calls (so that
    subclasses and mocks see every batch), which would otherwise check every id again.
    """

    __slots__ = ()


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
    if type(values) is CheckedIds:
        checked: list[str] = items  # each id was checked as convert_many read it
        return checked
    return [normalize_id(item, what=what) for item in items]

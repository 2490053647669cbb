"""API credits: the rate headers Zoho sends, and how many credits remain.

Zoho counts API credits per org over a rolling 24 hours and says how many remain
(``X-API-CREDITS-REMAINING``, once half are used; ``X-RATELIMIT-*`` where present). The
transport hands every reply's headers to a ``CreditsBook``: ``LocalCredits`` for one process,
or a fleet's, shared by many.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping
from typing import Protocol, runtime_checkable

from attrs import frozen
from multidict import CIMultiDictProxy

__all__ = ["Credits", "CreditsBook", "LocalCredits", "carries_credits", "parse_credits"]


@frozen
class Credits:
    """The last rate headers Zoho sent.

    Attributes:
        remaining: API credits left (``X-API-CREDITS-REMAINING``, else
            ``X-RATELIMIT-REMAINING``), None when not sent.
        limit: ``X-RATELIMIT-LIMIT`` when sent.
        reset: ``X-RATELIMIT-RESET`` as sent (Zoho does not document its unit).
        seen_at: when they were seen, wall-clock epoch seconds.
    """

    remaining: int | None
    limit: int | None
    reset: float | None
    seen_at: float


@runtime_checkable
class CreditsBook(Protocol):
    """Records the rate headers of every reply, and says how many credits remain."""

    async def record(self, headers: Mapping[str, str]) -> None:
        """Note the rate headers in ``headers`` (a reply without any changes nothing)."""
        ...

    async def remaining(self) -> int | None:
        """Credits left as last seen, or None when Zoho has not said."""
        ...

    async def last(self) -> Credits | None:
        """Everything last seen, or None."""
        ...


class LocalCredits:
    """Keeps the last rate headers this process saw.

    Args:
        clock: wall-clock epoch seconds (injectable for tests).
    """

    def __init__(self, *, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock
        self._last: Credits | None = None

    def __repr__(self) -> str:
        return f"LocalCredits(last={self._last!r})"

    async def record(self, headers: Mapping[str, str]) -> None:
        """See ``CreditsBook.record``."""
        credits = parse_credits(headers, self._clock())
        if credits is not None:
            self._last = credits

    async def remaining(self) -> int | None:
        """See ``CreditsBook.remaining``."""
        return None if self._last is None else self._last.remaining

    async def last(self) -> Credits | None:
        """See ``CreditsBook.last``."""
        return self._last


_REMAINING = ("x-api-credits-remaining", "x-ratelimit-remaining")
_LIMIT = "x-ratelimit-limit"
_RESET = "x-ratelimit-reset"
_RATE_HEADERS = (*_REMAINING, _LIMIT, _RESET)  # every header ``parse_credits`` reads


def carries_credits(headers: Mapping[str, str]) -> bool:
    """Whether ``headers`` (any case) has a rate header: the transport hands a reply's
    headers to the ``CreditsBook`` only then (most replies have none: Zoho sends credits once
    half are used), which spares every other reply an awaited call."""
    if type(headers) is CIMultiDictProxy:  # aiohttp's: case-insensitive look-ups in C
        for name in _RATE_HEADERS:  # noqa: SIM110 (a loop: any() over a generator costs 4x)
            if name in headers:
                return True
        return False
    # One look at all the names, lowered together, spares the per-header work.
    try:
        names = " ".join(headers).lower()
    except TypeError:  # a name that is not a str
        names = " ".join(map(str, headers)).lower()
    return any(name in names for name in _RATE_HEADERS)


def parse_credits(headers: Mapping[str, str], now: float) -> Credits | None:
    """The rate headers in ``headers`` (any case), or None when there are none."""
    if not carries_credits(headers):
        return None
    lowered = {str(k).lower(): v for k, v in headers.items()}
    remaining = next(
        (n for n in (_int(lowered.get(name)) for name in _REMAINING) if n is not None), None
    )
    limit = _int(lowered.get(_LIMIT))
    reset = _float(lowered.get(_RESET))
    if remaining is None and limit is None and reset is None:
        return None
    return Credits(remaining, limit, reset, now)


def _int(value: object) -> int | None:
    number = _float(value)
    return None if number is None else int(number)


def _float(value: object) -> float | None:
    if value is None:
        return None
    try:
        number = float(str(value).strip())
    except ValueError:
        return None  # a header we cannot read is a header we did not get
    return number if math.isfinite(number) else None

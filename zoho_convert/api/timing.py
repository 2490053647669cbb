"""The two injectable notions of time every waiting part of the library takes.

Retries (``transport.py``), polling (``polling.py``) and runs (``zoho_convert.bulk``) wait
through a ``Sleep`` and read a ``Clock`` that callers may replace, so tests never wait for real.
The transport also notes when each request attempt of the current task leaves (``mark_sent``),
so a run can tell a job's time from the time its requests spent waiting for a slot.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from contextvars import ContextVar

import attrs

__all__ = ["Clock", "Sleep", "Timing", "forget_sent", "last_sent", "mark_sent"]

#: Waits the given seconds (``asyncio.sleep`` by default).
Sleep = Callable[[float], Awaitable[None]]
#: A monotonic clock in seconds (``time.monotonic`` by default).
Clock = Callable[[], float]


@attrs.frozen
class Timing:
    """How a client waits and tells time; a run of ``convert_many`` waits with the same."""

    sleep: Sleep = asyncio.sleep
    clock: Clock = time.monotonic


#: When the current task's last request attempt left (its request slot held), by the
#: transport's clock. A ContextVar: each asyncio task sees its own requests only.
_LAST_SENT: ContextVar[float | None] = ContextVar("zoho_convert_last_sent", default=None)


def mark_sent(when: float) -> None:
    """Record that the current task's request attempt leaves at ``when`` (the transport calls
    it with the request slot held, right before sending)."""
    _LAST_SENT.set(when)


def last_sent(default: float) -> float:
    """When the current task's last request attempt left, or ``default`` if none did since
    ``forget_sent``.

    A run times a job from the moment its accepted submission left, and judges a poll by how
    late it left: time spent queueing for a request slot or sleeping between retries is no
    part of a job's duration.
    """
    value = _LAST_SENT.get()
    return default if value is None else value


def forget_sent() -> None:
    """Forget the last send time (before a request whose own send time is wanted)."""
    _LAST_SENT.set(None)

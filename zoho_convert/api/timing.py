"""The two injectable notions of time every waiting part of the library takes.

Retries (``transport.py``), polling (``polling.py``) and runs (``zoho_convert.bulk``) wait
through a ``Sleep`` and read a ``Clock`` that callers may replace, so tests never wait for real.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

import attrs

__all__ = ["Clock", "Sleep", "Timing"]

#: Waits the given seconds (``asyncio.sleep`` by default).
Sleep = Callable[[float], Awaitable[None]]
#: A monotonic clock in seconds (``time.monotonic`` by default).
Clock = Callable[[], float]


@attrs.frozen
class Timing:
    """How a client waits and tells time; a run of ``convert_many`` waits with the same."""

    sleep: Sleep = asyncio.sleep
    clock: Clock = time.monotonic

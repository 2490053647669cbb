"""The two injectable notions of time every waiting part of the library takes.

Retries (``http.py``), polling (``polling.py``) and runs (``engine.py``) wait through a
``Sleep`` and read a ``Clock`` that callers may replace, so tests never wait for real.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

__all__ = ["Clock", "Sleep"]

#: Waits the given seconds (``asyncio.sleep`` by default).
Sleep = Callable[[float], Awaitable[None]]
#: A monotonic clock in seconds (``time.monotonic`` by default).
Clock = Callable[[], float]

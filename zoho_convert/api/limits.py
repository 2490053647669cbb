"""How many requests are in flight: the org's concurrency limit and its Convert Lead sub-limit.

The transport holds one slot per request attempt. ``LocalLimiter`` bounds one process; a fleet
of processes sharing one org plugs in its own ``RequestLimiter`` (``zoho_convert.fleet``).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Literal, Protocol

__all__ = ["LocalLimiter", "RequestKind", "RequestLimiter"]

#: ``"lead_convert"``: a single Convert Lead call, which Zoho also counts against a sub-limit.
RequestKind = Literal["api", "lead_convert"]


class RequestLimiter(Protocol):
    """Grants request slots: ``async with limiter.slot(kind): ...send one request...``."""

    def slot(self, kind: RequestKind) -> contextlib.AbstractAsyncContextManager[None]:
        """Hold one slot (for ``lead_convert``, a Convert Lead slot and a general one)."""


class LocalLimiter:
    """Slots of one process: ``max_concurrency`` requests, of which ``lead_convert`` Convert
    Lead calls.

    Args:
        max_concurrency: requests in flight at most.
        lead_convert: Convert Lead calls in flight at most (within ``max_concurrency``).
    """

    def __init__(self, max_concurrency: int, lead_convert: int) -> None:
        self._general = asyncio.Semaphore(max_concurrency)
        self._lead = asyncio.Semaphore(min(lead_convert, max_concurrency))

    @contextlib.asynccontextmanager
    async def slot(self, kind: RequestKind) -> AsyncIterator[None]:
        """Hold a slot while the block runs (the sub-slot first: waiting for it must not hold
        one of the general slots)."""
        if kind == "lead_convert":
            async with self._lead, self._general:
                yield
        else:
            async with self._general:
                yield

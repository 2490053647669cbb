"""How many requests are in flight: the org's concurrency limit and its Convert Lead sub-limit.

The transport holds one slot per request attempt. ``LocalLimiter`` bounds one process; a fleet
of processes sharing one org plugs in its own ``RequestLimiter`` (``zoho_convert.fleet``).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Literal, Protocol, runtime_checkable

__all__ = ["LocalLimiter", "RequestKind", "RequestLimiter", "check_kind"]

#: What a request needs a slot for: any API call, or a Convert Lead call, which holds both a
#: Convert Lead sub-slot and an API slot (Zoho counts it against both limits).
RequestKind = Literal["api", "lead_convert"]


@runtime_checkable
class RequestLimiter(Protocol):
    """Bounds the requests in flight: per process, or across a fleet."""

    def slot(self, kind: RequestKind = "api") -> AbstractAsyncContextManager[None]:
        """Hold one slot of ``kind`` for the duration of an ``async with`` block.

        A task cancelled while it waits for a slot, or while it holds one, never leaks it.
        """
        ...


def _positive_int(name: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be a positive int, got {value!r}")
    return value


def check_kind(kind: object) -> RequestKind:
    """``kind`` if it names a slot kind; ValueError otherwise."""
    if kind == "api":
        return "api"
    if kind == "lead_convert":
        return "lead_convert"
    raise ValueError(f"slot kind must be 'api' or 'lead_convert', got {kind!r}")


class LocalLimiter:
    """Bounds requests in flight within one process, with asyncio semaphores.

    Args:
        max_concurrency: API calls in flight at most.
        lead_convert_concurrency: Convert Lead calls in flight at most (each also holds an
            API slot).
    """

    def __init__(self, max_concurrency: int = 10, lead_convert_concurrency: int = 3) -> None:
        self.max_concurrency = _positive_int("max_concurrency", max_concurrency)
        self.lead_convert_concurrency = _positive_int(
            "lead_convert_concurrency", lead_convert_concurrency
        )
        # asyncio.Semaphore binds to the running loop on first use, not here (Python >= 3.10).
        self._api = asyncio.Semaphore(max_concurrency)
        self._lead = asyncio.Semaphore(lead_convert_concurrency)

    def __repr__(self) -> str:
        return (
            f"LocalLimiter(max_concurrency={self.max_concurrency}, "
            f"lead_convert_concurrency={self.lead_convert_concurrency})"
        )

    def in_use(self) -> dict[str, int]:
        """Slots held right now, per limit."""
        return {
            "api": self.max_concurrency - self._api._value,
            "lead_convert": self.lead_convert_concurrency - self._lead._value,
        }

    def slot(self, kind: RequestKind = "api") -> AbstractAsyncContextManager[None]:
        """Hold a slot of ``kind`` (``"lead_convert"`` holds a sub-slot and an API slot).

        The Convert Lead sub-slot is taken first, so a call waiting for it holds no API slot.
        """
        if kind == "api":
            return self._api  # the semaphore itself: no generator per request (the hot path)
        check_kind(kind)  # "lead_convert", or ValueError
        return self._lead_and_api()

    @asynccontextmanager
    async def _lead_and_api(self) -> AsyncIterator[None]:
        async with self._lead, self._api:
            yield



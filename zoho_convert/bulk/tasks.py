"""What a run's tasks share: awaiting several to their end, cancelling a set of them, a call
within a semaphore, and the signal that a batch was not sent because the run stopped.

Used by the driver and by settling record by record (``records``), which cannot import the
driver. Internal to ``zoho_convert``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable
from typing import TypeVar

__all__ = ["Stopped", "all_to_end", "cancel_all", "within"]

T = TypeVar("T")


class Stopped(Exception):
    """The run stopped while a batch waited to be submitted: it was not sent."""


def all_to_end(work: Iterable[Awaitable[None]]) -> Awaitable[None]:
    """Await each (one in the awaiting task; more side by side, each to its end, as each
    records its outcome), then raise the first error, if any: a plain gather would leave others
    running. A lone awaitable is handed back as it is: awaiting it costs no extra layer."""
    every = list(work)
    return every[0] if len(every) == 1 else _gathered(every)


async def _gathered(every: list[Awaitable[None]]) -> None:
    for outcome in await asyncio.gather(*every, return_exceptions=True):
        if isinstance(outcome, BaseException):
            raise outcome


async def cancel_all(tasks: set[asyncio.Task[None]]) -> None:
    """Cancel ``tasks`` (a set each task leaves when done) and wait until it is empty."""
    for task in tasks:
        task.cancel()
    while tasks:
        await asyncio.wait(set(tasks))


async def within(slots: asyncio.Semaphore, call: Callable[[], Awaitable[T]]) -> T:
    """``call()`` awaited with one of ``slots`` held."""
    async with slots:
        return await call()

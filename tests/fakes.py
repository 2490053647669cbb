"""Fakes shared by the whole test suite: a clock moved by hand and a sleep that never waits.

Imported as ``fakes``: the test folders have no ``__init__.py``, so pytest (default
"prepend" import mode) puts ``tests/``, the folder of the root ``conftest.py``, on
``sys.path``, as it does each test's own folder for its ``*_helpers`` module.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator


class FakeClock:
    """A monotonic clock that only moves when told to (by hand, or by a fake sleep)."""

    def __init__(self, start: float = 1000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


async def no_wait(delay: float) -> None:
    """The client's sleep when time does not matter: retries and polls never wait."""
    await asyncio.sleep(0)


@contextlib.asynccontextmanager
async def deadline(seconds: float) -> AsyncIterator[None]:
    """``asyncio.timeout`` for Python 3.10 too: a test that hangs fails with TimeoutError."""
    task = asyncio.current_task()
    assert task is not None
    expired = False

    def expire() -> None:
        nonlocal expired
        expired = True
        task.cancel()

    handle = asyncio.get_running_loop().call_later(seconds, expire)
    try:
        yield
    except asyncio.CancelledError:
        if expired:
            raise TimeoutError(f"the test did not finish within {seconds} s") from None
        raise
    finally:
        handle.cancel()

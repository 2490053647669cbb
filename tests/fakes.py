"""Fakes shared by the whole test suite: a clock moved by hand and a sleep that never waits.

Imported as ``fakes``: the test folders have no ``__init__.py``, so pytest (default
"prepend" import mode) puts ``tests/``, the folder of the root ``conftest.py``, on
``sys.path``, as it does each test's own folder for its ``*_helpers`` module.
"""

from __future__ import annotations

import asyncio


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

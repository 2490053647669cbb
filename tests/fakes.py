"""Fakes shared by the whole test suite: a clock moved by hand and a sleep that never waits.

Imported as ``fakes``: the test folders have no ``__init__.py``, so pytest (default
"prepend" import mode) puts ``tests/``, the folder of the root ``conftest.py``, on
``sys.path``, as it does each test's own folder for its ``*_helpers`` module.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import itertools
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


class SummingTime:
    """A clock and a sleep for the client and the simulator: each sleep advances the clock by
    its delay at once, so the sleeps of concurrent tasks add up (the clock runs ahead of a
    real one, which only ever makes deadlines come sooner). Every delay slept is recorded,
    so a test can check which waits the client asked for (e.g. a Retry-After honoured).
    (``VirtualTime`` instead keeps concurrent sleeps overlapping, as real time does.)
    """

    def __init__(self, start: float = 1000.0) -> None:
        self.now = start
        self.slept: list[float] = []

    def clock(self) -> float:
        return self.now

    async def sleep(self, delay: float) -> None:
        self.slept.append(delay)
        self.now += max(delay, 0.0)
        await asyncio.sleep(0)


class VirtualTime:
    """A clock and a sleep function: time jumps to the next wake-up once every task idles.

    Concurrent sleeps overlap as they do in real time (the clock moves to the earliest wake-up,
    not by the sum of the delays), so a job's end, a poll and a settling wait keep their true
    order. While ``in_flight`` is above 0 (a caller counting its requests in flight), time
    stands still.
    """

    def __init__(self, start: float = 0.0) -> None:
        self.now = start
        self.in_flight = 0
        self.slept = 0
        self._sleepers: list[tuple[float, int, asyncio.Future[None]]] = []
        self._order = itertools.count()
        self._driver: asyncio.Task[None] | None = None

    def clock(self) -> float:
        return self.now

    async def sleep(self, delay: float) -> None:
        self.slept += 1
        future = asyncio.get_running_loop().create_future()
        heapq.heappush(self._sleepers, (self.now + max(delay, 0.0), next(self._order), future))
        if self._driver is None or self._driver.done():
            self._driver = asyncio.ensure_future(self._drive())
        await future

    async def _drive(self) -> None:
        while self._sleepers:
            quiet = 0
            while quiet < 20:  # every runnable task has reached its next sleep
                await asyncio.sleep(0)
                quiet = quiet + 1 if self.in_flight == 0 else 0
            if not self._sleepers:
                break
            wake, _, future = heapq.heappop(self._sleepers)
            self.now = max(self.now, wake)
            if not future.done():
                future.set_result(None)

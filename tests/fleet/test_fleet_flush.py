"""The fleet's request limit when Redis forgets its queue (FLUSHALL, or a waiter's lease ended
while its process stalled): waiters are handed new tickets, and the slot still goes round.

Each test runs against a redis-server of its own (it is flushed), with a lease and a poll
interval far longer than the test, so nothing moves by a timer unless the test says so: what
moves the queue is release notices and waiters passing the turn.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

import pytest
from redis.asyncio import Redis

from zoho_convert.fleet import RedisFleet
from zoho_convert.fleet.localserver import RedisServerProcess

StartRedis = Callable[[], RedisServerProcess]

#: No timer fires within a test: no poll by the first waiter, no renewal, no lease ends.
QUIET = {"lease": 600.0, "poll_interval": 300.0}


async def _until(check: Callable[[], Any]) -> None:
    """Wait (a Redis round trip or two) until ``check`` holds, never longer than 5 s."""
    deadline = time.monotonic() + 5
    while not await check():
        assert time.monotonic() < deadline, "condition never became true"
        await asyncio.sleep(0.005)


class _Waiters:
    """Tasks that each take one slot of ``fleet``, note it, and hold it until let go."""

    def __init__(self, fleet: RedisFleet) -> None:
        self.fleet = fleet
        self.got: list[str] = []
        self.tasks: dict[str, asyncio.Task[None]] = {}
        self.taken: dict[str, asyncio.Event] = {}
        self.let_go: dict[str, asyncio.Event] = {}

    def start(self, name: str) -> None:
        self.taken[name] = asyncio.Event()
        self.let_go[name] = asyncio.Event()

        async def take() -> None:
            async with self.fleet.limiter.slot():
                self.got.append(name)
                self.taken[name].set()
                await self.let_go[name].wait()

        self.tasks[name] = asyncio.ensure_future(take())

    async def queued(self, count: int) -> None:
        """Until Redis shows ``count`` waiters."""

        async def check() -> bool:
            return (await self.fleet.status()).slots["api"].waiting == count

        await _until(check)

    async def holding(self, name: str) -> None:
        """Until ``name`` holds its slot (5 s at most)."""
        async with asyncio.timeout(5):
            await self.taken[name].wait()


async def test_waiters_reticketed_after_a_flush_still_get_the_slot(own_redis: StartRedis) -> None:
    """After FLUSHALL the ticket counter starts again, so waiters queued before it and after
    it hold equal or crossed tickets: the waiter Redis serves first still gets the slot, and
    then every other one (each is served once its turn comes, no poll timer needed)."""
    server = own_redis()
    fleet = RedisFleet(server.url, max_concurrency=1, **QUIET)  # type: ignore[arg-type]
    await fleet.start()
    raw = Redis.from_url(server.url)
    waiters = _Waiters(fleet)
    try:
        waiters.start("holder")
        await waiters.holding("holder")
        waiters.start("early-1")  # tickets 1 and 2
        await waiters.queued(1)
        waiters.start("early-2")
        await waiters.queued(2)

        await raw.flushall()  # the holder's slot and both places are gone; tickets restart

        waiters.start("late-holder")  # the slot looks free to Redis: taken at once
        await waiters.holding("late-holder")
        waiters.start("late")  # ticket 1 again: Redis serves it first
        await waiters.queued(1)
        # The release announces a free slot; early-1 (first here) asks, is queued behind
        # "late" with a new ticket, and must pass the turn to it.
        waiters.let_go["late-holder"].set()
        await waiters.holding("late")
        for name in ("late", "early-1", "early-2", "holder"):
            waiters.let_go[name].set()
        async with asyncio.timeout(5):
            await asyncio.gather(*waiters.tasks.values())
    finally:
        for task in waiters.tasks.values():
            task.cancel()
        await asyncio.gather(*waiters.tasks.values(), return_exceptions=True)
        await raw.aclose()
        await fleet.close()
    assert waiters.got[:3] == ["holder", "late-holder", "late"]
    assert sorted(waiters.got[3:]) == ["early-1", "early-2"]


async def test_a_waiter_whose_wake_up_is_lost_still_asks_again(
    own_redis: StartRedis, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every wait for a slot is bounded: a waiter that is not first here asks Redis again
    within a third of a lease even if no one ever wakes it (lost notices, a lost turn)."""
    server = own_redis()
    # Real timers (no fake clock reaches asyncio's timeouts): a third of the lease is 0.5 s;
    # the first waiter's poll, the only other timer, is no faster. A lease far longer than a
    # stall of a busy machine keeps each waiter's place in the queue.
    fleet = RedisFleet(server.url, max_concurrency=1, lease=1.5, poll_interval=0.5)
    await fleet.start()
    semaphore = fleet.limiter.semaphores["api"]
    monkeypatch.setattr(semaphore, "wake_first", lambda: None)  # every wake-up is lost
    waiters = _Waiters(fleet)
    try:
        waiters.start("holder")
        await waiters.holding("holder")
        waiters.start("first")
        await waiters.queued(1)
        waiters.start("second")
        await waiters.queued(2)
        for name in ("holder", "first", "second"):
            waiters.let_go[name].set()
        async with asyncio.timeout(10):
            await asyncio.gather(*waiters.tasks.values())
    finally:
        for task in waiters.tasks.values():
            task.cancel()
        await asyncio.gather(*waiters.tasks.values(), return_exceptions=True)
        await fleet.close()
    assert waiters.got == ["holder", "first", "second"]

"""A request limit shared by every process of a fleet: a lease-based semaphore in Redis.

Each slot is a member of a sorted set scored by the end of its lease. Taking a slot is one
script call (``scripts.ACQUIRE``) when one is free. Otherwise the caller queues with a ticket
and waits for a release, which the releasing script announces on a pub/sub channel; the
process wakes only its first waiter, which tries again and, if it gets a slot, wakes the next.
A background heartbeat renews the leases of this process's holders and waiters every third
of a lease, so a slot held for long stays held, and the slots of a process that died (it
renews nothing) come back when their lease ends; waiters also retry every ``poll_interval``
so they notice.

The process's queue follows Redis's: each waiter keeps the ticket Redis gave it last. Redis
hands a waiter a new ticket when its place was lost (a FLUSHALL, which also restarts the
ticket counter, or a waiter lease that ended while the process stalled); a waiter that kept
its first ticket could then stand first here while waiters of this process that Redis serves
first sat waiting for a turn that never came, each side renewing its place for ever. And no
wait is unbounded: a waiter that is not first still asks again every third of a lease, so a
lost wake-up costs time, never the run.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import itertools
import logging
from collections.abc import AsyncIterator
from typing import Any

from redis.commands.core import AsyncScript

from zoho_convert.api.limits import LocalLimiter, check_kind
from zoho_convert.fleet import scripts
from zoho_convert.fleet.base import Kind
from zoho_convert.fleet.link import REDIS_LOST, RedisLink, bound

__all__ = ["RedisLimiter"]

logger = logging.getLogger("zoho_convert.fleet")


class _Semaphore:
    """One fleet-wide limit (``api`` or ``lead_convert``) as this process sees it."""

    def __init__(self, link: RedisLink, name: str, limit: int, lease: float) -> None:
        self.link = link
        self.name = name
        self.limit = limit
        self.lease_ms = max(1, round(lease * 1000))
        # How long a waiter that is not first waits for its turn before asking anyway.
        self.recheck = lease / 3
        self.keys = [
            link.key("slots", name, "holders"),
            link.key("slots", name, "waiters"),
            link.key("slots", name, "waiter_leases"),
            link.key("slots", name, "tickets"),
        ]
        self.held: set[str] = set()
        self.waiting: set[str] = set()
        # This process's waiters, first ticket first: (ticket, order, wake-up event).
        self._queue: list[tuple[int, int, asyncio.Event]] = []
        self._order = itertools.count()
        self._acquire: AsyncScript | None = None
        self._release: AsyncScript | None = None

    def bind(self) -> None:
        redis = self.link.redis
        self._acquire = redis.register_script(scripts.ACQUIRE)
        self._release = redis.register_script(scripts.RELEASE)

    def wake_first(self) -> None:
        """A slot was released somewhere: let this process's first waiter try again."""
        if self._queue:
            self._queue[0][2].set()

    async def _try(self, member: str) -> tuple[bool, int]:
        reply: Any = await bound(self._acquire)(
            keys=self.keys,
            args=[self.limit, member, self.lease_ms, self.link.key("slots"), self.name],
        )
        return bool(int(reply[0])), int(reply[1])

    async def acquire(self, member: str, poll_interval: float) -> None:
        """Hold a slot under ``member``; on any failure or cancellation, nothing stays held."""
        entry: tuple[int, int, asyncio.Event] | None = None
        try:
            granted, ticket = await self._try(member)
            if granted:
                self.held.add(member)
                return
            self.waiting.add(member)
            entry = (ticket, next(self._order), asyncio.Event())
            heapq.heappush(self._queue, entry)
            while True:
                first = self._queue[0] is entry
                # The first waiter polls; the others are woken one by one behind it, and ask
                # anyway now and then, in case a wake-up was lost.
                wait = poll_interval if first else max(poll_interval, self.recheck)
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(entry[2].wait(), wait)
                entry[2].clear()
                granted, ticket = await self._try(member)
                if granted:
                    self.held.add(member)
                    return
                if ticket != entry[0]:
                    entry = self._requeue(entry, ticket)
        except BaseException:
            # Cancelled or failed mid-call, the script may have given us a slot or a ticket
            # we will never use: remove both, in the background, so the cancel is not delayed.
            self.link.spawn(self.give_back(member, quietly=True))
            raise
        finally:
            self.waiting.discard(member)
            if entry is not None:
                self._queue.remove(entry)
                heapq.heapify(self._queue)
                # Pass the turn on: the released slot that woke us may be one more than ours.
                self.wake_first()

    def _requeue(
        self, entry: tuple[int, int, asyncio.Event], ticket: int
    ) -> tuple[int, int, asyncio.Event]:
        """Redis gave this waiter a new ticket (it had lost its place): take the same place
        here, and if that is no longer first, wake the waiter now first (it may be the one
        Redis serves first, and it would otherwise wait for a turn)."""
        self._queue.remove(entry)
        moved = (ticket, next(self._order), entry[2])
        self._queue.append(moved)
        heapq.heapify(self._queue)
        if self._queue[0] is not moved:
            self.wake_first()
        return moved

    async def give_back(self, member: str, *, quietly: bool = False) -> None:
        """Release ``member``'s slot (or its place in the queue)."""
        self.held.discard(member)
        if self._release is None:
            return
        try:
            await self._release(
                keys=self.keys[:3], args=[member, self.link.key("slots"), self.name]
            )
        except REDIS_LOST as error:
            # The lease ends by itself; a lost Redis is handled by the next acquire.
            if not quietly:
                logger.debug("could not release slot %s: %s", member, type(error).__name__)


class RedisLimiter:
    """``RequestLimiter`` over Redis: ``max_concurrency`` calls in flight across the fleet.

    Use through ``RedisFleet.limiter``. Falls back to a ``LocalLimiter`` of the same sizes when
    Redis is lost (``on_redis_loss="fallback"``).
    """

    def __init__(
        self,
        link: RedisLink,
        *,
        max_concurrency: int,
        lead_convert_concurrency: int,
        lease: float,
        poll_interval: float,
    ) -> None:
        self._link = link
        self.local = LocalLimiter(max_concurrency, lead_convert_concurrency)
        self.max_concurrency = max_concurrency
        self.lead_convert_concurrency = lead_convert_concurrency
        self.lease = lease
        self.poll_interval = poll_interval
        self.semaphores = {
            "api": _Semaphore(link, "api", max_concurrency, lease),
            "lead_convert": _Semaphore(link, "lead_convert", lead_convert_concurrency, lease),
        }
        self._serial = itertools.count(1)

    def __repr__(self) -> str:
        return (
            f"RedisLimiter(max_concurrency={self.max_concurrency}, "
            f"lead_convert_concurrency={self.lead_convert_concurrency}, lease={self.lease})"
        )

    def bind(self) -> None:
        """Prepare the scripts (after the link connected)."""
        for semaphore in self.semaphores.values():
            semaphore.bind()

    def _member(self) -> str:
        task = asyncio.current_task()
        name = task.get_name() if task is not None else "main"
        name = name.replace("|", "_").replace(":", "_")
        return f"{self._link.process}|{name}|{next(self._serial)}"

    @contextlib.asynccontextmanager
    async def slot(self, kind: Kind = "api") -> AsyncIterator[None]:
        """Hold a fleet-wide slot of ``kind`` (see ``RequestLimiter.slot``).

        ``"lead_convert"`` takes the Convert Lead sub-slot first, then an API slot: two round
        trips, as waiting for the sub-slot must not hold an API slot.

        Raises:
            FleetUnavailableError: Redis is gone and ``on_redis_loss="fail"``.
        """
        names = ["lead_convert", "api"] if check_kind(kind) == "lead_convert" else ["api"]
        if self._link.degraded:
            async with self.local.slot(kind):
                yield
            return
        held: list[tuple[_Semaphore, str]] = []
        try:
            for name in names:
                semaphore = self.semaphores[name]
                member = self._member()
                await semaphore.acquire(member, self.poll_interval)
                held.append((semaphore, member))
        except REDIS_LOST as error:
            self._give_back_in_background(held)
            self._link.lost(error)  # raises in "fail" mode
            async with self.local.slot(kind):
                yield
            return
        except BaseException:
            self._give_back_in_background(held)
            raise
        try:
            yield
        finally:
            await self._give_back(held)

    def _give_back_in_background(self, held: list[tuple[_Semaphore, str]]) -> None:
        for semaphore, member in held:
            self._link.spawn(semaphore.give_back(member, quietly=True))

    async def _give_back(self, held: list[tuple[_Semaphore, str]]) -> None:
        # Shielded: a task cancelled while it releases still releases (no leak until lease end).
        work = self._link.spawn(
            asyncio.gather(*(semaphore.give_back(member) for semaphore, member in held))
        )
        await asyncio.shield(work)

    async def renew(self, renew_script: AsyncScript) -> None:
        """Extend the leases of this process's holders and waiters (one call per limit)."""
        for semaphore in self.semaphores.values():
            holders = sorted(semaphore.held)
            waiters = sorted(semaphore.waiting)
            if not holders and not waiters:
                continue
            lost: Any = await renew_script(
                keys=[semaphore.keys[0], semaphore.keys[2]],
                args=[semaphore.lease_ms, len(holders), *holders, *waiters],
            )
            if lost:
                logger.warning(
                    "%d %s slot lease(s) of this process ended before renewal (the process "
                    "stalled longer than the lease, or Redis lost its data): the fleet may "
                    "briefly exceed its limit",
                    len(lost),
                    semaphore.name,
                )

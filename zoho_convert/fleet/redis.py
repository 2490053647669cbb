"""``RedisFleet``: many processes, one Zoho org, coordinated through one Redis.

Needs the ``redis`` extra (redis-py >= 5, asyncio client) and Redis >= 6.2 (a single server,
or one behind Sentinel; Redis Cluster is not supported: the scripts touch several keys).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from types import TracebackType
from typing import Any, cast

from redis.asyncio.client import PubSub
from redis.commands.core import AsyncScript

from zoho_convert.fleet import scripts
from zoho_convert.fleet.link import REDIS_LOST, OnRedisLoss, RedisLink
from zoho_convert.fleet.redis_ledger import RedisCredits, RedisLedger
from zoho_convert.fleet.redis_limiter import RedisLimiter
from zoho_convert.fleet.redis_tokens import RedisTokenStore
from zoho_convert.fleet.status import FleetStatus, SlotsStatus, parse_member

__all__ = ["RedisFleet"]

logger = logging.getLogger("zoho_convert.fleet")


def _positive(name: str, value: float) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{name} must be a number, got {value!r}")
    if not math.isfinite(value) or value <= 0:
        raise ValueError(f"{name} must be positive, got {value!r}")
    return float(value)


class RedisFleet:
    """The request limit, token, conversion ledger and credits of a fleet, in Redis.

    Every process that uses the same Redis and ``namespace`` shares them::

        async with RedisFleet("redis://127.0.0.1:6379/0", max_concurrency=10) as fleet:
            async with fleet.limiter.slot("api"):
                ...  # at most 10 of these run at once across the fleet

    Args:
        url: ``redis://[[user]:password@]host[:port][/db]``, ``rediss://`` or ``unix://``.
        namespace: prefix of every key; fleets with different namespaces are independent.
        max_concurrency: API calls in flight at most, across the fleet (the org's limit).
        lead_convert_concurrency: Convert Lead calls in flight at most, across the fleet.
        lease: seconds a slot stays held without renewal: the slots of a process that dies
            come back after at most this long. Held slots are renewed every ``lease / 3``.
        poll_interval: how often a waiting process retries even without a release notice
            (default ``min(lease / 3, 1)``); it is how the slots of dead processes are noticed.
        token_lock_timeout: seconds a process may take to mint a token before another may.
        token_failure_hold: seconds a failed mint's error is served to the whole fleet before
            any process tries to mint again.
        on_redis_loss: ``"fallback"`` (in-process limits and a warning) or ``"fail"``
            (``FleetUnavailableError``) when Redis is lost mid-run.
        connect_timeout: seconds to connect to Redis.
        command_timeout: seconds one Redis command may take.

    Attributes:
        limiter: the fleet-wide ``RequestLimiter``.
        tokens: the fleet's ``TokenStore``.
        ledger: the fleet's ``ConversionLedger``.
        credits: the fleet's ``CreditsBook``.
    """

    def __init__(
        self,
        url: str,
        *,
        namespace: str = "zoho_convert",
        max_concurrency: int = 10,
        lead_convert_concurrency: int = 3,
        lease: float = 30.0,
        poll_interval: float | None = None,
        token_lock_timeout: float = 60.0,
        token_failure_hold: float = 10.0,
        on_redis_loss: OnRedisLoss = "fallback",
        connect_timeout: float = 5.0,
        command_timeout: float = 5.0,
    ) -> None:
        self.lease = _positive("lease", lease)
        self.poll_interval = (
            min(self.lease / 3, 1.0)
            if poll_interval is None
            else _positive("poll_interval", poll_interval)
        )
        self._link = RedisLink(
            url,
            namespace=namespace,
            on_redis_loss=on_redis_loss,
            connect_timeout=_positive("connect_timeout", connect_timeout),
            command_timeout=_positive("command_timeout", command_timeout),
        )
        self.limiter = RedisLimiter(
            self._link,
            max_concurrency=max_concurrency,
            lead_convert_concurrency=lead_convert_concurrency,
            lease=self.lease,
            poll_interval=self.poll_interval,
        )
        self.tokens = RedisTokenStore(
            self._link,
            lock_timeout=_positive("token_lock_timeout", token_lock_timeout),
            failure_hold=_positive("token_failure_hold", token_failure_hold),
        )
        self.ledger = RedisLedger(self._link)
        self.credits = RedisCredits(self._link)
        self._renew: AsyncScript | None = None
        self._pubsub: PubSub | None = None
        self._loops: list[asyncio.Task[None]] = []

    def __repr__(self) -> str:
        return (
            f"RedisFleet(redis={self._link.where!r}, namespace={self._link.namespace!r}, "
            f"max_concurrency={self.limiter.max_concurrency}, "
            f"lead_convert_concurrency={self.limiter.lead_convert_concurrency}, "
            f"lease={self.lease}, on_redis_loss={self._link.on_redis_loss!r})"
        )

    @property
    def where(self) -> str:
        """``host:port`` of the Redis server (never a password)."""
        return self._link.where

    @property
    def namespace(self) -> str:
        """The key prefix."""
        return self._link.namespace

    @property
    def process(self) -> str:
        """This fleet member's identity in Redis: ``host:pid:nonce``."""
        return self._link.process

    @property
    def degraded(self) -> bool:
        """True once Redis was lost and this process runs on in-process parts."""
        return self._link.degraded

    async def start(self) -> None:
        """Connect to Redis and start renewing leases and listening for released slots.

        Raises:
            FleetUnavailableError: Redis cannot be reached (names host:port only).
        """
        if self._loops:
            return
        if not self._link.connected:  # status() may have connected to read
            await self._link.connect()
        redis = self._link.redis
        self.limiter.bind()
        self.tokens.bind()
        self.ledger.bind()
        self._renew = redis.register_script(scripts.RENEW)
        try:
            await redis.hset(
                self._link.key("config"),
                mapping={
                    "api": self.limiter.max_concurrency,
                    "lead_convert": self.limiter.lead_convert_concurrency,
                },
            )
            # Subscribe before anything waits, so no release notice is missed.
            self._pubsub = redis.pubsub(ignore_subscribe_messages=True)
            await self._pubsub.subscribe(self._link.key("slots"))
        except REDIS_LOST as error:
            await self.close()
            self._link.raise_unavailable(error)
        self._loops = [
            asyncio.ensure_future(self._listen()),
            asyncio.ensure_future(self._heartbeat()),
        ]

    async def close(self) -> None:
        """Stop the background work, let in-flight releases finish, and disconnect."""
        loops, self._loops = self._loops, []
        for task in loops:
            task.cancel()
        await asyncio.gather(*loops, return_exceptions=True)
        if self._pubsub is not None:
            pubsub, self._pubsub = self._pubsub, None
            with contextlib.suppress(*REDIS_LOST):
                await cast(Any, pubsub).aclose()  # untyped in redis-py
        await self._link.close(cancel=False)

    async def __aenter__(self) -> RedisFleet:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    async def _listen(self) -> None:
        # Release notices: wake this process's first waiter for that limit. Losing some is
        # harmless (waiters also poll), so errors only pause the listener.
        while not self._link.degraded:
            pubsub = self._pubsub
            if pubsub is None:
                return
            try:
                message: Any = await pubsub.get_message(timeout=1.0)
            except REDIS_LOST as error:
                logger.debug("release notices paused: %s", type(error).__name__)
                await asyncio.sleep(self.poll_interval)
                continue
            if message and message.get("type") == "message":
                semaphore = self.limiter.semaphores.get(str(message.get("data")))
                if semaphore is not None:
                    semaphore.wake_first()

    async def _heartbeat(self) -> None:
        while not self._link.degraded:
            await asyncio.sleep(self.lease / 3)
            assert self._renew is not None
            try:
                await self.limiter.renew(self._renew)
            except REDIS_LOST as error:
                # The next acquire or release decides what a lost Redis means.
                logger.debug("lease renewal failed: %s", type(error).__name__)

    async def status(self) -> FleetStatus:
        """Slots in use and by whom, token expiry, ledger size, last credits seen.

        On a fleet not started, this connects and only reads (``close`` disconnects): a
        monitor (``zoho-convert fleet status``) neither joins the fleet nor overwrites the
        limits its members configured.

        Raises:
            FleetUnavailableError: Redis cannot be reached.
        """
        if not self._link.connected:
            await self._link.connect()
        try:
            return await self._status()
        except REDIS_LOST as error:
            self._link.raise_unavailable(error)

    async def _status(self) -> FleetStatus:
        redis = self._link.redis
        seconds, micros = await redis.time()
        now_ms = seconds * 1000 + micros // 1000
        config: Any = await redis.hgetall(self._link.key("config"))
        slots: dict[str, SlotsStatus] = {}
        for name, semaphore in self.limiter.semaphores.items():
            holders_key, waiters_key, _, _ = semaphore.keys
            entries: Any = await redis.zrangebyscore(
                holders_key, f"({now_ms}", "+inf", withscores=True
            )
            holders = tuple(
                parse_member(member, round((score - now_ms) / 1000, 3)) for member, score in entries
            )
            limit = config.get(name)
            slots[name] = SlotsStatus(
                limit=int(limit) if limit else None,
                in_use=len(holders),
                waiting=int(await redis.zcard(waiters_key)),
                holders=holders,
            )
        expires_at, api_domain = await self.tokens.expires_at()
        return FleetStatus(
            redis=self._link.where,
            namespace=self._link.namespace,
            degraded=self._link.degraded,
            slots=slots,
            token_expires_at=expires_at,
            token_expires_in=None if expires_at is None else round(expires_at - time.time(), 3),
            api_domain=api_domain,
            ledger=await self.ledger.sizes(),
            credits=await self.credits.last(),
        )

"""One access token for the whole fleet, refreshed by one process at a time.

The token, its expiry and API domain live in a Redis hash that expires with the token. A
refresh takes a Redis lock (``SET NX PX``): the process holding it mints, the others poll
until the lock is gone and then find the new token. A mint that fails is described in Redis
for ``failure_hold`` seconds: processes that need a token meanwhile raise the same error
instead of minting (a refresh token may mint only ten tokens per ten minutes). Inside a
process, tasks queue on an asyncio lock first, so only one of them talks to Redis and a failed
mint is shared with the tasks that waited for it. If the minting process dies, its lock ends
after ``lock_timeout``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from typing import Any

from redis.commands.core import AsyncScript

from zoho_convert.api.timing import Sleep
from zoho_convert.fleet import scripts
from zoho_convert.fleet.base import Mint, StoredToken, minted
from zoho_convert.fleet.link import REDIS_LOST, RedisLink, bound
from zoho_convert.fleet.local import MemoryTokenStore
from zoho_convert.fleet.shared_errors import describe_failure, rebuild_failure

__all__ = ["RedisTokenStore"]

logger = logging.getLogger("zoho_convert.fleet")

_POLL_FIRST = 0.01
_POLL_MAX = 0.2


class RedisTokenStore:
    """``TokenStore`` over Redis (use through ``RedisFleet.tokens``).

    Falls back to a ``MemoryTokenStore`` seeded with the last token seen when Redis is lost
    (``on_redis_loss="fallback"``).
    """

    def __init__(
        self,
        link: RedisLink,
        *,
        lock_timeout: float,
        failure_hold: float,
        clock: Callable[[], float] = time.time,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        self._link = link
        self._lock_ms = max(1, round(lock_timeout * 1000))
        self._hold_ms = max(1, round(failure_hold * 1000))
        self._clock = clock
        self._sleep = sleep
        self.local = MemoryTokenStore(clock=clock)
        self._key = link.key("token")
        self._lock_key = link.key("token", "lock")
        self._failure_key = link.key("token", "failure")
        self._single = asyncio.Lock()
        self._finished = 0
        self._failure: BaseException | None = None
        self._begin: AsyncScript | None = None
        self._commit: AsyncScript | None = None
        self._abort: AsyncScript | None = None
        self.mints = 0

    def __repr__(self) -> str:
        return f"RedisTokenStore(namespace={self._link.namespace!r})"

    def bind(self) -> None:
        """Prepare the scripts (after the link connected)."""
        redis = self._link.redis
        self._begin = redis.register_script(scripts.TOKEN_BEGIN)
        self._commit = redis.register_script(scripts.TOKEN_COMMIT)
        self._abort = redis.register_script(scripts.TOKEN_ABORT)

    async def get(self) -> StoredToken | None:
        """See ``TokenStore.get``."""
        if self._link.degraded:
            return await self.local.get()
        try:
            values: Any = await self._link.redis.hmget(
                self._key, ["token", "expires_at", "api_domain"]
            )
        except REDIS_LOST as error:
            self._link.lost(error)
            return await self.local.get()
        token = _token(values)
        if token is None or not token.usable(self._clock()):
            return None
        await self.local.put(token)  # the fallback's seed
        return token

    async def put(self, token: StoredToken) -> None:
        """See ``TokenStore.put``."""
        await self.local.put(token)
        if self._link.degraded:
            return
        try:
            await self._store(token, owner="")
        except REDIS_LOST as error:
            self._link.lost(error)

    async def refresh(self, stale: str | None, mint: Mint) -> StoredToken:
        """See ``TokenStore.refresh``: one process of the fleet mints at a time.

        Raises:
            FleetUnavailableError: Redis is gone and ``on_redis_loss="fail"``.
        """
        if self._link.degraded:
            return await self.local.refresh(stale, mint)
        finished = self._finished
        async with self._single:
            if self._finished != finished and self._failure is not None:
                raise self._failure  # the mint this task waited for failed: do not repeat it
            try:
                return await self._refresh(stale, mint)
            except REDIS_LOST as error:
                self._link.lost(error)
                return await self.local.refresh(stale, mint)

    async def _refresh(self, stale: str | None, mint: Mint) -> StoredToken:
        owner = f"{self._link.process}|{id(asyncio.current_task())}"
        delay = _POLL_FIRST
        while True:
            reply: Any = await bound(self._begin)(
                keys=[self._key, self._lock_key, self._failure_key],
                args=[stale or "", owner, self._lock_ms, repr(self._clock())],
            )
            if reply[0] == "current":
                token = _token(reply[1:])
                assert token is not None
                await self.local.put(token)
                return token
            if reply[0] == "failed":
                # Another process's mint failed moments ago: share its error, do not retry.
                fields = dict(zip(reply[1::2], reply[2::2], strict=True))
                raise rebuild_failure(fields)
            if reply[0] == "mint":
                return await self._mint(mint, owner)
            # Another process is minting: its token will be there once its lock is gone.
            await self._sleep(delay)
            delay = min(delay * 2, _POLL_MAX)

    async def _mint(self, mint: Mint, owner: str) -> StoredToken:
        try:
            self.mints += 1
            token, expires_in, api_domain = await mint()
            fresh = minted(token, expires_in, api_domain, self._clock())
        except BaseException as error:
            described: list[str] = []
            if isinstance(error, Exception):
                self._failure = error
                for field, value in describe_failure(error).items():
                    described += [field, value]
            self._finished += 1
            # If Redis is gone, the lock ends by itself after lock_timeout.
            with contextlib.suppress(*REDIS_LOST):
                await bound(self._abort)(
                    keys=[self._lock_key, self._failure_key],
                    args=[owner, self._hold_ms, *described],
                )
            raise
        self._failure = None
        self._finished += 1
        await self.local.put(fresh)
        await self._store(fresh, owner)
        return fresh

    async def _store(self, token: StoredToken, owner: str) -> None:
        ttl_ms = max(1, round(token.expires_in(self._clock()) * 1000))
        await bound(self._commit)(
            keys=[self._key, self._lock_key, self._failure_key],
            args=[owner, token.token, repr(token.expires_at), token.api_domain or "", ttl_ms],
        )

    async def expires_at(self) -> tuple[float | None, str | None]:
        """The shared token's expiry and API domain (never the token), for status."""
        values: Any = await self._link.redis.hmget(self._key, ["expires_at", "api_domain"])
        if values[0] is None:
            return None, None
        return float(values[0]), values[1] or None


def _token(values: Any) -> StoredToken | None:
    token, expires_at, api_domain = values[0], values[1], values[2]
    if not token or expires_at is None:
        return None
    try:
        expiry = float(expires_at)
    except (TypeError, ValueError):
        return None
    return StoredToken(str(token), expiry, str(api_domain) if api_domain else None)

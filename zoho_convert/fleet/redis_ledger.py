"""The fleet's conversion ledger and credits book in Redis.

Ledger keys, per module: a set of converted ids, a sorted set of claims scored by their end,
and a hash of who holds each claim (so a process releases only its own). Ids travel in
chunks, so a million-id call is many bounded script calls rather than one huge one.
Credits: one hash holding the last rate headers any process saw.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import attrs
from redis.commands.core import AsyncScript

from zoho_convert.fleet import scripts
from zoho_convert.fleet.base import Credits, parse_credits
from zoho_convert.fleet.link import REDIS_LOST, RedisLink, bound
from zoho_convert.fleet.local import LocalCredits, MemoryLedger

__all__ = ["RedisCredits", "RedisLedger"]

_CHUNK = 500


def _chunks(ids: Sequence[str]) -> list[list[str]]:
    return [[str(i) for i in ids[start : start + _CHUNK]] for start in range(0, len(ids), _CHUNK)]


@attrs.define
class _Scripts:
    """The ledger's Lua scripts, registered once the fleet connected (None before)."""

    claim: AsyncScript | None = None
    release: AsyncScript | None = None
    mark: AsyncScript | None = None
    release_later: AsyncScript | None = None
    extend: AsyncScript | None = None


class RedisLedger:
    """``ConversionLedger`` over Redis (use through ``RedisFleet.ledger``).

    Falls back to a ``MemoryLedger`` when Redis is lost (``on_redis_loss="fallback"``): this
    process then neither sees nor records other processes' conversions, which costs requests
    (Zoho refuses a second conversion), not correctness.
    """

    def __init__(self, link: RedisLink) -> None:
        self._link = link
        self.local = MemoryLedger()
        self._scripts = _Scripts()  # (shared with the ``holding`` views: set when bound)
        # Who holds the claims this view makes, and whether an id it holds already is
        # claimed again (``holding``'s views only).
        self._owner = link.process
        self._renew = False

    def __repr__(self) -> str:
        return f"RedisLedger(namespace={self._link.namespace!r})"

    def holding(self, holder: str) -> RedisLedger:
        """This ledger, its claims made under ``holder`` (a run's name; see
        ``ConversionLedger``), whichever process makes them: a run resumed by another
        process after a crash takes back its claims."""
        view = copy.copy(self)
        view.local = self.local.holding(holder)
        view._owner, view._renew = f"run:{holder}", True
        return view

    def bind(self) -> None:
        """Prepare the scripts (after the link connected)."""
        redis, bound_scripts = self._link.redis, self._scripts
        bound_scripts.claim = redis.register_script(scripts.CLAIM)
        bound_scripts.release = redis.register_script(scripts.RELEASE_CLAIMS)
        bound_scripts.mark = redis.register_script(scripts.MARK_CONVERTED)
        bound_scripts.release_later = redis.register_script(scripts.RELEASE_LATER)
        bound_scripts.extend = redis.register_script(scripts.EXTEND_CLAIMS)

    def _keys(self, module: str) -> tuple[str, str, str]:
        return (
            self._link.key("ledger", module, "converted"),
            self._link.key("ledger", module, "claims"),
            self._link.key("ledger", module, "owners"),
        )

    async def filter_known(self, module: str, ids: Sequence[str]) -> tuple[list[str], list[str]]:
        """See ``ConversionLedger.filter_known``."""
        if self._link.degraded:
            return await self.local.filter_known(module, ids)
        converted, _, _ = self._keys(module)
        new: list[str] = []
        known: list[str] = []
        try:
            for chunk in _chunks(ids):
                flags: Any = await self._link.redis.smismember(converted, chunk)
                for record_id, flag in zip(chunk, flags, strict=True):
                    (known if int(flag) else new).append(record_id)
        except REDIS_LOST as error:
            self._link.lost(error)
            return await self.local.filter_known(module, ids)
        return new, known

    async def claim(
        self, module: str, ids: Sequence[str], ttl: float
    ) -> tuple[list[str], list[str]]:
        """See ``ConversionLedger.claim``."""
        if self._link.degraded:
            return await self.local.claim(module, ids, ttl)
        converted, claims, owners = self._keys(module)
        claimed: list[str] = []
        held: list[str] = []
        try:
            for chunk in _chunks(ids):
                reply: Any = await bound(self._scripts.claim)(
                    keys=[claims, owners, converted],
                    args=[self._owner, max(1, round(ttl * 1000)), int(self._renew), *chunk],
                )
                claimed.extend(reply[0])
                held.extend(reply[1])
        except REDIS_LOST as error:
            self._link.lost(error)
            # Ids claimed in Redis before the loss stay claimed there until their ttl ends.
            return await self.local.claim(module, ids, ttl)
        return claimed, held

    async def release(self, module: str, ids: Sequence[str]) -> None:
        """See ``ConversionLedger.release``."""
        if self._link.degraded:
            await self.local.release(module, ids)
            return
        await self._own_claims(self._scripts.release, module, ids)

    async def release_later(self, module: str, ids: Sequence[str], delay: float) -> None:
        """Give back this caller's claims on ``ids`` ``delay`` seconds from now (a claim
        that ends sooner keeps its end; see ``ConversionLedger``)."""
        if self._link.degraded:
            await self.local.release_later(module, ids, delay)
            return
        delay_ms = max(0, round(delay * 1000))
        await self._own_claims(self._scripts.release_later, module, ids, delay_ms)

    async def extend(self, module: str, ids: Sequence[str], ttl: float) -> None:
        """Make this caller's unexpired claims on ``ids`` last at least ``ttl`` seconds from
        now (see ``ConversionLedger``)."""
        if self._link.degraded:
            await self.local.extend(module, ids, ttl)
            return
        await self._own_claims(self._scripts.extend, module, ids, max(1, round(ttl * 1000)))

    async def _own_claims(
        self, script: AsyncScript | None, module: str, ids: Sequence[str], *args: int
    ) -> None:
        """Run ``script`` on this caller's claims on ``ids`` (KEYS: claims, owners; ARGV:
        owner, ``args``, ids), in chunks."""
        _, claims, owners = self._keys(module)
        try:
            for chunk in _chunks(ids):
                await bound(script)(keys=[claims, owners], args=[self._owner, *args, *chunk])
        except REDIS_LOST as error:
            self._link.lost(error)

    async def mark_converted(self, module: str, ids: Sequence[str]) -> None:
        """See ``ConversionLedger.mark_converted``."""
        if self._link.degraded:
            await self.local.mark_converted(module, ids)
            return
        converted, claims, owners = self._keys(module)
        try:
            for chunk in _chunks(ids):
                await bound(self._scripts.mark)(
                    keys=[converted, claims, owners, self._link.key("ledger", "modules")],
                    args=[module, *chunk],
                )
        except REDIS_LOST as error:
            self._link.lost(error)
            await self.local.mark_converted(module, ids)

    async def sizes(self) -> dict[str, int]:
        """Converted ids recorded, per module (for status)."""
        redis = self._link.redis
        modules: Any = await redis.smembers(self._link.key("ledger", "modules"))
        sizes: dict[str, int] = {}
        for module in sorted(modules):
            sizes[module] = int(await redis.scard(self._keys(module)[0]))
        return sizes


class RedisCredits:
    """``CreditsBook`` over Redis: the last rate headers any process of the fleet saw.

    A reply without rate headers costs no round trip. Falls back to ``LocalCredits`` when
    Redis is lost (``on_redis_loss="fallback"``).
    """

    def __init__(self, link: RedisLink, *, clock: Callable[[], float] = time.time) -> None:
        self._link = link
        self._clock = clock
        self.local = LocalCredits(clock=clock)
        self._key = link.key("credits")

    def __repr__(self) -> str:
        return f"RedisCredits(namespace={self._link.namespace!r})"

    async def record(self, headers: Mapping[str, str]) -> None:
        """See ``CreditsBook.record``."""
        credits = parse_credits(headers, self._clock())
        if credits is None:
            return
        await self.local.record(headers)
        if self._link.degraded:
            return
        fields: dict[Any, Any] = {
            "remaining": "" if credits.remaining is None else str(credits.remaining),
            "limit": "" if credits.limit is None else str(credits.limit),
            "reset": "" if credits.reset is None else repr(credits.reset),
            "seen_at": repr(credits.seen_at),
        }
        try:
            await self._link.redis.hset(self._key, mapping=fields)
        except REDIS_LOST as error:
            self._link.lost(error)

    async def remaining(self) -> int | None:
        """See ``CreditsBook.remaining``."""
        last = await self.last()
        return None if last is None else last.remaining

    async def last(self) -> Credits | None:
        """See ``CreditsBook.last``."""
        if self._link.degraded:
            return await self.local.last()
        try:
            values: Any = await self._link.redis.hgetall(self._key)
        except REDIS_LOST as error:
            self._link.lost(error)
            return await self.local.last()
        if not values or not values.get("seen_at"):
            return None
        return Credits(
            _opt(values.get("remaining"), int),
            _opt(values.get("limit"), int),
            _opt(values.get("reset"), float),
            float(values["seen_at"]),
        )


def _opt(value: str | None, kind: Callable[[str], Any]) -> Any:
    return kind(value) if value else None

"""Finding R3 of the third keeper review against a real redis-server: a renewal of a run's
claims that reaches Redis after a hold of some of them (another flush's, sent meanwhile)
shortens that hold (CLAIM with renew sets a claim's end, never keeps a later one)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pytest
from redis.asyncio import Redis

from zoho_convert.bulk.events import JobUnfinished, LongestJob
from zoho_convert.bulk.keeper import UNFINISHED_HOLD, LedgerKeeper
from zoho_convert.fleet import RedisFleet, redis_ledger
from zoho_convert.fleet.link import bound
from zoho_convert.fleet.localserver import RedisServerProcess

MakeFleet = Callable[..., RedisFleet]
TTL, LONGER = 30.0, 60.0
FIRST = tuple(str(10**15 + n) for n in range(10))
LATER = tuple(str(2 * 10**15 + n) for n in range(10))


async def test_a_renewal_reaching_redis_after_a_hold_does_not_cut_it_short(
    make_fleet: MakeFleet,
    redis_server: RedisServerProcess,
    namespace: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A run holding FIRST and LATER learns a lost job may run 60 s more: its next flush
    renews every claim for 90 s, one chunk at a time. While it is under way, LATER's job is
    given up on at the poll timeout and the flush after it holds LATER for a day. Once both
    are done, LATER's claims must still end about a day from now."""
    fleet = make_fleet()
    await fleet.start()
    keeper = LedgerKeeper(fleet.ledger.holding("run-a"), "Quotes")
    for seq, ids in enumerate((FIRST, LATER)):
        assert await keeper.screen(seq, ids, False, lambda: 9, 0.0, TTL) == ([], seq)
    monkeypatch.setattr(redis_ledger, "_CHUNK", 1)
    gate, waiting = asyncio.Event(), asyncio.Event()
    def gated(script: Any) -> Any:
        call = bound(script)

        async def run(keys: list[str], args: list[Any]) -> Any:
            reply = await call(keys=keys, args=args)
            if args[1] == round((TTL + LONGER) * 1000) and not waiting.is_set():
                waiting.set()  # (the renewal's first chunk is in; the rest waits)
                await gate.wait()
            return reply

        return run

    monkeypatch.setattr(redis_ledger, "bound", gated)
    keeper(LongestJob(LONGER, None, seen=True))
    renewal = asyncio.ensure_future(keeper.flush())
    await asyncio.wait_for(waiting.wait(), 5.0)
    keeper(JobUnfinished(1, "job1", 10, None, LATER, timed_out=True))
    await keeper.flush()
    gate.set()
    await renewal
    raw = Redis.from_url(redis_server.url, decode_responses=True)
    try:
        seconds, micros = await raw.time()
        now_ms = seconds * 1000 + micros // 1000
        ends = [await raw.zscore(f"{namespace}:ledger:Quotes:claims", i) for i in LATER]
    finally:
        await raw.aclose()
    assert all(end is not None for end in ends)
    short = [i for i, end in zip(LATER, ends, strict=True) if end < now_ms + UNFINISHED_HOLD * 500]
    assert short == [], f"{len(short)} held claims cut to {TTL + LONGER:.0f} s"

"""Redis faults: unreachable at start, lost mid-run with either on_redis_loss choice."""

from __future__ import annotations

import asyncio
import logging
import socket
import time
from collections.abc import Callable

import pytest
from leaks import exception_texts

from zoho_convert.api.errors import ZohoConvertError
from zoho_convert.fleet import FleetUnavailableError, RedisFleet, StoredToken
from zoho_convert.fleet.localserver import RedisServerProcess

StartRedis = Callable[[], RedisServerProcess]
PASSWORD = "hunter2-redis-password"


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])  # closed again when the with-block ends


@pytest.mark.parametrize("on_redis_loss", ["fallback", "fail"])
async def test_unreachable_redis_at_start_is_a_clear_error(on_redis_loss: str) -> None:
    """Nothing listening: start() raises FleetUnavailableError naming host:port, never the
    password of the URL, whatever the loss policy."""
    port = _closed_port()
    fleet = RedisFleet(
        f"redis://:{PASSWORD}@127.0.0.1:{port}/0",
        on_redis_loss=on_redis_loss,  # type: ignore[arg-type]
        connect_timeout=2,
    )
    assert PASSWORD not in repr(fleet)
    with pytest.raises(FleetUnavailableError) as caught:
        await fleet.start()
    error = caught.value
    assert isinstance(error, ZohoConvertError)
    assert error.where == f"127.0.0.1:{port}"
    assert f"cannot reach Redis at 127.0.0.1:{port}" in str(error)
    assert all(PASSWORD not in text for text in exception_texts(error))
    await fleet.close()


async def test_lost_redis_falls_back_to_in_process_parts(
    own_redis: StartRedis, caplog: pytest.LogCaptureFixture
) -> None:
    """on_redis_loss="fallback": after Redis dies the fleet warns once and goes on with
    in-process limits, the last token it knew, a memory ledger and local credits."""
    server = own_redis()
    fleet = RedisFleet(server.url, max_concurrency=2, on_redis_loss="fallback")
    await fleet.start()
    await fleet.tokens.put(StoredToken("last-known", time.time() + 600, None))
    server.kill()

    caplog.set_level(logging.WARNING, logger="zoho_convert.fleet")
    inside = peak = 0

    async def call() -> None:
        nonlocal inside, peak
        async with fleet.limiter.slot():
            inside += 1
            peak = max(peak, inside)
            await asyncio.sleep(0)
            inside -= 1

    await asyncio.gather(*(call() for _ in range(10)))
    assert fleet.degraded
    assert peak == 2  # the same limit, now per process
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert f"lost Redis at 127.0.0.1:{server.port}" in warnings[0].getMessage()

    token = await fleet.tokens.get()
    assert token is not None
    assert token.token == "last-known"

    async def mint() -> tuple[str, float, str | None]:
        return "minted-locally", 600.0, None

    assert (await fleet.tokens.refresh("last-known", mint)).token == "minted-locally"
    assert await fleet.ledger.claim("Quotes", ["1"], 30) == (["1"], [])
    assert await fleet.ledger.claim("Quotes", ["1"], 30) == ([], ["1"])
    await fleet.ledger.mark_converted("Quotes", ["1"])
    assert await fleet.ledger.filter_known("Quotes", ["1", "2"]) == (["2"], ["1"])
    await fleet.credits.record({"X-API-CREDITS-REMAINING": "77"})
    assert await fleet.credits.remaining() == 77
    with pytest.raises(FleetUnavailableError):
        await fleet.status()  # status has nothing to fall back on
    await fleet.close()


async def test_waiter_queued_when_redis_dies_falls_back(own_redis: StartRedis) -> None:
    """A task queued for a fleet slot when Redis dies gets an in-process slot instead."""
    server = own_redis()
    fleet = RedisFleet(server.url, max_concurrency=1, poll_interval=0.02)
    await fleet.start()
    holding = asyncio.Event()
    done = asyncio.Event()

    async def holder() -> None:
        async with fleet.limiter.slot():
            holding.set()
            await done.wait()

    held = asyncio.ensure_future(holder())
    await holding.wait()

    async def waiter() -> str:
        async with fleet.limiter.slot():
            return "got a slot"

    queued = asyncio.ensure_future(waiter())
    await asyncio.sleep(0.05)
    assert not queued.done()
    server.kill()
    async with asyncio.timeout(10):
        assert await queued == "got a slot"
    assert fleet.degraded
    done.set()
    await held  # its release cannot reach Redis: that is not an error
    await fleet.close()


async def test_lost_redis_with_fail_policy_raises(own_redis: StartRedis) -> None:
    """on_redis_loss="fail": every fleet operation raises FleetUnavailableError naming
    host:port; a slot held when Redis died is left without an error (its lease ends)."""
    server = own_redis()
    fleet = RedisFleet(server.url, on_redis_loss="fail")
    await fleet.start()
    async with fleet.limiter.slot():
        server.kill()
    where = f"127.0.0.1:{server.port}"

    async def mint() -> tuple[str, float, str | None]:
        raise AssertionError("must not mint without the fleet")

    operations = [
        lambda: fleet.limiter.slot().__aenter__(),
        lambda: fleet.tokens.refresh(None, mint),
        fleet.tokens.get,
        lambda: fleet.ledger.filter_known("Quotes", ["1"]),
        lambda: fleet.ledger.claim("Quotes", ["1"], 30),
        lambda: fleet.ledger.mark_converted("Quotes", ["1"]),
        lambda: fleet.credits.record({"X-API-CREDITS-REMAINING": "5"}),
        fleet.status,
    ]
    for operation in operations:
        with pytest.raises(FleetUnavailableError) as caught:
            await operation()
        assert caught.value.where == where
        assert f"lost Redis at {where}" in str(caught.value)
    assert not fleet.degraded
    await fleet.close()

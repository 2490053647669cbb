"""RedisFleet in one process against a real redis-server: slots, token, ledger, credits, status."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable

import pytest
from redis.asyncio import Redis

from zoho_convert.api.errors import AuthenticationError, ZohoConvertError
from zoho_convert.bulk.events import JobUnfinished
from zoho_convert.bulk.keeper import UNFINISHED_HOLD, LedgerKeeper
from zoho_convert.fleet import (
    ConversionLedger,
    CreditsBook,
    Fleet,
    FleetUnavailableError,
    RedisFleet,
    RequestLimiter,
    StoredToken,
    TokenStore,
)
from zoho_convert.fleet.localserver import RedisServerProcess

MakeFleet = Callable[..., RedisFleet]
SECRET = "1000.redis-token-secret.fedcba9876"


async def _eventually(check: Callable[[], object], timeout: float = 5.0) -> None:
    """Wait for background clean-up (a Redis round trip or two), never longer than timeout."""
    deadline = time.monotonic() + timeout
    while not await check():  # type: ignore[misc]
        assert time.monotonic() < deadline, "condition never became true"
        await asyncio.sleep(0.01)


async def test_parts_satisfy_the_protocols(make_fleet: MakeFleet) -> None:
    """The fleet's four parts are what the client accepts; repr shows no secret."""
    fleet = make_fleet()
    assert isinstance(fleet, Fleet)
    assert isinstance(fleet.limiter, RequestLimiter)
    assert isinstance(fleet.tokens, TokenStore)
    assert isinstance(fleet.ledger, ConversionLedger)
    assert isinstance(fleet.credits, CreditsBook)
    assert "127.0.0.1" in repr(fleet)


async def test_slots_cap_tasks_and_status_names_holders(make_fleet: MakeFleet) -> None:
    """40 tasks of one process, limit 3: peak 3; status lists each holder as host:pid:task."""
    fleet = make_fleet(max_concurrency=3)
    await fleet.start()
    inside = peak = 0
    full = asyncio.Event()
    checked = asyncio.Event()

    async def call() -> None:
        nonlocal inside, peak
        async with fleet.limiter.slot():
            inside += 1
            peak = max(peak, inside)
            if inside == 3:
                full.set()
            await checked.wait()
            await asyncio.sleep(0.001)
            inside -= 1

    tasks = [asyncio.ensure_future(call()) for _ in range(40)]
    await full.wait()

    async def all_queued() -> bool:
        # Three holders do not mean the 37 others have reached Redis yet: each task's first
        # call may still be opening its connection (on a busy machine, after the holders').
        return (await fleet.status()).slots["api"].waiting == 37

    await _eventually(all_queued)
    api = (await fleet.status()).slots["api"]
    checked.set()
    await asyncio.gather(*tasks)
    assert peak == 3
    assert api.in_use == 3
    assert api.waiting == 37
    _host, pid, task = api.holders[0].holder.split(":")
    assert pid.isdigit()
    assert task.startswith("Task-")
    assert (await fleet.status()).slots["api"].in_use == 0


async def test_waiters_are_served_first_come_first_served(make_fleet: MakeFleet) -> None:
    """With one slot, five waiters queued one after another get it in that order."""
    fleet = make_fleet(max_concurrency=1)
    await fleet.start()
    order: list[int] = []
    release = asyncio.Event()

    async def waiter(n: int) -> None:
        async with fleet.limiter.slot():
            order.append(n)

    async with fleet.limiter.slot():
        tasks = []
        for n in range(5):
            tasks.append(asyncio.ensure_future(waiter(n)))

            async def queued(k: int = n + 1) -> bool:
                return (await fleet.status()).slots["api"].waiting == k

            await _eventually(queued)
        release.set()
    await asyncio.gather(*tasks)
    assert order == [0, 1, 2, 3, 4]


async def test_cancelled_waiter_and_holder_leak_nothing(make_fleet: MakeFleet) -> None:
    """A waiter cancelled in the queue and a holder cancelled inside its slot both give
    everything back: no slot held, no place queued, and the slot is usable again."""
    fleet = make_fleet(max_concurrency=1)
    await fleet.start()
    entered = asyncio.Event()

    async def hold_forever() -> None:
        async with fleet.limiter.slot():
            entered.set()
            await asyncio.Event().wait()

    holder = asyncio.ensure_future(hold_forever())
    await entered.wait()
    waiter = asyncio.ensure_future(hold_forever())

    async def one_waiting() -> bool:
        return (await fleet.status()).slots["api"].waiting == 1

    await _eventually(one_waiting)
    waiter.cancel()
    holder.cancel()
    await asyncio.gather(holder, waiter, return_exceptions=True)

    async def all_free() -> bool:
        api = (await fleet.status()).slots["api"]
        return api.in_use == 0 and api.waiting == 0

    await _eventually(all_free)
    async with asyncio.timeout(5):
        async with fleet.limiter.slot():
            pass


async def test_waiter_timed_out_by_the_caller_leaks_nothing(make_fleet: MakeFleet) -> None:
    """asyncio.timeout around a slot that never comes frees the queue place it took."""
    fleet = make_fleet(max_concurrency=1)
    await fleet.start()
    async with fleet.limiter.slot():
        with pytest.raises(TimeoutError):
            async with asyncio.timeout(0.05), fleet.limiter.slot():
                pass  # pragma: no cover

    async def all_free() -> bool:
        api = (await fleet.status()).slots["api"]
        return api.in_use == 0 and api.waiting == 0

    await _eventually(all_free)


async def test_lead_convert_slot_holds_both_limits(make_fleet: MakeFleet) -> None:
    """Inside a Convert Lead slot the fleet shows one lead_convert and one api slot held."""
    fleet = make_fleet(max_concurrency=5, lead_convert_concurrency=2)
    await fleet.start()
    async with fleet.limiter.slot("lead_convert"):
        status = await fleet.status()
        assert status.slots["lead_convert"].in_use == 1
        assert status.slots["api"].in_use == 1
        assert status.slots["lead_convert"].limit == 2
        assert status.slots["api"].limit == 5
    status = await fleet.status()
    assert status.slots["lead_convert"].in_use == status.slots["api"].in_use == 0


async def test_repeated_acquire_takes_no_second_slot(make_fleet: MakeFleet) -> None:
    """An acquire retried after a lost reply (same member) keeps one slot, not two."""
    fleet = make_fleet(max_concurrency=2)
    await fleet.start()
    semaphore = fleet.limiter.semaphores["api"]
    assert await semaphore._try("h:1:n|t|1") == (True, 0)
    assert await semaphore._try("h:1:n|t|1") == (True, 0)
    assert (await fleet.status()).slots["api"].in_use == 1
    await semaphore.give_back("h:1:n|t|1")


async def test_dead_waiter_does_not_block_the_queue(
    make_fleet: MakeFleet, redis_server: RedisServerProcess, namespace: str
) -> None:
    """A queued waiter whose process died (lease ended) is skipped: the slot goes on."""
    fleet = make_fleet(max_concurrency=1)
    await fleet.start()
    raw = Redis.from_url(redis_server.url, decode_responses=True)
    dead = "deadhost:1:000000|Task-1|1"
    await raw.zadd(f"{namespace}:slots:api:waiters", {dead: 0})
    await raw.zadd(f"{namespace}:slots:api:waiter_leases", {dead: 1})  # ended in 1970
    async with asyncio.timeout(5), fleet.limiter.slot():
        assert (await fleet.status()).slots["api"].waiting == 0
    await raw.aclose()


async def test_two_fleets_share_the_limit(make_fleet: MakeFleet) -> None:
    """Two fleet members (as two processes would be) share one limit of 2."""
    first, second = make_fleet(max_concurrency=2), make_fleet(max_concurrency=2)
    await first.start()
    await second.start()
    async with first.limiter.slot(), second.limiter.slot():
        with pytest.raises(TimeoutError):
            async with asyncio.timeout(0.1), first.limiter.slot():
                pass  # pragma: no cover
    async with asyncio.timeout(5), first.limiter.slot(), second.limiter.slot():
        pass


async def test_token_single_flight_and_reuse(make_fleet: MakeFleet) -> None:
    """Tasks of two members refresh at once: one mint; a later start reuses the token, and
    a refresh for a stale token already replaced returns the replacement."""
    first, second = make_fleet(), make_fleet()
    await first.start()
    await second.start()
    calls = 0

    async def mint() -> tuple[str, float, str | None]:
        nonlocal calls
        calls += 1
        await asyncio.sleep(0.05)
        return f"{SECRET}-{calls}", 3600.0, "https://www.zohoapis.eu"

    results = await asyncio.gather(
        *(fleet.tokens.refresh(None, mint) for fleet in (first, second) for _ in range(5))
    )
    assert calls == 1
    assert {r.token for r in results} == {f"{SECRET}-1"}

    later = make_fleet()
    await later.start()
    got = await later.tokens.get()
    assert got is not None
    assert got.token == f"{SECRET}-1"
    assert got.api_domain == "https://www.zohoapis.eu"

    renewed = await first.tokens.refresh(f"{SECRET}-1", mint)
    assert calls == 2
    assert (await second.tokens.refresh(f"{SECRET}-1", mint)).token == renewed.token
    assert calls == 2


async def test_token_expiry_and_failed_mint(
    make_fleet: MakeFleet, redis_server: RedisServerProcess, namespace: str
) -> None:
    """An expired shared token is minted anew; a failed mint stores nothing, is shared with
    the tasks that waited for it, and only its class name travels for a foreign error; the
    failure is held in Redis for token_failure_hold, and once the hold passes, a refresh
    mints again."""
    # A hold no stall of a busy machine outlasts (a hold of 0.2 s, slept past, could run out
    # before the refresh that must be refused within it); its end is brought forward in
    # Redis (the key it lives in expires) instead of waited for in real time.
    hold = 60.0
    fleet = make_fleet(token_failure_hold=hold)
    await fleet.start()
    await fleet.tokens.put(StoredToken("old", time.time() - 1, None))
    assert await fleet.tokens.get() is None
    calls = 0

    async def broken() -> tuple[str, float, str | None]:
        nonlocal calls
        calls += 1
        await asyncio.sleep(0.01)
        raise RuntimeError("refused")

    results = await asyncio.gather(
        *(fleet.tokens.refresh(None, broken) for _ in range(4)), return_exceptions=True
    )
    assert calls == 1
    assert all(isinstance(r, RuntimeError) for r in results)

    async def works() -> tuple[str, float, str | None]:
        return "new", 60.0, None

    with pytest.raises(ZohoConvertError, match=r"failed \(RuntimeError\)") as caught:
        await fleet.tokens.refresh(None, works)  # within the hold: the failure is served
    assert "refused" not in str(caught.value)
    raw = Redis.from_url(redis_server.url, decode_responses=True)
    failure = f"{namespace}:token:failure"
    assert hold * 1000 - 30_000 < await raw.pttl(failure) <= hold * 1000  # held for the hold
    await raw.pexpire(failure, 1)  # the hold passes (Redis drops the failure, as at its end)

    async def hold_passed() -> bool:
        return await raw.exists(failure) == 0

    await _eventually(hold_passed)
    await raw.aclose()
    assert (await fleet.tokens.refresh(None, works)).token == "new"


async def test_failed_mint_is_shared_across_the_fleet(make_fleet: MakeFleet) -> None:
    """A refresh token Zoho refuses in one process is not tried again by the others: they
    raise the same AuthenticationError (status, code, message) without minting."""
    first, second = make_fleet(), make_fleet()
    await first.start()
    await second.start()

    async def refused() -> tuple[str, float, str | None]:
        raise AuthenticationError(200, "invalid_code", "Zoho refused the refresh token")

    with pytest.raises(AuthenticationError):
        await first.tokens.refresh(None, refused)

    async def never() -> tuple[str, float, str | None]:
        raise AssertionError("the fleet already knows this refresh fails")

    with pytest.raises(AuthenticationError) as caught:
        await second.tokens.refresh(None, never)
    assert (caught.value.status, caught.value.code) == (200, "invalid_code")
    assert caught.value.message == "Zoho refused the refresh token"
    assert first.tokens.mints + second.tokens.mints == 1


async def test_token_never_leaves_the_token_hash(
    make_fleet: MakeFleet, redis_server: RedisServerProcess, namespace: str
) -> None:
    """Status (and its JSON) give the expiry, never the token; the hash expires with it."""
    fleet = make_fleet()
    await fleet.start()
    await fleet.tokens.put(StoredToken(SECRET, time.time() + 120, "https://api"))
    status = await fleet.status()
    text = json.dumps(status.to_dict())
    assert SECRET not in text
    assert SECRET not in repr(status)
    assert SECRET not in repr(fleet)
    assert status.token_expires_in is not None
    assert 100 < status.token_expires_in <= 120
    raw = Redis.from_url(redis_server.url, decode_responses=True)
    assert 100_000 < await raw.pttl(f"{namespace}:token") <= 120_000
    await raw.aclose()


async def test_ledger_filters_claims_and_releases(make_fleet: MakeFleet) -> None:
    """Converted ids are known fleet-wide; claims are exclusive; a member releases only its
    own claims; a claim ends after its ttl; >500 ids go through in chunks."""
    first, second = make_fleet(), make_fleet()
    await first.start()
    await second.start()
    ids = [str(10**15 + n) for n in range(1200)]
    assert await first.ledger.claim("Quotes", ids, ttl=30) == (ids, [])
    assert await second.ledger.claim("Quotes", ids[:3], ttl=30) == ([], ids[:3])
    await second.ledger.release("Quotes", ids[:3])  # not its claims: nothing happens
    assert await second.ledger.claim("Quotes", ids[:1], ttl=30) == ([], ids[:1])
    await first.ledger.mark_converted("Quotes", ids[:700])
    new, known = await second.ledger.filter_known("Quotes", ids)
    assert (new, known) == (ids[700:], ids[:700])
    assert await second.ledger.claim("Quotes", ids[:2], ttl=30) == ([], ids[:2])
    await first.ledger.release("Quotes", ids[700:])
    assert await second.ledger.claim("Quotes", ids[700:702], ttl=0.05) == (ids[700:702], [])
    await asyncio.sleep(0.1)  # the claim's ttl passes (measured by Redis's clock)
    assert await first.ledger.claim("Quotes", ids[700:702], ttl=30) == (ids[700:702], [])
    assert (await first.status()).ledger == {"Quotes": 700}


async def test_a_member_gives_back_its_claims_later_never_extending_them(
    make_fleet: MakeFleet, redis_server: RedisServerProcess, namespace: str
) -> None:
    """``release_later`` makes a member's own claims end by then (at once with no delay),
    leaves other members' claims alone, and never makes a claim last longer."""
    first, second = make_fleet(), make_fleet()
    await first.start()
    await second.start()
    ids = [str(10**15 + n) for n in range(6)]
    assert await first.ledger.claim("Quotes", ids[:4], ttl=30) == (ids[:4], [])
    assert await second.ledger.claim("Quotes", ids[4:], ttl=30) == (ids[4:], [])
    await first.ledger.release_later("Quotes", [*ids[:2], *ids[4:]], 0.0)
    assert await second.ledger.claim("Quotes", ids[:3], ttl=30) == (ids[:2], ids[2:3])
    assert await first.ledger.claim("Quotes", ids[4:], ttl=30) == ([], ids[4:])
    raw = Redis.from_url(redis_server.url, decode_responses=True)
    claims = f"{namespace}:ledger:Quotes:claims"
    before = await raw.zscore(claims, ids[2])
    await first.ledger.release_later("Quotes", ids[2:4], 3600.0)
    assert await raw.zscore(claims, ids[2]) == before
    await first.ledger.release_later("Quotes", ids[2:3], 10.0)
    after = await raw.zscore(claims, ids[2])
    assert before - 21_000 < after < before - 19_000  # 30 s claims now end 10 s on
    await raw.aclose()


async def test_a_runs_claims_are_its_own_across_processes(
    make_fleet: MakeFleet, redis_server: RedisServerProcess, namespace: str
) -> None:
    """Claims made ``holding`` a run's name are that run's: another member, or another run
    of the same member, is held off; a later process resuming the run (the same name) claims
    them again, renewed, and releases them. A view made before its fleet started works once
    it has."""
    first, second = make_fleet(), make_fleet()
    run = first.ledger.holding("run-a")
    await first.start()
    await second.start()
    ids = [str(10**15 + n) for n in range(4)]
    assert await run.claim("Quotes", ids[:3], ttl=30) == (ids[:3], [])
    assert await first.ledger.claim("Quotes", ids[:1], ttl=30) == ([], ids[:1])
    assert await first.ledger.holding("run-b").claim("Quotes", ids[1:2], ttl=30) == (
        [],
        ids[1:2],
    )
    raw = Redis.from_url(redis_server.url, decode_responses=True)
    claims, owners = f"{namespace}:ledger:Quotes:claims", f"{namespace}:ledger:Quotes:owners"
    before = await raw.zscore(claims, ids[0])
    assert await raw.hget(owners, ids[0]) == "run:run-a"
    resumed = second.ledger.holding("run-a")  # the run, resumed by another process
    assert await resumed.claim("Quotes", ids[:2] + ids[3:], ttl=60) == (ids[:2] + ids[3:], [])
    assert await raw.zscore(claims, ids[0]) > before + 25_000  # renewed for 60 s
    await second.ledger.release("Quotes", ids[:1])  # the process's own: not these
    await resumed.release("Quotes", ids[:1])
    await resumed.release_later("Quotes", ids[1:2], 0.0)
    assert await first.ledger.claim("Quotes", ids[:3], ttl=30) == (ids[:2], ids[2:3])
    await raw.aclose()


async def test_credits_are_seen_fleet_wide(make_fleet: MakeFleet) -> None:
    """Rate headers one member saw are what another member reads."""
    first, second = make_fleet(), make_fleet()
    await first.start()
    await second.start()
    assert await second.credits.remaining() is None
    await first.credits.record({"X-API-CREDITS-REMAINING": "1234", "X-RATELIMIT-LIMIT": "99"})
    await first.credits.record({"Content-Type": "application/json"})
    assert await second.credits.remaining() == 1234
    status = await second.status()
    assert status.credits is not None
    assert (status.credits.remaining, status.credits.limit) == (1234, 99)
    json.dumps(status.to_dict())


async def test_fleet_requires_start(make_fleet: MakeFleet) -> None:
    """Using a fleet before start() says how to start it."""
    fleet = make_fleet()
    with pytest.raises(RuntimeError, match="not started"):
        async with fleet.limiter.slot():
            pass  # pragma: no cover


def test_fleet_refuses_bad_settings(redis_server: RedisServerProcess) -> None:
    """Nonsense settings are refused at construction."""
    with pytest.raises(ValueError):
        RedisFleet(redis_server.url, lease=0)
    with pytest.raises(ValueError):
        RedisFleet(redis_server.url, on_redis_loss="ignore")  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        RedisFleet(redis_server.url, max_concurrency=0)
    with pytest.raises(ValueError):
        RedisFleet(redis_server.url, namespace="")


async def test_status_of_a_fleet_not_started_only_reads(make_fleet: MakeFleet) -> None:
    """A monitor's status (a fleet never started) shows the members' limits and slots without
    overwriting the limit they configured; starting it afterwards still works."""
    member = make_fleet(max_concurrency=7)
    await member.start()
    monitor = make_fleet()  # max_concurrency 10 by default: must not become the fleet's
    async with member.limiter.slot():
        status = await monitor.status()
    assert status.slots["api"].limit == 7
    assert status.slots["api"].in_use == 1
    assert [h.process for h in status.slots["api"].holders] == [member.process]
    assert (await member.status()).slots["api"].limit == 7
    await monitor.start()  # connected by status() already: start() reuses the connection
    assert (await monitor.status()).slots["api"].limit == 10


async def test_status_of_an_unreachable_redis_names_host_and_port() -> None:
    """status() of a fleet not started raises FleetUnavailableError when Redis is not there."""
    fleet = RedisFleet("redis://:pw-secret@127.0.0.1:1/0", connect_timeout=1.0)
    with pytest.raises(FleetUnavailableError) as caught:
        await fleet.status()
    assert "127.0.0.1:1" in str(caught.value) and "pw-secret" not in str(caught.value)


async def test_a_job_given_up_at_the_poll_timeout_holds_on_to_its_claims(
    make_fleet: MakeFleet, redis_server: RedisServerProcess, namespace: str
) -> None:
    """A run's keeper renews the claims of a job it gave up on at the poll timeout (still
    running) for ``UNFINISHED_HOLD``, so another worker does not take its ids once the
    ordinary claim ends; a job left unfinished because the run stopped keeps its claim as
    it was (a resumed run takes it back)."""
    fleet = make_fleet()
    await fleet.start()
    keeper = LedgerKeeper(fleet.ledger.holding("run-a"), "Quotes")
    ids = tuple(str(10**15 + n) for n in range(4))
    events, part = await keeper.screen(0, ids, False, iter(range(1, 9)).__next__, 0.0, 30.0)
    assert (events, part) == ([], 0)
    raw = Redis.from_url(redis_server.url, decode_responses=True)
    claims = f"{namespace}:ledger:Quotes:claims"
    before = [await raw.zscore(claims, value) for value in ids]
    keeper(JobUnfinished(0, "j1", 2, None, ids[:2], timed_out=True))
    keeper(JobUnfinished(1, "j2", 2, None, ids[2:]))  # (the run stopped: not renewed)
    await keeper.flush()
    after = [await raw.zscore(claims, value) for value in ids]
    renewed = [end - start for start, end in zip(before[:2], after[:2], strict=True)]
    assert all(gain > UNFINISHED_HOLD * 1000 - 60_000 for gain in renewed)
    assert after[2:] == before[2:]
    other = make_fleet()
    await other.start()
    assert await other.ledger.claim("Quotes", list(ids), ttl=30) == ([], list(ids))
    await raw.aclose()


async def test_a_claim_renewed_or_extended_never_ends_sooner(
    make_fleet: MakeFleet, redis_server: RedisServerProcess, namespace: str
) -> None:
    """A run's own claim claimed again, or extended, ends no sooner than it did; ``extend``
    moves a claim's end on only for its holder, and never claims an id afresh."""
    fleet = make_fleet()
    await fleet.start()
    run, other = fleet.ledger.holding("run-a"), fleet.ledger.holding("run-b")
    ids = [str(10**15 + n) for n in range(4)]
    assert await run.claim("Quotes", ids[:3], ttl=3600) == (ids[:3], [])
    raw = Redis.from_url(redis_server.url, decode_responses=True)
    claims = f"{namespace}:ledger:Quotes:claims"
    before = [await raw.zscore(claims, value) for value in ids[:3]]
    assert await run.claim("Quotes", ids[:1], ttl=30) == (ids[:1], [])  # (renewed: not sooner)
    await run.extend("Quotes", ids[1:2], 30)
    await other.extend("Quotes", ids[2:3], 7200)  # (not its claim)
    assert [await raw.zscore(claims, value) for value in ids[:3]] == before
    await run.extend("Quotes", ids[2:], 7200)
    assert await raw.zscore(claims, ids[2]) > before[2] + 3_000_000
    assert await raw.zscore(claims, ids[3]) is None  # (never claimed: not claimed now)
    await raw.aclose()

"""Settling record by record in a fleet: the fleet's ledger learns the records converted
one at a time, so another worker never sends them again (real redis-server, real HTTP).

Skipped without redis-server (failed in CI, as the fleet tests are: ``redis_helpers``).
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator

import aiohttp
import attrs
import pytest
from fakes import deadline
from redis_helpers import need_redis_server
from settling_helpers import SteppedTime, Wire
from truth import assert_report_true, ledger

from zoho_convert import PollPolicy, RefreshTokenAuth, RetryPolicy, ZohoConvertClient
from zoho_convert.fleet.localserver import RedisServerProcess
from zoho_convert.simulator import Simulator, SimulatorConfig

pytest.importorskip("redis", reason="the fleet tests need redis-py (the dev extra installs it)")

from zoho_convert.fleet import RedisFleet

CASE_TIMEOUT = 60.0
RETRY = RetryPolicy(max_tries=8, initial=0.01, max_delay=0.5, deadline=100_000)
POLL = PollPolicy(initial=1.0, multiplier=2.0, max_interval=5.0, timeout=3_000)


@pytest.fixture(scope="module")
def redis_server() -> Iterator[RedisServerProcess]:
    """One redis-server for this module's tests."""
    need_redis_server("the fleet's record-by-record settling test")
    with RedisServerProcess() as server:
        yield server


@attrs.frozen
class Worker:
    fleet: RedisFleet
    client: ZohoConvertClient
    wire: Wire


@pytest.fixture
async def workers(
    redis_server: RedisServerProcess,
) -> AsyncIterator[tuple[Simulator, SteppedTime, Callable[..., Awaitable[Worker]]]]:
    """A simulator whose records convert when their job ends; and a maker of fleet workers
    (each its own fleet instance and client, one namespace, one clock), whose converting
    POSTs a ``Wire`` logs (and loses the mass converts its ``drop_before`` numbers)."""
    namespace = f"zc-test-{uuid.uuid4().hex[:12]}"
    time = SteppedTime()
    config = SimulatorConfig(seed=9, job_duration=20.0, reserve_ids=False, clock=time.clock)
    async with contextlib.AsyncExitStack() as stack:
        sim = await stack.enter_async_context(Simulator(config))

        async def make(drop_before: frozenset[int] = frozenset()) -> Worker:
            fleet = RedisFleet(redis_server.url, namespace=namespace)
            await fleet.start()
            stack.push_async_callback(fleet.close)
            wire = Wire(time, drop_before=drop_before)
            session = await stack.enter_async_context(aiohttp.ClientSession(middlewares=(wire,)))
            auth = RefreshTokenAuth(
                config.client_id, config.client_secret, config.refresh_token, accounts_url=sim.url
            )
            client = ZohoConvertClient(
                auth, api_domain=sim.url, session=session, fleet=fleet, retry=RETRY,
                sleep=time.sleep, clock=time.clock,
            )
            await stack.enter_async_context(client)
            return Worker(fleet, client, wire)

        yield sim, time, make


async def test_records_converted_one_at_a_time_are_in_the_fleet_ledger(
    workers: tuple[Simulator, SteppedTime, Callable[..., Awaitable[Worker]]],
) -> None:
    """A fleet worker whose two submits never reached Zoho settles them record by record (at
    least one of them): the fleet's ledger holds those records as converted, and a second
    worker given the same ids sends none of them (it reports them already converted)."""
    sim, time, make = workers
    ids = sim.state.create_records("Quotes", 600)
    first = await make(frozenset({2, 5}))
    async with deadline(CASE_TIMEOUT):
        report = await first.client.convert_many("Quotes", ids, to="Sales_Orders", poll=POLL)
    by_record = set(report.converted_by_record)
    lost = {i for post in first.wire.mass if post.lost for i in post.ids}
    # (Both lost batches go record by record, unless they fall due at the same moment: then
    # 100 records wait, too many for single converts to beat a mass resubmission's job, and
    # one of them goes as a mass convert. Which happens depends on the order the first
    # submits left in.)
    assert len(lost) == 100 and len(by_record) >= 50 and by_record <= lost
    assert by_record == {post.ids[0] for post in first.wire.single}
    time.now += 10_000
    assert_report_true(report, ledger(sim, "Quotes", ids))
    assert report.ok and not report.uncertain

    new, known = await first.fleet.ledger.filter_known("Quotes", ids)
    assert by_record <= set(known) and not new

    second = await make()
    async with deadline(CASE_TIMEOUT):
        again = await second.client.convert_many("Quotes", ids, to="Sales_Orders", poll=POLL)
    assert second.wire.posts == [], "the second worker sent records the fleet had converted"
    assert sorted(again.already_converted_ids) == sorted(ids)
    assert all(count == 1 for count in ledger(sim, "Quotes", ids).values())

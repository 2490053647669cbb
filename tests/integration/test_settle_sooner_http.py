"""Settling sooner, over real HTTP against the simulator (issue 11, speed under faults).

The transport marks when each request leaves, its request slot held; a run times jobs and
polls from that mark. Settling goes as soon as a batch is due, and never earlier than its
lost job's end: the simulator here converts a job's records only when the job ends and
accepts a second submit of ids whose job still runs (``reserve_ids=False``), so a batch
resubmitted too early shows in its ledger as a record converted twice. Every case judges the
report against that ledger, id by id (``truth.assert_report_true``).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from functools import partial
from typing import Any

import attrs
import pytest
from fakes import FakeClock, deadline, no_wait
from settling_helpers import SteppedTime, stepped_client
from truth import assert_report_true, convert_quotes, ledger

from zoho_convert import (
    PollPolicy,
    RetryPolicy,
    SettlePolicy,
    StaticToken,
    ZohoConvertClient,
)
from zoho_convert.api.limits import LocalLimiter
from zoho_convert.api.timing import forget_sent, last_sent
from zoho_convert.simulator import Faults, Simulator, SimulatorConfig

CASE_TIMEOUT = 60.0
RETRY = RetryPolicy(max_tries=8, initial=0.01, max_delay=0.5, deadline=100_000)
POLL = PollPolicy(initial=0.5, multiplier=2.0, max_interval=5.0, timeout=3_000)


@attrs.frozen
class Env:
    sim: Simulator
    client: ZohoConvertClient
    time: SteppedTime


Start = Callable[..., Awaitable[Env]]


@pytest.fixture
async def start() -> AsyncIterator[Start]:
    """A simulator (config fields and ``Faults`` as kwargs) and a client on one clock."""
    async with contextlib.AsyncExitStack() as stack:

        async def make(*, faults: Faults, retry: RetryPolicy = RETRY, **config: Any) -> Env:
            time = SteppedTime()
            cfg = SimulatorConfig(faults=faults, clock=time.clock, **config)
            sim = await stack.enter_async_context(Simulator(cfg))
            return Env(sim, await stepped_client(stack, sim, time, retry), time)

        yield make


convert = partial(convert_quotes, poll=POLL, timeout=CASE_TIMEOUT)


async def test_a_request_is_marked_sent_once_it_holds_its_request_slot() -> None:
    """The transport marks a request's departure when it holds its request slot, not when it
    began to wait for one (2.5 s here), and only in the task that sent it."""
    clock = FakeClock()
    limiter = LocalLimiter(1)
    async with contextlib.AsyncExitStack() as stack:
        sim = await stack.enter_async_context(Simulator(SimulatorConfig(seed=1)))
        client = ZohoConvertClient(
            StaticToken(sim.access_token),
            api_domain=sim.url,
            limiter=limiter,
            clock=clock,
            sleep=no_wait,
        )
        await stack.enter_async_context(client)
        ids = sim.state.create_records("Quotes", 1)
        job_id = await client.mass_convert("Quotes", ids, to="Sales_Orders")
        forget_sent()

        async def poll() -> tuple[float, float]:
            forget_sent()
            asked = clock()
            await client.mass_convert_status("Quotes", job_id)
            return asked, last_sent(-1.0)

        async with deadline(CASE_TIMEOUT):
            async with limiter.slot():  # another request holds the only slot
                task = asyncio.ensure_future(poll())
                for _ in range(10):
                    await asyncio.sleep(0)
                assert not task.done()
                clock.advance(2.5)
            asked, sent = await task
    assert (asked, sent) == (1000.0, 1002.5)
    assert last_sent(-1.0) == -1.0  # the other task's request is not this task's


# Seed 20 once converted records twice: the lost job was the first sent and the longest of
# its cohort, whose shorter jobs ended first and were taken for the longest.
@pytest.mark.parametrize("seed", range(1, 31))
async def test_exactly_once_under_the_fault_matrix_with_jobs_of_varied_length(
    start: Start, seed: int
) -> None:
    """Submits processed then answered 500, 429s, forgotten jobs and duplicate job ids,
    with jobs of 1.5-2.5 s converting only when they end: every lost batch is settled, no
    record converts twice, and the report matches the ledger id by id."""
    env = await start(
        seed=seed,
        job_duration=2.0,
        job_duration_jitter=0.5,
        reserve_ids=False,
        faults=Faults(
            rate_500=0.1,
            rate_429=0.1,
            fault_endpoints={"mass_convert"},
            fault_after_processing=True,
            forget_job_rate=0.05,
            duplicate_job_id_rate=0.05,
        ),
    )
    report, ids = await convert(env, 1500)
    counts = ledger(env.sim, "Quotes", ids)
    assert_report_true(report, counts)
    assert report.already_converted > 0  # lost batches were settled against the ledger
    assert len(report.uncertain) < 0.005 * len(ids)


async def test_a_batch_zoho_always_throttles_is_rejected_with_zohos_code(start: Start) -> None:
    """Every submit answered 429: each batch goes again, paced (0.1 s, doubling: nothing
    can be running, and a 429 uses no settling round), until its settling deadline (5 s),
    and is then rejected with TOO_MANY_REQUESTS, Zoho's code (not the error class), none
    converted."""
    env = await start(
        seed=4,
        faults=Faults(rate_429=1.0, fault_endpoints={"mass_convert"}),
        retry=RetryPolicy(max_tries=2, initial=0.01, deadline=1_000),
    )
    report, ids = await convert(env, 100, settle=SettlePolicy(max_rounds=1, deadline=5.0))
    assert_report_true(report, ledger(env.sim, "Quotes", ids))
    assert {r.code for r in report.rejected} == {"TOO_MANY_REQUESTS"}
    assert len(report.rejected) == 100 and not report.uncertain
    # 2 batches of 2 tries each, at 0, 0.1, 0.3, 0.7, 1.5 and 3.1 s (6.3 s is too late).
    assert env.sim.state.stats.rate_limited == 2 * 2 * 6

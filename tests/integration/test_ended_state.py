"""A job whose status names a state this client does not know, but whose words say the job
ended (CANCELLED, ABORTED, EXPIRED): what it did cannot be read, and it will not change
again. Polling it on to the poll timeout (15 minutes by default) learns nothing: the run stops
polling it at that status and reports the job unfinished (its ids never sent again: whoever
cancelled it may have meant it), so the run ends about when its other jobs do.

Over real HTTP against the simulator, on a virtual clock shared by client and simulator; the
report is judged against the simulator's ledger id by id.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from functools import partial
from typing import Any

import attrs
import pytest
from fakes import SummingTime
from truth import assert_report_true, client_of, convert_quotes, ledger

from zoho_convert import PollPolicy, ZohoConvertClient
from zoho_convert.simulator import Faults, Simulator, SimulatorConfig


@attrs.frozen
class Env:
    sim: Simulator
    client: ZohoConvertClient
    time: SummingTime


Start = Callable[..., Awaitable[Env]]


@pytest.fixture
async def start() -> AsyncIterator[Start]:
    """A simulator with the given ``Faults`` fields, and a client of it, on one clock."""
    async with contextlib.AsyncExitStack() as stack:

        async def make(**faults: Any) -> Env:
            vt = SummingTime()
            cfg = SimulatorConfig(seed=7, job_duration=2.0, faults=Faults(**faults), clock=vt.clock)
            sim = await stack.enter_async_context(Simulator(cfg))
            return Env(sim, await client_of(stack, sim, vt), vt)

        yield make


convert = partial(convert_quotes, poll=PollPolicy(), timeout=60.0)  # the default policy


async def test_a_job_that_ended_in_a_state_of_unknown_outcome_is_not_polled_to_the_timeout(
    start: Start,
) -> None:
    env = await start(malformed_final_rate=0.2, malformed_final_kind="state")
    sim = env.sim
    report, ids = await convert(env, 1000)
    assert report.unfinished_jobs, "no job ended CANCELLED"
    # Each such job was polled until its CANCELLED came, not on to the 900 s timeout.
    assert report.elapsed < 60.0
    polls = sim.state.stats.polls_per_job
    assert max(polls[job_id] for job_id in report.unfinished_jobs) <= 4
    assert_report_true(report, ledger(sim, "Quotes", ids))
    # Its ids were sent once: unfinished, not settled by sending them again (whoever ended
    # the job may have meant it).
    assert sim.state.stats.requests_by_endpoint["mass_convert"] == len(report.jobs)


async def test_a_state_of_another_name_that_says_the_job_runs_is_still_polled(
    start: Start,
) -> None:
    """Only a state whose words say the job ended stops the polls: the run's other jobs, and
    jobs answering counts that are no counts, go on as before (see test_exactly_once)."""
    env = await start(malformed_final_rate=0.2, malformed_final_kind="counts")
    sim = env.sim
    report, ids = await convert(env, 500)
    assert not report.unfinished_jobs
    assert_report_true(report, ledger(sim, "Quotes", ids))

"""Settling waits for the lost job, over real HTTP (issue 15, point 6).

The simulator runs with ``reserve_ids=False``: records convert only when their job finishes,
and a second submit of ids whose job is still running is accepted (both jobs then convert
them: the ledger counts 2). A run that resubmits a lost batch before the lost job ended
therefore converts records twice. Two ways a batch is lost, each made deterministic with an
aiohttp client middleware on the real connection to the simulator:

- the connection drops after the simulator processed the last batch's POST (the reply is
  lost; the run settles the batch itself);
- the process "dies" while that POST is in flight (the run's task is cancelled with the batch
  journaled ``submitting``), and ``resume`` settles it.

The client and the simulator share a virtual clock; the test reads the lost job's end off
the simulator and the time of every later POST of its ids off the middleware, and judges the
report against the simulator's ledger (``truth.assert_report_true``).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Literal

import aiohttp
import attrs
import pytest
from fakes import SummingTime, deadline
from settling_helpers import Wire, lost_job_end
from truth import assert_report_true, ledger

from zoho_convert import (
    ConversionReport,
    PollPolicy,
    RetryPolicy,
    SettlePolicy,
    StaticToken,
    ZohoConvertClient,
)
from zoho_convert.simulator import Simulator, SimulatorConfig

CASE_TIMEOUT = 30.0
DURATION = 12.0
RETRY = RetryPolicy(max_tries=4, initial=0.01, max_delay=0.1, deadline=1_000)
POLL = PollPolicy(initial=1.0, max_interval=2.0, adaptive=False)
Mode = Literal["fail_call", "fail_in_job"]


@attrs.frozen
class Env:
    sim: Simulator
    client: ZohoConvertClient
    time: SummingTime
    wire: Wire


Start = Callable[..., Awaitable[Env]]


@pytest.fixture
async def start() -> AsyncIterator[Start]:
    """A simulator whose records convert when their job finishes, and a client, one clock."""
    async with contextlib.AsyncExitStack() as stack:

        async def make(*, mode: Mode, lose: int, how: Literal["drop", "crash"]) -> Env:
            """Lose the mass-convert POST numbered ``lose`` (from 1) as ``how`` says."""
            vt = SummingTime()
            config = SimulatorConfig(
                seed=3, job_duration=DURATION, reserve_ids=False, already_converted=mode,
                clock=vt.clock,
            )
            sim = await stack.enter_async_context(Simulator(config))
            if how == "drop":
                wire = Wire(vt, drop_after=frozenset({lose}))
            else:
                wire = Wire(vt, crash_at=lose)
            session = await stack.enter_async_context(aiohttp.ClientSession(middlewares=(wire,)))
            client = ZohoConvertClient(
                StaticToken(sim.access_token), api_domain=sim.url, session=session,
                retry=RETRY, sleep=vt.sleep, clock=vt.clock,
            )
            await stack.enter_async_context(client)
            return Env(sim, client, vt, wire)

        yield make


def job_end(env: Env, ids: list[str]) -> float:
    """When the simulator's job for ``ids`` (the lost one, the first made) ended."""
    end = lost_job_end(env.sim, ids)
    assert end is not None, "the lost POST made no job"
    return end


def assert_waited(env: Env, number: int) -> None:
    """Every POST after the lost one (``posts[number]``) that sent any of its ids left at or
    after the lost job's end."""
    lost = env.wire.posts[number]
    end = job_end(env, lost.ids)
    later = [post for post in env.wire.posts[number + 1 :] if set(post.ids) & set(lost.ids)]
    assert later, "the lost batch was never resubmitted"
    early = [post.at for post in later if post.at < end]
    assert not early, f"resubmitted at {early} before the lost job ended at {end}"


def assert_true(
    env: Env, report: ConversionReport, ids: list[str], unknown: list[str] | None = None
) -> None:
    """The report against the ledger: the lost batch already converted, or, when its
    resubmission's job failed it and no single convert could tell who converted it,
    ``unknown`` (uncertain)."""
    env.time.now += 10_000  # let every job finish in the simulator
    counts = ledger(env.sim, "Quotes", ids)
    assert all(count == 1 for count in counts.values()), {i: n for i, n in counts.items() if n != 1}
    assert_report_true(report, counts)
    if unknown:
        assert sorted(report.uncertain) == sorted(unknown) and report.already_converted == 0
        return
    assert report.already_converted == 50
    assert report.ok, report


@pytest.mark.parametrize("by_record", [True, False], ids=["record-by-record", "mass"])
@pytest.mark.parametrize("mode", ["fail_call", "fail_in_job"], ids=["refuse", "in-job"])
async def test_lost_reply_is_resubmitted_only_after_its_job_ended(
    start: Start, mode: Mode, by_record: bool
) -> None:
    """The connection drops after the last batch's POST was processed: the run resubmits that
    batch (record by record, or as a mass convert) only once the lost job ended, and the
    ledger has every record exactly once (a mass resubmission's job failing them in-job,
    they are uncertain: no single convert is used to tell who converted them; found
    converted, they are looked at again, ``second_look``)."""
    env = await start(mode=mode, lose=3, how="drop")
    ids = env.sim.state.create_records("Quotes", 150)
    settle = SettlePolicy(record_by_record=by_record)
    async with deadline(CASE_TIMEOUT):
        report = await env.client.convert_many(
            "Quotes", ids, to="Sales_Orders", poll=POLL, max_pending_jobs=1, settle=settle
        )
    lost = env.wire.posts[2]
    assert lost.ids == ids[100:]
    assert_waited(env, 2)
    resubmitted = env.wire.posts[3:]
    assert {i for post in resubmitted for i in post.ids} == set(lost.ids)
    assert len(resubmitted[0].ids) == (1 if by_record else 50)
    if by_record:  # two single converts per record, found converted both times (second_look)
        assert sorted(post.ids[0] for post in resubmitted) == sorted(lost.ids * 2)
    assert report.converted_by_record == ()  # the lost POST converted them all
    unknown = mode == "fail_in_job" and not by_record  # (no single convert to check)
    assert_true(env, report, ids, list(lost.ids) if unknown else None)


@pytest.mark.parametrize("mode", ["fail_call", "fail_in_job"], ids=["refuse", "in-job"])
async def test_resumed_mid_submission_batch_waits_for_its_job(
    start: Start, mode: Mode, tmp_path: Path
) -> None:
    """The run dies while the last batch's POST is in flight (journaled submitting); resumed
    at once, it resubmits that batch only once the lost job ended: every record once."""
    env = await start(mode=mode, lose=3, how="crash")
    ids = env.sim.state.create_records("Quotes", 150)
    journal = str(tmp_path / "run.journal")
    async with deadline(CASE_TIMEOUT):
        task = asyncio.ensure_future(
            env.client.convert_many(
                "Quotes", ids, to="Sales_Orders", poll=POLL, max_pending_jobs=1, journal=journal
            )
        )
        env.wire.crash_task = task
        await asyncio.wait({task})
        assert task.cancelled()
        lost = env.wire.posts[2]
        assert lost.ids == ids[100:]
        assert env.time.now < job_end(env, lost.ids)  # it is still running
        env.wire.crash_at = 0
        report = await env.client.resume(journal, ids=ids, poll=POLL)
    assert_waited(env, 2)
    assert_true(env, report, ids)

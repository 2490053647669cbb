"""Settling record by record, over real HTTP against the simulator (issue 11).

A batch whose submission's outcome is unknown (a lost reply, a crash mid-submission) may be
settled with the single Convert Inventory Record call, one record at a time, instead of a
mass resubmission. The simulator here converts a job's records only when the job ends and
accepts a second conversion of ids whose job still runs (``reserve_ids=False``): a single
convert sent before the lost job ended would show in its ledger as a record converted
twice. A client middleware (``settling_helpers.Wire``) logs every converting POST on the
real connection, and loses some on purpose. Client and simulator share one virtual clock
that moves only when no request is in flight: measured round trips are 0, so once every
batch has been sent the engine prefers record by record (``SettlePolicy(record_by_record=
False)`` forces the mass path). Every report is judged against the simulator's ledger, id
by id (``truth.assert_report_true``).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from functools import partial
from pathlib import Path
from typing import Any, Literal

import aiohttp
import attrs
import pytest
from fakes import deadline
from settling_helpers import Post, SteppedTime, Wire, lost_job_end
from truth import assert_report_true, convert_quotes, ledger

from zoho_convert import (
    ConversionReport,
    ModuleRef,
    PollPolicy,
    RetryPolicy,
    SettlePolicy,
    StaticToken,
    ZohoConvertClient,
)
from zoho_convert.simulator import Faults, Simulator, SimulatorConfig
from zoho_convert.simulator.catalog import MODULES_BY_NAME, module_id

CASE_TIMEOUT = 60.0
DURATION = 20.0
RETRY = RetryPolicy(max_tries=8, initial=0.01, max_delay=0.5, deadline=100_000)
POLL = PollPolicy(initial=1.0, multiplier=2.0, max_interval=5.0, timeout=3_000)
Mode = Literal["fail_call", "fail_in_job"]
MODES = pytest.mark.parametrize("mode", ["fail_call", "fail_in_job"], ids=["refuse", "in-job"])


@attrs.frozen
class Env:
    sim: Simulator
    client: ZohoConvertClient
    time: SteppedTime
    wire: Wire

    def module_id(self, api_name: str) -> str:
        """The simulated org's id of a module (read in-process, no request)."""
        return module_id(self.sim.state.org_prefix, MODULES_BY_NAME[api_name])


Start = Callable[..., Awaitable[Env]]


@pytest.fixture
async def start() -> AsyncIterator[Start]:
    """A simulator whose records convert when their job ends (config fields as kwargs), and a
    client on one clock whose converting POSTs a ``Wire`` logs (``Wire`` fields as kwargs)."""
    async with contextlib.AsyncExitStack() as stack:

        async def make(
            *, faults: Faults | None = None, wire: dict[str, Any] | None = None, **config: Any
        ) -> Env:
            time = SteppedTime()
            config.setdefault("seed", 7)
            config.setdefault("job_duration", DURATION)
            config.setdefault("reserve_ids", False)
            cfg = SimulatorConfig(faults=faults or Faults(), clock=time.clock, **config)
            sim = await stack.enter_async_context(Simulator(cfg))
            log = Wire(time, **(wire or {}))
            session = await stack.enter_async_context(aiohttp.ClientSession(middlewares=(log,)))
            client = ZohoConvertClient(
                StaticToken(sim.access_token), api_domain=sim.url, session=session,
                retry=RETRY, sleep=time.sleep, clock=time.clock,
            )
            await stack.enter_async_context(client)
            return Env(sim, client, time, log)

        yield make


convert = partial(convert_quotes, poll=POLL, timeout=CASE_TIMEOUT)


def assert_true(env: Env, report: ConversionReport, ids: list[str]) -> None:
    """The report against the ledger: every record converted exactly once, the report true
    id by id, nothing left uncertain."""
    counts = ledger(env.sim, "Quotes", ids)
    assert all(count == 1 for count in counts.values()), {i: n for i, n in counts.items() if n != 1}
    assert_report_true(report, counts)
    assert report.ok and not report.uncertain, report


def lost_ids(posts: list[Post]) -> list[str]:
    """The ids of the POSTs whose reply the run never had."""
    return [i for post in posts if post.lost for i in post.ids]


def assert_no_mass_resubmission(env: Env, ids: list[str]) -> None:
    """Each id went in exactly one mass-convert POST: no batch was sent as a mass convert
    twice (the lost ones were settled record by record)."""
    sent = Counter(i for post in env.wire.mass for i in post.ids)
    assert sorted(sent) == sorted(ids) and set(sent.values()) == {1}


def assert_each_looked_at_by_record(env: Env, lost: list[str], report: ConversionReport) -> None:
    """The single converts are exactly one per lost id the run converted by record, and two
    per lost id found converted: the second a lost job's wait (here more than a job's
    duration) after the first (``second_look``)."""
    singles: dict[str, list[float]] = {}
    for post in env.wire.single:
        singles.setdefault(post.ids[0], []).append(post.at)
    assert sorted(singles) == sorted(lost), "single converts are not the lost ids"
    for value in report.converted_by_record:
        assert len(singles[value]) == 1, (value, singles[value])
    for value in report.already_converted_ids:
        first, second = singles[value]
        assert second - first > DURATION, (value, singles[value])


# -- 1. lost submit replies ------------------------------------------------------------------

SUBMITS = frozenset({"mass_convert"})
LOSSES = {
    "500-after": Faults(rate_500=0.2, fault_endpoints=SUBMITS, fault_after_processing=True),
    "drop-after": Faults(drop_rate=0.2, fault_endpoints=SUBMITS, fault_after_processing=True),
    "500-before": Faults(rate_500=0.2, fault_endpoints=SUBMITS),
    "drop-before": Faults(drop_rate=0.2, fault_endpoints=SUBMITS),
}


@MODES
@pytest.mark.parametrize("loss", sorted(LOSSES))
async def test_lost_submit_replies_are_settled_record_by_record(
    start: Start, mode: Mode, loss: str
) -> None:
    """Submits answered 500 or dropped (after the simulator processed them, or before): each
    lost batch is settled by single converts, after the lost job's end; ids the lost job
    converted are reported already converted (each found so twice, a lost job's wait
    apart), the others converted by record (one single convert each), each converted once."""
    env = await start(already_converted=mode, faults=LOSSES[loss])
    report, ids = await convert(env, 1000)
    lost = lost_ids(env.wire.mass)
    assert len(lost) >= 100, "the fault hardly struck"
    assert_no_mass_resubmission(env, ids)
    assert_each_looked_at_by_record(env, lost, report)
    processed = loss.endswith("-after")
    for post in env.wire.mass:
        if not post.lost:
            continue
        end = lost_job_end(env.sim, post.ids)
        if not processed:
            assert end is None, "a submit lost before processing made a job"
            continue
        assert end is not None
        early = [s.at for s in env.wire.single if s.ids[0] in post.ids and s.at < end]
        assert not early, f"single converts at {early}, before the lost job ended at {end}"
    if processed:
        assert sorted(report.already_converted_ids) == sorted(lost)
        assert report.already_converted == len(lost) and report.converted_by_record == ()
    else:
        assert sorted(report.converted_by_record) == sorted(lost)
        assert report.already_converted == 0 and report.already_converted_ids == ()
    assert report.converted == len(ids) - report.already_converted
    assert_true(env, report, ids)


@MODES
async def test_one_run_with_both_kinds_of_loss_reports_each_id_truly(
    start: Start, mode: Mode
) -> None:
    """One job at a time; the last two submits are dropped, the third before reaching Zoho,
    the fourth after it processed it (the client cannot tell them apart): no single convert
    leaves before the fourth's job ended; its ids end already converted, the third's
    converted by record."""
    wire = {"drop_before": {3}, "drop_after": {4}}
    env = await start(already_converted=mode, wire=wire)
    report, ids = await convert(env, 200, max_pending_jobs=1)
    before, after = env.wire.mass[2], env.wire.mass[3]
    assert after.outcome == before.outcome == "dropped"
    assert_no_mass_resubmission(env, ids)
    assert_each_looked_at_by_record(env, after.ids + before.ids, report)
    end = lost_job_end(env.sim, after.ids)
    assert end is not None and lost_job_end(env.sim, before.ids) is None
    assert min(s.at for s in env.wire.single) >= end
    assert sorted(report.already_converted_ids) == sorted(after.ids)
    assert sorted(report.converted_by_record) == sorted(before.ids)
    assert_true(env, report, ids)


# -- 2. single converts answered 500 ---------------------------------------------------------


@pytest.mark.parametrize("processed", [True, False], ids=["500-after", "500-before"])
async def test_a_single_convert_answered_500_goes_again_after_a_short_pause(
    start: Start, processed: bool
) -> None:
    """Single converts answered 500 (30 %, processed or not): each goes again after a short
    pause (well before a job could end), and every record ends converted once, none
    uncertain; one the 500ed call did convert is reported already converted (found so twice,
    ``second_look``: each 500 uses a round, so the run has rounds for the storm to strike
    both looks of a record)."""
    faults = Faults(rate_500=0.3, fault_endpoints={"convert"}, fault_after_processing=processed)
    lose = frozenset(range(1, 13, 2))  # every other batch's submit never reaches Zoho
    env = await start(faults=faults, wire={"drop_before": lose})
    settle = SettlePolicy(max_rounds=12)
    report, ids = await convert(env, 600, settle=settle)
    lost = lost_ids(env.wire.mass)
    assert len(lost) == 300
    failed = [post for post in env.wire.single if post.outcome == 500]
    assert len(failed) > 30, "the fault hardly struck"
    for post in failed:
        calls = [s for s in env.wire.single if s.ids == post.ids]
        later = calls[next(n for n, s in enumerate(calls) if s is post) + 1 :]
        assert later, f"{post.ids[0]} was never converted again after its 500"
        pause = later[0].at - post.at
        assert 0 < pause <= settle.min_wait < DURATION, f"went again after {pause} s"
    ok = {post.ids[0] for post in env.wire.single if post.outcome == 200}
    refused = {post.ids[0] for post in env.wire.single if post.outcome == 400}
    assert ok | refused == set(lost) and not ok & refused
    assert sorted(report.converted_by_record) == sorted(ok)
    assert sorted(report.already_converted_ids) == sorted(refused)
    if processed:  # a 500ed record is refused on its next call: converted by the first
        assert refused == {post.ids[0] for post in failed}
    else:
        assert not refused
    assert_true(env, report, ids)


async def test_a_single_convert_whose_connection_dropped_waits_a_jobs_duration(
    start: Start,
) -> None:
    """Single converts dropped after the simulator processed them (30 %): a dropped call
    goes again only after a job's duration (a transport failure is waited out like a lost
    job), is then refused as converted, and no record converts twice."""
    faults = Faults(drop_rate=0.3, fault_endpoints={"convert"}, fault_after_processing=True)
    env = await start(faults=faults, wire={"drop_before": frozenset({1, 3, 5})})
    report, ids = await convert(env, 300)
    dropped = [post for post in env.wire.single if post.outcome == "dropped"]
    assert len(dropped) > 10, "the fault hardly struck"
    for post in dropped:
        calls = [s for s in env.wire.single if s.ids == post.ids]
        later = calls[next(n for n, s in enumerate(calls) if s is post) + 1 :]
        assert later, f"{post.ids[0]} was never converted again after its drop"
        assert later[0].at - post.at >= DURATION, f"went again after {later[0].at - post.at} s"
    assert {post.ids[0] for post in dropped} <= set(report.already_converted_ids)
    assert_true(env, report, ids)


# -- 3. carry_over_tags ----------------------------------------------------------------------


@pytest.mark.parametrize("carry", [True, False])
async def test_single_converts_carry_the_runs_carry_over_tags(start: Start, carry: bool) -> None:
    """The single converts of a settling batch carry ``convert_to[0].carry_over_tags`` as the
    run's mass converts do: the run's value."""
    env = await start(wire={"drop_after": {2}})
    report, ids = await convert(env, 150, carry_over_tags=carry)
    assert env.wire.single, "no batch was settled record by record"
    for post in env.wire.single:
        assert post.body["data"][0]["convert_to"][0]["carry_over_tags"] is carry
    for post in env.wire.mass:
        assert post.body["convert_to"][0]["carry_over_tags"] is carry
    assert_true(env, report, ids)


# -- 4. runs the single convert cannot carry, or told not to use it --------------------------


@MODES
@pytest.mark.parametrize("option", ["assign_to", "related_modules", "record_by_record=False"])
async def test_runs_the_single_convert_cannot_carry_settle_by_mass_resubmission(
    start: Start, mode: Mode, option: str
) -> None:
    """A run with ``assign_to`` or ``related_modules`` (which the single convert cannot
    carry), or with ``SettlePolicy(record_by_record=False)``: no single convert is sent, the
    lost last batch is resubmitted as a mass convert once its job ended, every record
    converted once; refused as converted, already converted; failed inside the job (who
    converted them cannot be told without the single convert), uncertain."""
    env = await start(already_converted=mode, wire={"drop_after": {3}})
    options: dict[str, dict[str, Any]] = {
        "assign_to": {"assign_to": "2423488000000483001"},
        "related_modules": {"related_modules": [ModuleRef("Calls", env.module_id("Calls"))]},
        "record_by_record=False": {"settle": SettlePolicy(record_by_record=False)},
    }
    report, ids = await convert(env, 150, max_pending_jobs=1, **options[option])
    assert env.wire.single == []
    lost = env.wire.mass[2]
    assert lost.lost
    again = [post for post in env.wire.mass[3:] if set(post.ids) & set(lost.ids)]
    assert again and {i for post in again for i in post.ids} == set(lost.ids)
    end = lost_job_end(env.sim, lost.ids)
    assert end is not None and min(post.at for post in again) >= end
    assert report.converted_by_record == ()
    if mode == "fail_call":
        assert report.already_converted == len(lost.ids)
        return assert_true(env, report, ids)
    assert report.already_converted == 0 and sorted(report.uncertain) == sorted(lost.ids)
    counts = ledger(env.sim, "Quotes", ids)
    assert set(counts.values()) == {1}
    assert_report_true(report, counts)


# -- 5. resume -------------------------------------------------------------------------------


async def crash_then_resume(
    env: Env, ids: list[str], journal: str, number: int
) -> tuple[Post, ConversionReport]:
    """Run ``ids`` (50 a batch, one job at a time) until the run "dies" during mass-convert
    POST ``number`` (the wire's ``crash_at``), then resume the journal: that POST, and the
    resumed run's report."""
    async with deadline(CASE_TIMEOUT):
        task = asyncio.ensure_future(
            env.client.convert_many(
                "Quotes", ids, to="Sales_Orders", poll=POLL, max_pending_jobs=1, journal=journal
            )
        )
        env.wire.crash_task = task
        await asyncio.wait({task})
        assert task.cancelled()
        crashed = env.wire.mass[number - 1]
        assert crashed.outcome == "crashed" and crashed.ids == ids[50 * (number - 1) : 50 * number]
        env.wire.crash_at = 0
        report = await env.client.resume(journal, ids=ids, poll=POLL, max_pending_jobs=1)
    return crashed, report


@pytest.mark.parametrize("processed", [True, False], ids=["after-processing", "before-sending"])
async def test_a_batch_caught_mid_submission_is_settled_record_by_record_on_resume(
    start: Start, tmp_path: Path, processed: bool
) -> None:
    """The run dies while the second of four submits is in flight (journaled submitting);
    resumed, it sends the rest and settles that batch record by record (after its lost job's
    end), each record converted once (by one single convert, or found converted by two);
    resumed again, the finished journal replays its converted records: nothing is sent, the
    report is the same."""
    env = await start(wire={"crash_at": 2, "crash_before": not processed})
    ids = env.sim.state.create_records("Quotes", 200)
    journal = str(tmp_path / "run.journal")
    crashed, report = await crash_then_resume(env, ids, journal, 2)
    assert_no_mass_resubmission(env, ids)
    assert_each_looked_at_by_record(env, crashed.ids, report)
    end = lost_job_end(env.sim, crashed.ids)
    if processed:
        assert end is not None and min(s.at for s in env.wire.single) >= end
        assert sorted(report.already_converted_ids) == sorted(crashed.ids)
        assert report.converted_by_record == ()
    else:
        assert end is None
        assert sorted(report.converted_by_record) == sorted(crashed.ids)
        assert report.already_converted_ids == ()
    env.time.now += 10_000
    assert_true(env, report, ids)

    posts, served = len(env.wire.posts), env.sim.state.stats.requests_served
    async with deadline(CASE_TIMEOUT):
        again = await env.client.resume(journal, poll=POLL)
    assert len(env.wire.posts) == posts, "the finished journal sent a converting POST"
    assert env.sim.state.stats.requests_served == served, "the finished journal made a request"
    assert attrs.evolve(again, elapsed=0.0) == attrs.evolve(report, elapsed=0.0)


async def test_a_last_batch_caught_mid_submission_is_settled_record_by_record_on_resume(
    start: Start, tmp_path: Path
) -> None:
    """The run dies while its last submit is in flight (after the simulator processed it):
    the resumed session sends nothing else, so it has no round trip of its own to judge
    with; it uses the one the journal kept (with the longest job), and settles the batch
    record by record after its lost job's end, each record found converted twice, a lost
    job's wait apart."""
    env = await start(wire={"crash_at": 4, "crash_before": False})
    ids = env.sim.state.create_records("Quotes", 200)
    crashed, report = await crash_then_resume(env, ids, str(tmp_path / "run.journal"), 4)
    assert_no_mass_resubmission(env, ids)
    assert_each_looked_at_by_record(env, crashed.ids, report)
    end = lost_job_end(env.sim, crashed.ids)
    assert end is not None and min(s.at for s in env.wire.single) >= end
    assert sorted(report.already_converted_ids) == sorted(crashed.ids)
    env.time.now += 10_000
    assert_true(env, report, ids)

"""Exactly-once and a truthful report under the faults real fleets meet (issue 11).

Each case runs ``convert_many`` over real HTTP against a simulator whose jobs convert their
records when their time is up, polled or not (as Zoho does), and judges the report against the
simulator's ledger id by id (``truth.assert_report_true``). Client and simulator share a
virtual clock: job durations, retries, polls and settling waits cost no real time.
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
from collections.abc import AsyncIterator, Awaitable, Callable
from functools import partial
from pathlib import Path
from typing import Any

import attrs
import pytest
from fakes import SummingTime, deadline
from truth import RETRY, assert_report_true, client_of, convert_quotes, ledger

from zoho_convert import (
    PollPolicy,
    SettlePolicy,
    StaticToken,
    ZohoConvertClient,
)
from zoho_convert.bulk.events import BatchSubmitted, Event
from zoho_convert.simulator import Faults, Simulator, SimulatorConfig
from zoho_convert.simulator.state import CrmState

CASE_TIMEOUT = 60.0
POLL = PollPolicy(initial=0.5, multiplier=2.0, max_interval=5.0, timeout=3_000)




@attrs.frozen
class Env:
    sim: Simulator
    client: ZohoConvertClient
    time: SummingTime


Start = Callable[..., Awaitable[Env]]


@pytest.fixture
async def start() -> AsyncIterator[Start]:
    """A simulator (config fields and ``Faults`` fields as kwargs) and a client, one clock."""
    async with contextlib.AsyncExitStack() as stack:

        async def make(*, faults: Faults | None = None, **config: Any) -> Env:
            vt = SummingTime()
            config.setdefault("job_duration", 2.0)
            cfg = SimulatorConfig(seed=config.pop("seed", 11), faults=faults or Faults(),
                                  clock=vt.clock, **config)
            sim = await stack.enter_async_context(Simulator(cfg))
            return Env(sim, await client_of(stack, sim, vt), vt)

        yield make


convert = partial(convert_quotes, poll=POLL, timeout=CASE_TIMEOUT)


@pytest.mark.parametrize("reply", ["204", "invalid"])
async def test_forgotten_jobs_are_settled_and_the_run_goes_on(start: Start, reply: str) -> None:
    """A job whose status Zoho no longer answers (204, "The job_id is invalid") is lost, not
    fatal: its ids are settled by resubmission and the report names the lost jobs."""
    env = await start(faults=Faults(forget_job_rate=0.3, forget_reply=reply))  # type: ignore[arg-type]
    report, ids = await convert(env, 1000)
    assert report.lost_jobs, "the fault never struck"
    assert {job.reason.split(" (")[0] for job in report.lost_jobs} == {
        "Zoho no longer knows the job"
    }
    assert_report_true(report, ledger(env.sim, "Quotes", ids))
    assert report.ok  # lost jobs converted their records: the resubmission finds them done
    assert report.already_converted == sum(job.size for job in report.lost_jobs)


@pytest.mark.parametrize(
    ("mode", "by_record"),
    [("fail_call", True), ("fail_in_job", True), ("fail_in_job", False)],
    ids=["refuse", "in-job", "in-job-mass-only"],
)
async def test_lost_submit_replies_never_turn_into_failures(
    start: Start, mode: str, by_record: bool
) -> None:
    """Submits processed but answered 500 (15 %): the resubmission's refusals or in-job
    failures of already converted ids count as already converted, never as failed. A settling
    job's in-job failures are checked record by record (each refused as converted, so listed
    by id); without single converts (``record_by_record=False``), who converted them cannot
    be told: uncertain, never failed, never counted converted."""
    env = await start(
        already_converted=mode,
        faults=Faults(rate_500=0.15, fault_endpoints={"mass_convert"}, fault_after_processing=True),
    )
    settle = SettlePolicy(record_by_record=by_record)
    report, ids = await convert(env, 3000, settle=settle)
    assert report.failed == 0 and not report.rejected
    assert not [job for job in report.jobs if job.settling and not job.fully_converted]
    assert_report_true(report, ledger(env.sim, "Quotes", ids))
    if by_record:
        assert report.already_converted > 100
        assert len(report.already_converted_ids) == report.already_converted
        assert report.ok
    else:
        assert report.already_converted == 0 and len(report.uncertain) > 100


SUBMIT_ENDPOINT = {"Quotes": "mass_convert", "Leads": "lead_mass_convert"}


@pytest.mark.parametrize("module", ["Quotes", "Leads"])
@pytest.mark.parametrize("mode", ["fail_call", "fail_in_job"], ids=["refuse", "in-job"])
async def test_records_that_fail_for_their_own_reason_are_never_counted_converted(
    start: Start, module: str, mode: str
) -> None:
    """Submits processed but answered 500 (20 %) in a run where some records are locked or
    unapproved: a settling job fails those records as well as the ones its lost predecessor
    converted. Each is checked with the single convert (Convert Lead for Leads): a locked or
    unapproved record is rejected with Zoho's code, never counted as converted by the run."""
    ids = CrmState(SimulatorConfig(seed=11)).create_records(module, 600)
    locked, unapproved = frozenset(ids[3::20]), frozenset(ids[11::40])
    env = await start(
        already_converted=mode,
        locked_ids=locked,
        not_approved_ids=unapproved,
        faults=Faults(
            rate_500=0.2, fault_endpoints={SUBMIT_ENDPOINT[module]}, fault_after_processing=True
        ),
    )
    assert env.sim.state.create_records(module, len(ids)) == ids  # (the same seed's ids)
    options: dict[str, Any] = {} if module == "Leads" else {"to": "Sales_Orders"}
    async with deadline(CASE_TIMEOUT):
        report = await env.client.convert_many(module, ids, poll=POLL, **options)
    env.time.now += 10_000
    codes = {item.id: item.code for item in report.rejected}
    checked = {i for i in locked | unapproved if i in codes}
    assert checked, "no lost batch held a locked or unapproved record"
    assert all(codes[i] == ("RECORD_LOCKED" if i in locked else "NOT_APPROVED") for i in checked)
    assert not (locked | unapproved) & set(report.already_converted_ids)
    assert report.already_converted > 50
    assert_report_true(report, ledger(env.sim, module, ids))
    assert not report.uncertain


@pytest.mark.parametrize("module", ["Quotes", "Leads"])
async def test_leads_are_settled_by_mass_resubmission_never_by_convert_lead_for_speed(
    start: Start, module: str
) -> None:
    """Submits processed but answered 500, refused as converted when resubmitted: once the
    input has ended, lost Quotes batches are settled by single converts (faster, on this
    virtual clock), lost Leads batches by mass resubmission (Convert Lead costs 5 credits,
    and Zoho lets only 3 to 5 run at once): no Convert Lead is sent."""
    env = await start(
        already_converted="fail_call",
        faults=Faults(
            rate_500=0.2, fault_endpoints={SUBMIT_ENDPOINT[module]}, fault_after_processing=True
        ),
    )
    ids = env.sim.state.create_records(module, 600)
    options: dict[str, Any] = {} if module == "Leads" else {"to": "Sales_Orders"}
    async with deadline(CASE_TIMEOUT):
        report = await env.client.convert_many(module, ids, poll=POLL, **options)
    env.time.now += 10_000
    assert report.already_converted > 50
    singles = env.sim.state.stats.requests_by_endpoint
    if module == "Leads":
        assert singles["lead_convert"] == 0
    else:
        assert singles["convert"] > 0
    assert_report_true(report, ledger(env.sim, module, ids))
    assert report.ok


async def test_the_rest_of_a_refused_settling_batch_is_checked_by_single_converts(
    start: Start,
) -> None:
    """Submits processed but answered 500 (20 %), each resubmission refused naming one
    converted id: the rest of its batch is checked by single converts, not sent again one id
    per mass convert (278 mass converts for 1,000 quotes before, now under 40): nothing uncertain,
    the report true against the ledger."""
    env = await start(
        already_converted="fail_call",
        faults=Faults(rate_500=0.2, fault_endpoints={"mass_convert"}, fault_after_processing=True),
    )
    report, ids = await convert(env, 1000)
    requests = env.sim.state.stats.requests_by_endpoint
    assert report.already_converted > 100
    assert requests["mass_convert"] < 2 * len(ids) // 50  # batches, their lost replies' resends
    assert requests["convert"] >= report.already_converted - report.already_converted // 10
    assert_report_true(report, ledger(env.sim, "Quotes", ids))
    assert report.ok


async def test_duplicate_job_ids_are_never_taken_at_face_value(start: Start) -> None:
    """A submit answered with a job id the run already holds makes that batch uncertain and
    settled: no converted records claimed that never were."""
    env = await start(faults=Faults(duplicate_job_id_rate=0.2))
    report, ids = await convert(env, 2000)
    assert env.sim.state.stats.duplicate_job_ids > 0
    job_ids = [job.job_id for job in report.jobs]
    assert len(job_ids) == len(set(job_ids))
    assert_report_true(report, ledger(env.sim, "Quotes", ids))
    assert report.ok


async def test_final_counts_that_do_not_add_up_end_the_job_and_are_settled(start: Start) -> None:
    """A final status whose counts don't add up (or a null count) ends that job, once: it is
    reported lost with what it said, and its ids are settled against the ledger."""
    env = await start(faults=Faults(malformed_final_rate=0.3, malformed_final_kind="counts"))
    report, ids = await convert(env, 1000)
    assert report.lost_jobs
    assert all(job.last_status is not None for job in report.lost_jobs)
    assert all(not job.last_status.counts_consistent for job in report.lost_jobs)  # type: ignore[union-attr]
    polls = env.sim.state.stats.polls_per_job
    assert all(polls[job.job_id] <= 3 for job in report.lost_jobs)
    assert_report_true(report, ledger(env.sim, "Quotes", ids))
    assert report.ok


async def test_an_unknown_final_state_is_backed_off_not_stormed(start: Start) -> None:
    """A job stuck answering an unknown state (CANCELLED) is not polled at the fastest pace,
    taking slots from every other job: it is given up on at that state (see
    below), and reported unfinished."""
    env = await start(faults=Faults(malformed_final_rate=0.2, malformed_final_kind="state"))
    poll = PollPolicy(initial=0.5, multiplier=2.0, max_interval=30.0, timeout=600)
    report, ids = await convert(env, 1000, poll=poll)
    assert report.unfinished_jobs
    polls = env.sim.state.stats.polls_per_job
    # 600 s at a backing-off pace capped at 30 s: a few dozen polls, never hundreds.
    assert max(polls[job_id] for job_id in report.unfinished_jobs) <= 40
    assert_report_true(report, ledger(env.sim, "Quotes", ids))


async def test_a_job_ended_in_a_state_of_unknown_outcome_is_given_up_at_once(start: Start) -> None:
    """A state of another name whose words say the job ended (CANCELLED): what it did cannot be
    read, and it will not change again. The run stops polling the job at that status and
    reports it unfinished, its ids never sent again (whoever ended it may have meant it), so
    the run ends about when its other jobs do, not at the poll timeout (15 minutes)."""
    env = await start(faults=Faults(malformed_final_rate=0.2, malformed_final_kind="state"))
    sim = env.sim
    report, ids = await convert(env, 1000, poll=PollPolicy())
    assert report.unfinished_jobs, "no job ended CANCELLED"
    # Each such job was polled until its CANCELLED came, not on to the 900 s timeout.
    assert report.elapsed < 60.0
    polls = sim.state.stats.polls_per_job
    assert max(polls[job_id] for job_id in report.unfinished_jobs) <= 4
    assert_report_true(report, ledger(sim, "Quotes", ids))
    # Its ids were sent once: unfinished, not settled by sending them again (whoever ended
    # the job may have meant it).
    assert sim.state.stats.requests_by_endpoint["mass_convert"] == len(report.jobs)


async def test_a_final_status_with_bad_counts_is_not_given_up_as_ended(start: Start) -> None:
    """Only a state whose words say the job ended stops the polls: the run's other jobs, and
    jobs answering counts that are no counts, go on as before (settled as lost jobs)."""
    env = await start(faults=Faults(malformed_final_rate=0.2, malformed_final_kind="counts"))
    sim = env.sim
    report, ids = await convert(env, 500, poll=PollPolicy())
    assert not report.unfinished_jobs
    assert_report_true(report, ledger(sim, "Quotes", ids))


async def test_heavy_faults_leave_almost_nothing_uncertain(start: Start) -> None:
    """20 % 500s on every method and 30 % 429s: settling in rounds leaves < 0.5 % uncertain,
    and nothing converted twice."""
    env = await start(seed=5, faults=Faults(rate_500=0.2, rate_429=0.3))
    report, ids = await convert(env, 3000)
    assert len(report.uncertain) < 0.005 * len(ids)
    assert_report_true(report, ledger(env.sim, "Quotes", ids))


@pytest.mark.parametrize("reply", ["204", "invalid"])
async def test_resume_settles_a_journaled_job_zoho_has_since_forgotten(
    start: Start, tmp_path: Path, reply: str
) -> None:
    """A run stopped with jobs journaled as submitted; Zoho then forgets them (a poll answers
    204 or "The job_id is invalid"): the resumed run reports them lost, settles their ids
    against the ledger (no false success, no false failure) and finishes the rest."""
    env = await start(job_duration=30.0, faults=Faults(forget_reply=reply))  # type: ignore[arg-type]
    ids = env.sim.state.create_records("Quotes", 400)
    journal = str(tmp_path / "run.journal")
    submitted: list[str] = []

    def stop_after_three_jobs(event: Event) -> None:
        if isinstance(event, BatchSubmitted) and len(submitted) < 3:
            submitted.append(event.job_id)
            if len(submitted) == 3:
                asyncio.get_running_loop().call_soon(stopping.cancel)

    async def stand_still(delay: float) -> None:
        await asyncio.Event().wait()  # the first session never sleeps through a job's end

    first = ZohoConvertClient(
        StaticToken(env.sim.access_token), api_domain=env.sim.url, retry=RETRY,
        sleep=stand_still, clock=env.time.clock,
    )
    async with first, deadline(CASE_TIMEOUT):
        stopping = asyncio.ensure_future(
            first.convert_many(
                "Quotes", ids, to="Sales_Orders", poll=POLL, journal=journal,
                progress=stop_after_three_jobs, max_pending_jobs=3,
            )
        )
        await asyncio.wait({stopping})
    assert stopping.cancelled()
    with contextlib.closing(sqlite3.connect(f"file:{journal}?mode=ro", uri=True)) as db:
        journaled = db.execute("SELECT job_id FROM batch WHERE state = 'submitted'").fetchall()
    assert sorted(job_id for (job_id,) in journaled) == sorted(submitted)
    for job_id in submitted:
        env.sim.state.forget_job(job_id)

    async with deadline(CASE_TIMEOUT):
        report = await env.client.resume(journal, ids=ids, poll=POLL)
    env.time.now += 10_000

    assert sorted(job.job_id for job in report.lost_jobs) == sorted(submitted)
    assert all(job.reason.startswith("Zoho no longer knows the job") for job in report.lost_jobs)
    assert env.sim.state.stats.forgotten_polls >= len(submitted)
    assert_report_true(report, ledger(env.sim, "Quotes", ids))
    assert report.ok and report.total == len(ids)
    # The forgotten jobs did convert their records: the settling finds them converted.
    assert report.already_converted == 150

"""Settling waits for the lost job (issue 15, point 6).

A batch whose submission's outcome is unknown (a lost reply, a forgotten job, a crash while
its POST was in flight) may be a job still running at Zoho. Resubmitting its ids before that
job finished is only safe if Zoho reserves the ids of running jobs; where records convert
only when their job finishes (the fake's ``reserve_ids=False``, as the simulator's), an early
resubmission is accepted and both jobs convert the records: twice. So a run must resubmit
only once the lost job would have finished. These tests read that off the virtual clock (each
resubmission processed at or after the lost job's end) and off the ledger (every record
converted exactly once). Judged on the report and the fake's ledger and call log only.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import pytest
from fake_convert_api import Crash, FakeAPI, FakeJob

from zoho_convert.api.errors import ServerError, TransportError
from zoho_convert.api.polling import PollPolicy
from zoho_convert.bulk.convert import convert_many, resume
from zoho_convert.bulk.report import ConversionReport
from zoho_convert.bulk.settling import SettlePolicy

IDS = [str(6000 + i) for i in range(150)]
LAST = IDS[100:]  # the third batch: submitted last, with one batch in flight at a time
DURATION = 12.0
# Polls from 1 s after a submission: a forgotten job is found lost long before it ends.
EARLY_POLLS = PollPolicy(initial=1.0, max_interval=2.0, adaptive=False)


def lost_reply() -> ServerError:
    return ServerError(500, "INTERNAL_ERROR", "reply lost", maybe_processed=True)


def lost_job(api: FakeAPI) -> FakeJob:
    """The job made by the first processed submission of the last batch."""
    jobs = [job for job in api.jobs.values() if set(job.ids) == set(LAST)]
    assert jobs, "the last batch never made a job"
    return min(jobs, key=lambda job: job.created)


def assert_resubmitted_after(api: FakeAPI, job: FakeJob) -> None:
    """Every later submission of the lost job's ids reached Zoho at or after that job's end."""
    later = [
        call
        for call in api.calls[job.number + 1 :]
        if set(call.ids) & set(job.ids) and call.processed is not None
    ]
    assert later, "the lost batch was never resubmitted"
    early = [
        (call.number, call.processed)
        for call in later
        if call.processed is not None and call.processed < job.ends_at
    ]
    assert not early, f"resubmitted before the lost job ended at {job.ends_at}: {early}"


def assert_once(api: FakeAPI, converted: set[str]) -> None:
    api.finish_jobs()
    twice = api.converted_twice()
    assert not twice, f"{len(twice)} records converted twice, e.g. {twice[:3]}"
    assert {i for i, n in api.records.items() if n} == converted


def assert_settled(report: ConversionReport, *, already: int) -> None:
    assert report.total == 150 and report.accounted_for, report
    assert not report.uncertain and not report.rejected and report.failed == 0
    assert report.already_converted == already
    assert report.converted + report.already_converted == 150
    assert report.ok


def assert_settled_as_zoho_says(report: ConversionReport, mode: Mode, lost: list[str]) -> None:
    """Refused as converted, the lost batch's ids are already converted; failed inside the
    settling job, they are uncertain (this client has no single convert to tell whether the
    lost submission converted them or they failed for a reason of their own)."""
    if mode == "fail_call":
        return assert_settled(report, already=len(lost))
    assert report.total == 150 and report.accounted_for, report
    assert sorted(report.uncertain) == sorted(lost)
    assert not report.rejected and report.failed == 0 and report.already_converted == 0
    assert report.converted == 150 - len(lost)


Mode = Literal["fail_call", "fail_in_job"]


@pytest.mark.parametrize("mode", ["fail_call", "fail_in_job"], ids=["refuse", "in-job"])
@pytest.mark.parametrize("fault", ["lost-reply", "forgotten-job", "dropped-connection"])
async def test_settling_resubmits_only_after_the_lost_job_ended(mode: Mode, fault: str) -> None:
    """The last batch's submission is lost (reply lost, job forgotten, connection dropped
    after sending): its resubmission reaches Zoho only once the lost job ended, and every
    record is converted exactly once."""
    faults: dict[str, Any] = {
        "lost-reply": {"submit_faults_after": {2: lost_reply()}},
        "forgotten-job": {"forget_jobs": {2}},
        "dropped-connection": {
            "submit_faults_after": {2: TransportError("connection reset", sent=True)}
        },
    }[fault]
    api = FakeAPI(reserve_ids=False, already_converted=mode, duration=DURATION, **faults)
    report = await convert_many(
        api, "Quotes", IDS, to="Sales_Orders", max_pending_jobs=1, poll=EARLY_POLLS
    )
    job = lost_job(api)
    assert_resubmitted_after(api, job)
    assert_once(api, set(IDS))
    assert_settled_as_zoho_says(report, mode, job.ids)
    if fault == "forgotten-job":
        assert [lost.job_id for lost in report.lost_jobs] == [
            f"{5000000000000000000 + job.number}"
        ]


async def test_settling_waits_for_a_lost_job_that_fails() -> None:
    """Where Zoho reserves a running job's ids, a lost job that ends FAILED converted
    nothing: resubmitted after it ended, its records convert (not "already converted")."""
    api = FakeAPI(
        submit_faults_after={2: lost_reply()}, failed_jobs={2}, duration=DURATION
    )
    report = await convert_many(api, "Quotes", IDS, to="Sales_Orders", max_pending_jobs=1)
    assert_resubmitted_after(api, lost_job(api))
    assert_once(api, set(IDS))
    assert_settled(report, already=0)
    assert report.converted == 150


async def test_with_no_job_duration_known_settling_waits_min_wait() -> None:
    """A run whose only submission lost its reply knows no job duration: it waits the
    policy's min_wait before resubmitting (set here longer than the lost job runs)."""
    api = FakeAPI(reserve_ids=False, submit_faults_after={0: lost_reply()}, duration=DURATION)
    report = await convert_many(
        api, "Quotes", IDS[:50], to="Sales_Orders", settle=SettlePolicy(min_wait=DURATION + 1)
    )
    job = api.jobs[f"{5000000000000000000}"]
    assert_resubmitted_after(api, job)
    assert_once(api, set(IDS[:50]))
    assert report.ok and report.already_converted == 50 and report.total == 50


@pytest.mark.parametrize("mode", ["fail_call", "fail_in_job"], ids=["refuse", "in-job"])
@pytest.mark.parametrize("delay", [0.0, 4.0], ids=["at-once", "4s-later"])
async def test_resume_of_a_batch_caught_mid_submission_waits_for_its_job(
    tmp_path: Path, mode: Mode, delay: float
) -> None:
    """A run killed while the last batch's POST was in flight (its job exists, the journal says
    submitting) is resumed: the batch is resubmitted only once that job ended (the resumed run
    knows from the journal how long jobs take), and every record converts exactly once."""
    path = str(tmp_path / "run.journal")
    crash = Crash(lambda call: IDS[100] in call.ids)
    api = FakeAPI(
        reserve_ids=False, already_converted=mode, duration=DURATION, on_processed=crash
    )
    await crash.run(
        convert_many(api, "Quotes", IDS, to="Sales_Orders", journal=path, max_pending_jobs=1)
    )
    job = lost_job(api)
    assert not job.finished
    api.time.now += delay  # the restart takes a while, less than the lost job still runs

    report = await resume(api, path)

    assert_resubmitted_after(api, job)
    assert_once(api, set(IDS))
    assert_settled_as_zoho_says(report, mode, job.ids)

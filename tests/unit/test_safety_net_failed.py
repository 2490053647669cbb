"""Failed records, through convert_many and through resume (issue 15, points 1 and 8).

Jobs that end FAILED or with ``failed_count`` > 0 must be reported as failed (the run not
``ok``), keep their ids, and add up, whether the run sees them live or a resumed run reads
them back from the journal. A settling job's in-job failures are records the run's own lost
submission converted: ``already_converted``, never ``failed``. Judged on the report and on
the fake's ledger only, so the tests survive a rewrite of the engine.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from fake_convert_api import Crash, FakeAPI

from zoho_convert.api.errors import ServerError
from zoho_convert.api.models import JobState
from zoho_convert.bulk.convert import convert_many, resume
from zoho_convert.bulk.report import ConversionReport

IDS = [str(7000 + i) for i in range(150)]
BATCHES = [IDS[0:50], IDS[50:100], IDS[100:150]]


def lost_reply() -> ServerError:
    return ServerError(500, "INTERNAL_ERROR", "reply lost", maybe_processed=True)


def assert_counts_add_up(report: ConversionReport) -> None:
    """Every id in one place, each job's counts adding up, the run's counts their sums."""
    assert report.accounted_for, report
    for job in report.jobs:
        status = job.status
        assert status is not None and status.is_final, job
        assert status.total_count == job.size
        assert (
            (status.converted_count or 0)
            + (status.failed_count or 0)
            + (status.not_converted_count or 0)
            == job.size
        ), job
    live = [job for job in report.jobs if not job.settling]
    settling = [job for job in report.jobs if job.settling]
    assert report.converted == sum(job.status.converted_count or 0 for job in report.jobs)  # type: ignore[union-attr]
    assert report.failed == sum(job.status.failed_count or 0 for job in live)  # type: ignore[union-attr]
    in_jobs = sum(job.status.failed_count or 0 for job in settling)  # type: ignore[union-attr]
    assert report.already_converted == in_jobs + len(report.already_converted_ids)


def job_of(report: ConversionReport, ids: list[str]) -> Any:
    """The report's outcome of the (live) job holding exactly ``ids``."""
    found = [job for job in report.jobs if set(job.ids) == set(ids) and not job.settling]
    assert len(found) == 1, (ids[:3], report.jobs)
    return found[0]


def assert_ledger(api: FakeAPI, converted: set[str], failed: set[str]) -> None:
    """The fake's ledger: ``converted`` once each, ``failed`` never."""
    api.finish_jobs()
    assert not api.converted_twice()
    assert {i for i, n in api.records.items() if n} == converted
    assert not failed & set(api.records.elements())


# -- FAILED jobs and failed counts in a live run (point 8) --------------------------------------


async def test_failed_jobs_and_failed_records_are_failed_not_converted() -> None:
    """A FAILED job, a job with 5 failed records and a failing id count as failed, keep their
    ids, make the run not ok, and add up; the fully converted job keeps no ids."""
    api = FakeAPI(
        failed_jobs={1}, job_failures={2: 5}, failing_ids={BATCHES[0][7]}, max_concurrency=1
    )
    report = await convert_many(
        api, "Quotes", IDS + [str(9000 + i) for i in range(50)], to="Sales_Orders",
        max_pending_jobs=1,
    )
    assert report.total == 200
    assert report.failed == 1 + 50 + 5
    assert report.converted == 200 - 56
    assert report.not_converted == 0 and not report.rejected and not report.uncertain
    assert report.already_converted == 0
    assert not report.ok
    assert_counts_add_up(report)
    failed_job = job_of(report, BATCHES[1])
    assert failed_job.status.state is JobState.FAILED
    assert failed_job.status.failed_count == 50
    assert list(failed_job.ids) == BATCHES[1]
    five = job_of(report, BATCHES[2])
    assert five.status.state is JobState.COMPLETED and five.status.failed_count == 5
    assert list(five.ids) == BATCHES[2]
    assert list(job_of(report, BATCHES[0]).ids) == BATCHES[0]
    clean = [job for job in report.jobs if job.fully_converted]
    assert len(clean) == 1 and clean[0].ids == ()
    failed = {BATCHES[0][7], *BATCHES[1], *BATCHES[2][-5:]}
    assert_ledger(api, set(IDS + [str(9000 + i) for i in range(50)]) - failed, failed)


@pytest.mark.parametrize("reserve_ids", [True, False], ids=["reserving", "on-finish"])
async def test_settling_job_failures_without_a_single_convert_are_uncertain_never_failed(
    reserve_ids: bool,
) -> None:
    """A lost reply settled by a resubmission whose records fail inside the job (Zoho's
    in-job reading of "already converted"), on a client without the single convert to check
    them: whether the lost submission converted them or they failed for a reason of their
    own cannot be told, so they are uncertain (never failed, never counted converted)."""
    api = FakeAPI(
        submit_faults_after={1: lost_reply()},
        already_converted="fail_in_job",
        reserve_ids=reserve_ids,
        duration=5.0,
    )
    report = await convert_many(api, "Quotes", IDS, to="Sales_Orders")
    assert report.failed == 0 and report.already_converted == 0
    assert sorted(report.uncertain) == sorted(api.submitted_batches[1])
    assert report.converted == 100
    assert not report.ok and report.accounted_for
    assert_counts_add_up(report)
    assert not [job for job in report.jobs if job.settling]
    assert [call.ids for call in api.calls].count(api.submitted_batches[1]) == 2  # once more
    assert_ledger(api, set(IDS), set())


async def test_lost_job_that_failed_is_converted_by_the_settling_job() -> None:
    """A lost reply whose job FAILED: the settling resubmission (after that job ended)
    converts those records, so they count as converted, neither already converted nor
    failed, and the ledger agrees."""
    api = FakeAPI(
        submit_faults_after={2: lost_reply()},
        failed_jobs={2},
        already_converted="fail_in_job",
        duration=5.0,
        max_concurrency=1,
    )
    report = await convert_many(api, "Quotes", IDS, to="Sales_Orders", max_pending_jobs=1)
    assert report.converted == 150 and report.failed == 0 and report.already_converted == 0
    assert report.ok, report
    assert_counts_add_up(report)
    assert_ledger(api, set(IDS), set())


# -- failed records read back by resume (point 1) -----------------------------------------------


@pytest.mark.parametrize("kind", ["failed_count-5", "FAILED-job"])
@pytest.mark.parametrize("crash_at", ["later-submit", "while-polling"])
async def test_resume_keeps_failed_records_of_finished_jobs(
    tmp_path: Path, kind: str, crash_at: str
) -> None:
    """A run with a failed job is killed and resumed: the resumed report counts the failed
    records as failed (not converted), is not ok, keeps the job's ids, and adds up; whether
    the job finished before the crash (read back from the journal) or after it (polled by the
    resumed run)."""
    path = str(tmp_path / "run.journal")
    # (Job 0's: batch 0 is answered before submit 2 leaves. A batch answered while submit 2
    # was in flight may hold its job's id: see the test after this one.)
    faults: dict[str, Any] = {"job_failures": {0: 5}} if kind == "failed_count-5" else {
        "failed_jobs": {0}
    }
    # later-submit: one batch at a time, so jobs 0 and 1 are finished and journaled when
    # submit 2 dies. while-polling: three batches in flight and no job finishing, so the
    # crash on submit 2 finds jobs 0 and 1 still running (the resumed run polls them).
    pending = 1 if crash_at == "later-submit" else 3
    crash = Crash(lambda call: call.number == 2)
    api = FakeAPI(on_processed=crash, duration=20.0, **faults)
    api.paused = crash_at == "while-polling"
    await crash.run(
        convert_many(
            api, "Quotes", IDS, to="Sales_Orders", journal=path, max_pending_jobs=pending
        )
    )
    finished_before = sum(job.finished for job in api.jobs.values())
    assert finished_before == (2 if crash_at == "later-submit" else 0)
    api.paused = False
    if kind == "failed_count-5":
        failed_batch, failed_ids = api.calls[0].ids, api.calls[0].ids[-5:]
    else:
        failed_batch = failed_ids = api.calls[0].ids
    failed = len(failed_ids)
    landed = api.calls[2].ids  # its POST was processed just before the crash

    report = await resume(api, path)

    assert report.total == 150 and report.input_complete
    assert report.failed == failed
    assert report.converted == 150 - failed - 50
    assert sorted(report.already_converted_ids) == sorted(landed)
    assert not report.ok
    assert_counts_add_up(report)
    outcome = job_of(report, failed_batch)
    assert list(outcome.ids) == failed_batch
    assert outcome.status.failed_count == failed
    assert_ledger(api, set(IDS) - set(failed_ids), set(failed_ids))

    # Resuming the finished journal again reads the same failures back.
    again = await resume(api, path)
    assert (again.failed, again.converted, again.ok) == (failed, report.converted, False)
    assert list(job_of(again, failed_batch).ids) == failed_batch
    assert_counts_add_up(again)


async def test_resume_doubts_a_failed_job_answered_while_the_crashed_submission_was_in_flight(
    tmp_path: Path,
) -> None:
    """Three batches in flight; batch 1 is answered after submit 2 left, and the run dies with
    submit 2 processed but unanswered. Zoho may have given submit 2's job id to batch 1, so
    batch 1's FAILED job may not be its own: resumed, its records are not counted failed (with
    no single convert to check them, they end uncertain), and the ledger agrees none of them
    was converted twice or reported converted."""
    path = str(tmp_path / "run.journal")
    crash = Crash(lambda call: call.number == 2)
    api = FakeAPI(on_processed=crash, duration=20.0, failed_jobs={1})
    api.paused = True
    await crash.run(
        convert_many(api, "Quotes", IDS, to="Sales_Orders", journal=path, max_pending_jobs=3)
    )
    api.paused = False
    doubted = api.calls[1].ids

    report = await resume(api, path)

    assert report.failed == 0
    assert set(doubted) <= set(report.uncertain)
    assert not report.ok and report.accounted_for
    assert_counts_add_up(report)
    assert_ledger(api, set(IDS) - set(doubted), set(doubted))

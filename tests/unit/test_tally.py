"""The report folded from a run's events: every count and every listed id, one event at a time."""

from __future__ import annotations

from zoho_convert.api.models import JobState, JobStatus
from zoho_convert.bulk.events import (
    BatchGaveUp,
    BatchRead,
    IdsAlreadyConverted,
    IdsRefused,
    IdsRejected,
    InputEnded,
    JobFinished,
    JobLost,
    JobUnfinished,
    RequestsCounted,
    RunStopped,
)
from zoho_convert.bulk.report import ConversionReport, JobOutcome, LostJob, RejectedId
from zoho_convert.bulk.tally import Tally

COMPLETED = JobState.COMPLETED


def ids(first: int, count: int) -> tuple[str, ...]:
    return tuple(str(first + n) for n in range(count))


def status(total: int | None, converted: int, not_converted: int, failed: int) -> JobStatus:
    return JobStatus(COMPLETED, total, converted, not_converted, failed)


def report_of(tally: Tally, requests: int = 0) -> ConversionReport:
    return tally.report(module="Quotes", to="Sales_Orders", requests=requests, elapsed=1.5)


def test_a_fresh_tally_reports_nothing() -> None:
    """No event: every count is zero, every list empty, and the input is not known complete."""
    tally = Tally()
    assert (tally.read, tally.jobs_done, tally.settled) == (0, 0, 0)
    report = report_of(tally)
    assert (report.total, report.converted, report.failed, report.not_converted) == (0, 0, 0, 0)
    assert report.duplicates == 0
    assert report.already_converted == 0
    assert report.requests == 0
    assert report.input_complete is False
    assert report.rejected == report.uncertain == report.unfinished == ()
    assert report.jobs == report.lost_jobs == report.already_converted_ids == ()
    assert (report.module, report.to, report.elapsed) == ("Quotes", "Sales_Orders", 1.5)


def test_batches_read_and_refused_ids_make_the_total() -> None:
    """Every id read or refused at reading counts once in the total; duplicates are the
    latest count the reader gave (not a sum)."""
    tally = Tally()
    tally(BatchRead(0, ids(1, 50), read=50, position=50, duplicates=2))
    tally(BatchRead(1, ids(51, 20), read=20, position=70, duplicates=3))
    bad = (RejectedId("x", "INVALID_ID", "not an id"), RejectedId("y", "INVALID_ID", "nope"))
    tally(IdsRefused(bad))
    report = report_of(tally)
    assert report.total == 72
    assert report.duplicates == 3
    assert report.rejected == bad
    assert report.input_complete is False
    tally(InputEnded(position=72, duplicates=4))
    assert report_of(tally).duplicates == 4
    assert report_of(tally).input_complete is True


def test_a_finished_job_adds_its_counts_and_keeps_ids_only_when_not_fully_converted() -> None:
    """A fully converted job keeps no ids; one with failures keeps them for someone to check."""
    tally = Tally()
    tally(JobFinished(0, "j0", 50, status(50, 50, 0, 0), ids(1, 50)))
    tally(JobFinished(1, "j1", 10, status(10, 6, 3, 1), ids(100, 10)))
    tally(JobFinished(2, "j2", 10, status(10, 6, 2, 2), ids(200, 10)))
    report = report_of(tally)
    assert (report.converted, report.not_converted, report.failed) == (62, 5, 3)
    assert report.already_converted == 0
    assert report.jobs == (
        JobOutcome("j0", 50, status(50, 50, 0, 0)),
        JobOutcome("j1", 10, status(10, 6, 3, 1), ids(100, 10)),
        JobOutcome("j2", 10, status(10, 6, 2, 2), ids(200, 10)),
    )


def test_failures_inside_a_settling_job_are_already_converted_not_failed() -> None:
    """A resubmission after a lost reply fails the records the lost job converted: those are
    reported already converted, and the job is marked settling."""
    tally = Tally()
    tally(JobFinished(3, "j3", 5, status(5, 2, 0, 3), ids(1, 5), settling=True))
    report = report_of(tally)
    assert (report.converted, report.failed, report.already_converted) == (2, 0, 3)
    assert report.jobs[0].settling is True
    assert report.jobs[0].ids == ids(1, 5)


def test_counts_of_a_job_whose_total_is_not_its_size_are_fitted_to_its_size() -> None:
    """Zoho's counts for the wrong total cannot be trusted: none counts beyond the job's size,
    the rest is not converted, and the outcome keeps the ids and Zoho's own status."""
    tally = Tally()
    reported = status(80, 70, 0, 10)
    tally(JobFinished(0, "j0", 50, reported, ids(1, 50)))
    report = report_of(tally)
    assert (report.converted, report.failed, report.not_converted) == (50, 0, 0)
    assert report.jobs == (JobOutcome("j0", 50, reported, ids(1, 50)),)

    tally = Tally()
    tally(JobFinished(0, "j0", 50, status(None, 30, 0, 40), ids(1, 50)))
    report = report_of(tally)
    assert (report.converted, report.failed, report.not_converted) == (30, 20, 0)

    tally = Tally()
    tally(JobFinished(0, "j0", 50, JobStatus(COMPLETED, 40, 20, None, 5), ids(1, 50)))
    report = report_of(tally)
    assert (report.converted, report.failed, report.not_converted) == (20, 5, 25)

    tally = Tally()
    tally(JobFinished(0, "j0", 50, JobStatus(COMPLETED, 40), ids(1, 50)))
    report = report_of(tally)
    assert (report.converted, report.failed, report.not_converted) == (0, 0, 50)


def test_a_job_with_every_count_missing_counts_nothing_converted() -> None:
    """Missing counts of a job of the right size count as zero, never as converted."""
    tally = Tally()
    tally(JobFinished(0, "j0", 4, JobStatus(COMPLETED, 4), ids(1, 4)))
    report = report_of(tally)
    assert (report.converted, report.failed, report.not_converted) == (0, 0, 0)
    assert report.jobs[0].ids == ids(1, 4)


def test_rejected_already_converted_unfinished_lost_and_given_up_ids_are_listed() -> None:
    """Each kind of outcome lands in its own list of the report, in the order of the events."""
    tally = Tally()
    refused = (RejectedId("7", "NOT_APPROVED", "not approved"),)
    tally(IdsRejected(0, refused))
    tally(IdsAlreadyConverted(1, ("8", "9")))
    in_progress = JobStatus(JobState.IN_PROGRESS, 3, 1, 2, 0)
    tally(JobUnfinished(2, "j2", 3, in_progress, ("10", "11", "12"), settling=True))
    tally(JobLost(3, "j3", 4, "Zoho forgot the job", in_progress))
    tally(BatchGaveUp(4, ("13", "14"), "ServerError: INTERNAL_ERROR"))
    report = report_of(tally)
    assert report.rejected == refused
    assert report.already_converted_ids == ("8", "9")
    assert report.already_converted == 2
    assert report.unfinished == ("10", "11", "12")
    assert report.jobs == (JobOutcome("j2", 3, in_progress, ("10", "11", "12"), settling=True),)
    assert report.lost_jobs == (LostJob("j3", 4, "Zoho forgot the job", in_progress),)
    assert report.uncertain == ("13", "14")


def test_a_stopped_run_lists_what_it_never_submitted_and_what_it_cannot_vouch_for() -> None:
    """Ids never submitted are rejected NOT_SUBMITTED with the stop's reason (a default one
    when none is given); ids whose submission may have reached Zoho are uncertain."""
    tally = Tally()
    tally(RunStopped(not_submitted=("1", "2"), uncertain=("3",), reason="AuthenticationError"))
    tally(RunStopped(not_submitted=("4",)))
    report = report_of(tally)
    assert report.rejected == (
        RejectedId("1", "NOT_SUBMITTED", "AuthenticationError"),
        RejectedId("2", "NOT_SUBMITTED", "AuthenticationError"),
        RejectedId("4", "NOT_SUBMITTED", "the run stopped"),
    )
    assert report.uncertain == ("3",)


def test_requests_of_earlier_sessions_add_to_this_sessions() -> None:
    """A resumed run reports every request its sessions made."""
    tally = Tally()
    tally(RequestsCounted(7))
    tally(RequestsCounted(5))
    assert report_of(tally, requests=3).requests == 15


def test_live_counts_follow_the_run_for_a_progress_display() -> None:
    """``read`` is the reader's growing total, ``jobs_done`` the finished jobs, ``settled``
    every id whose outcome is known (already converted ones included)."""
    tally = Tally()
    tally(BatchRead(0, ids(1, 50), read=50, position=50, duplicates=0))
    tally(BatchRead(1, ids(51, 50), read=101, position=102, duplicates=1))
    tally(JobFinished(0, "j0", 40, status(40, 35, 3, 2), ids(1, 40)))
    tally(JobFinished(1, "j1", 10, status(10, 10, 0, 0), ids(41, 10)))
    tally(JobUnfinished(2, "j2", 50, None, ids(51, 50)))
    tally(IdsAlreadyConverted(2, ("200",)))
    tally(IdsRejected(3, (RejectedId("201", "NOT_APPROVED", "no"),)))
    tally(BatchGaveUp(4, ("202", "203"), "lost"))
    assert (tally.read, tally.jobs_done, tally.already_converted) == (101, 2, 1)
    assert tally.settled == 45 + 3 + 2 + 1 + 1 + 2

"""Lost jobs: what a job whose outcome cannot be read leaves to settle, and what a job seen
running before Zoho forgot it tells of how long jobs take.

``RunMachine`` (``machine.py``) inherits these decisions; ``settle_plan.py`` decides when the
ids they park go again (``queued_jobs.py``: not while a queue may still hold a lost job). No I/O.
"""

from __future__ import annotations

import math

from zoho_convert.api.models import JobState, JobStatus
from zoho_convert.bulk.events import BatchUncertain, Event, JobLost, LongestJob
from zoho_convert.bulk.queued_jobs import QueuedJobs

__all__ = ["LostJobs", "idle", "unaccountable"]


def _done(status: JobStatus) -> int:
    """Records a job has processed (converted or failed)."""
    return (status.converted_count or 0) + (status.failed_count or 0)


def idle(status: JobStatus | None) -> bool:
    """Whether a lost job was last seen running with nothing processed: how long it may run,
    a resumed run (which cannot tell how long it ran) cannot bound."""
    return status is not None and not status.is_final and not _done(status)


def unaccountable(status: JobStatus, size: int) -> str:
    """Why a final status of a job of ``size`` records cannot account for them, or "". Such
    a status says nothing sure of the job: not which records converted, nor that it started
    or ended (COMPLETED with every count 0 may come before the job runs)."""
    if not status.counts_consistent:
        return "its final status has counts that are missing or do not add up"
    if status.total_count != size:
        return f"its final status counts {status.total_count} records, not the {size} sent"
    if status.state is JobState.COMPLETED and status.not_converted_count:
        # A job that completed has processed every record: each is converted or failed.
        count = status.not_converted_count
        return f"it COMPLETED with {count} of its {size} records neither converted nor failed"
    return ""


class LostJobs(QueuedJobs):
    """The lost-job decisions over a run's batches (the base of ``RunMachine``)."""

    def unaccounted(self, seq: int, status: JobStatus) -> str:
        """Why ``status``, final, cannot account for batch ``seq``'s records (``unaccountable``),
        or "" (also for a status not final)."""
        if not status.is_final:
            return ""
        return unaccountable(status.filled(), len(self.batches[seq].ids))

    def seen_job_length(
        self, sent: float, seen_at: float | None, last: JobStatus, size: int
    ) -> float:
        """How long a lost job of ``size`` records that a poll answered at ``seen_at`` found
        unfinished (``last``; sent at ``sent``) may run in all, by the pace it showed: having
        processed ``done`` of its ``total`` records in at most ``seen_at - sent`` seconds,
        that times ``total / done`` (records processed at an even pace); its age once every
        record is processed. Having processed none, nothing is learned (0.0) while it is
        within a lost job's wait; past it, or when when it was sent is unknown (``seen_at``
        None: polled again by a resumed session), nothing bounds it: infinity."""
        if seen_at is None:
            return math.inf
        age, done = seen_at - sent, _done(last)
        total = last.total_count or size
        if total > done > 0:
            return age * total / done
        if done:
            return age
        return math.inf if age > self._wait() else 0.0

    def unreadable(
        self, seq: int, seen: tuple[JobStatus, float | None] | None, unusable: bool = True
    ) -> list[Event]:
        """A job still polled whose last status Zoho answered cannot be used (``unusable``;
        False: a usable status came again). Such a status (an unknown state like CANCELLED,
        a count that is no count) is no sign that the job still runs, so its age is no sign
        that a lost job sent after it may still run: it holds no parked batch back
        (``settle_due``), and given up on at the poll timeout, it does not make them wait
        forever. What it was ``seen`` doing last (``lost``'s) bounds it instead: every lost
        job is given as long as its pace says it may run (a ``LongestJob`` seen). One that
        pace cannot bound (seen running with nothing processed past a lost job's wait, or
        seen by a resumed session) goes on holding them back, as one running does."""
        batch = self.batches[seq]
        if not unusable:
            batch.unreadable = False  # (running again, as far as the run can tell)
            return []
        length = 0.0
        if seen is not None:
            last, seen_at = seen
            length = self.seen_job_length(batch.since, seen_at, last, len(batch.ids))
        if length == math.inf:
            return []  # (as long a job may run: it is held to be running)
        batch.unreadable = True
        return [LongestJob(length, None, seen=True)] if length > self.longest_seen_running else []

    def lost(
        self, seq: int, job_id: str, reason: str, last: JobStatus | None = None,
        *, seen: tuple[JobStatus, float | None] | None = None, by_record: bool = False,
    ) -> list[Event]:
        """A job whose outcome cannot be read (it started before Zoho's acceptance came back):
        settle its ids. ``last``: its final status, if one came that cannot be counted.
        ``seen``: the last unfinished status a poll found and when (None: when the job was
        sent is unknown): every lost job is given as long as its pace says it may run
        (``seen_job_length``, journaled as a ``LongestJob`` seen); one nothing bounds is
        ``unbounded``. A settling job lost too shows resubmitting may never tell (jobs
        forgotten as they end): with ``by_record`` (the single convert usable), each
        record's says."""
        batch, text = self.batches[seq], f"job {job_id} lost: {reason}"
        check = by_record and batch.settling  # (a check: it takes no round of its own)
        events: list[Event] = []
        length = 0.0
        if seen is not None:
            last, seen_at = seen
            length = self.seen_job_length(batch.since, seen_at, last, len(batch.ids))
            if self.longest_seen_running < length < math.inf:
                events.append(LongestJob(length, None, seen=True))
        # (Seen started, or ended, it waits behind no queue now; a final status that cannot
        # account for its batch says nothing of that.)
        told = last is not None and not self.unaccounted(seq, last)
        if told and last is not None and last.state is not JobState.SCHEDULED:
            self.unqueued(seq, batch.answered)
        events.append(JobLost(seq, job_id, len(batch.ids), reason, last))
        unbounded = length == math.inf
        events.append(
            BatchUncertain(seq, batch.ids, batch.answered, True, text, "", False, check, unbounded)
        )
        return events

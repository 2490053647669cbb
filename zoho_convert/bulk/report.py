"""The report of a ``convert_many`` run: counts for everything, ids only where someone must act.

Every id read lands in exactly one place: the total of a job it was submitted in, ``rejected``
(never converted by this run, with the reason), ``uncertain`` (its submission may or may not
have reached Zoho), ``already_converted_ids`` (converted by the run's own earlier submission)
or ``converted_by_record`` (converted by a single convert while settling, in no job).
Ids of jobs that converted everything are not kept, so the report of a million-id run stays
small. ``tally.py`` folds a run's events into one. JSON comes from the one converter
(``zoho_convert.api.wire``): a field added here is in every JSON output.
"""

from __future__ import annotations

import json
from typing import Any

import attrs

from zoho_convert.api.models import JobState, JobStatus
from zoho_convert.api.wire import converter

__all__ = ["ConversionReport", "JobOutcome", "LostJob", "RejectedId"]


@attrs.frozen
class RejectedId:
    """An id this run did not convert, and why.

    Attributes:
        id: the id as read (``repr`` of the value when it was not a str or int).
        code: Zoho's error code (``ID_ALREADY_CONVERTED``, ``INVALID_DATA``, ...),
            ``INVALID_ID`` for an id refused locally before anything was sent, or
            ``NOT_SUBMITTED`` for an id the run stopped before sending (or that settling gave
            up on without Zoho ever answering for it), ``CLAIMED_ELSEWHERE`` for an id another
            run of the fleet held throughout.
        message: a human-readable reason.
    """

    id: str
    code: str
    message: str

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        data: dict[str, Any] = converter.unstructure(self)
        return data


@attrs.frozen
class JobOutcome:
    """What became of one mass-convert job.

    Attributes:
        job_id: Zoho's job id.
        size: how many ids were submitted in the job.
        status: the final status; for a job unfinished at the poll timeout, the last status
            seen (None when no poll succeeded, and for a job still running when the run
            stopped).
        ids: the job's ids, kept only when someone must act on them (the job failed, left
            records unconverted, or did not finish in time); empty otherwise.
        settling: the job resubmitted ids whose earlier submission may have reached Zoho (a
            lost reply, a lost job). Such a job is listed only when it converted every record:
            records it did not convert are checked one by one with the single convert, or,
            without it, are ``uncertain`` (its counts cannot say which of them the earlier
            submission converted). A journal of an earlier version may hold one that failed
            records: they count as ``already_converted``, never as ``failed``.
    """

    job_id: str
    size: int
    status: JobStatus | None
    ids: tuple[str, ...] = ()
    settling: bool = False

    @property
    def finished(self) -> bool:
        """Whether the job reached COMPLETED or FAILED."""
        return self.status is not None and self.status.is_final

    @property
    def fully_converted(self) -> bool:
        """Whether the job COMPLETED and converted every id it was given."""
        status = self.status
        return (
            status is not None
            and status.state is JobState.COMPLETED
            and status.total_count == self.size
            and status.converted_count == self.size
            and status.failed_count == 0
            and status.not_converted_count == 0
        )

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        data: dict[str, Any] = converter.unstructure(self)
        return data


@attrs.frozen
class LostJob:
    """A job whose outcome could not be read: Zoho forgot it (HTTP 204, "The job_id is
    invalid") or answered a final status whose counts do not add up. Its records were settled
    by resubmission, so they are accounted for elsewhere in the report (a later job,
    ``already_converted``, ``uncertain``).

    Attributes:
        job_id: Zoho's job id.
        size: how many ids the lost job held.
        reason: why its outcome could not be used.
        last_status: the last status read, if any.
    """

    job_id: str
    size: int
    reason: str
    last_status: JobStatus | None = None

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        data: dict[str, Any] = converter.unstructure(self)
        return data


@attrs.frozen
class ConversionReport:
    """The outcome of a ``convert_many`` run.

    Attributes:
        module: the module converted from (``Quotes``, ``Sales_Orders``, ``Leads``).
        to: the target module (None for Leads).
        total: distinct ids read (locally invalid values each count once).
        converted: records converted: summed from the jobs' final statuses, plus
            ``converted_by_record``.
        failed: records that failed, summed from the jobs' final statuses.
        not_converted: records not converted, summed from the jobs' final statuses.
        rejected: ids not converted by this run, each with Zoho's code (or ``INVALID_ID``,
            ``NOT_SUBMITTED``).
        unfinished: ids of jobs still running when the poll timeout passed (their jobs are
            ``unfinished_jobs``; poll them again with ``wait_for_job``).
        uncertain: ids whose submission may or may not have reached Zoho and that could not
            be settled by resubmission (see ``SettlePolicy``). Check them in Zoho before
            converting them again.
        duplicates: ids read more than once (each repeat counts; submitted once).
        jobs: one outcome per job.
        requests: HTTP requests the client sent during the run (attempts, retries included).
        elapsed: seconds the run took (for a resumed run: this session's time).
        input_complete: False when the run stopped before reading all its ids (a resumed
            journal of an interrupted run whose remaining input was not passed again).
        already_converted: records found converted already by this run's own earlier
            submission whose reply was lost (a settling resubmission or a record's single
            convert refused as ``ID_ALREADY_CONVERTED``). Counted apart: never ``failed``.
            Zoho's refusal does not say who converted a record, so one converted before the
            run whose batch's reply was lost counts here too (README, *Known limits*).
        already_converted_ids: the ids among ``already_converted`` known one by one (all of
            them, but for in-job failures of a settling job replayed from a journal of an
            earlier version: known by count only, their ids are on the job's outcome).
        lost_jobs: jobs whose outcome could not be read; their ids were settled.
        converted_by_record: ids converted one at a time by the single convert call while
            their batch was settled (``SettlePolicy.record_by_record``), so in no job.
    """

    module: str
    to: str | None
    total: int
    converted: int
    failed: int
    not_converted: int
    rejected: tuple[RejectedId, ...]
    unfinished: tuple[str, ...]
    uncertain: tuple[str, ...]
    duplicates: int
    jobs: tuple[JobOutcome, ...]
    requests: int
    elapsed: float
    input_complete: bool = True
    already_converted: int = 0
    already_converted_ids: tuple[str, ...] = ()
    lost_jobs: tuple[LostJob, ...] = ()
    converted_by_record: tuple[str, ...] = ()

    @property
    def submitted(self) -> int:
        """Ids submitted in jobs (the sum of the jobs' sizes)."""
        return sum(job.size for job in self.jobs)

    @property
    def unfinished_jobs(self) -> tuple[str, ...]:
        """Ids of the jobs still running when the poll timeout passed (or the run stopped)."""
        return tuple(job.job_id for job in self.jobs if not job.finished)

    @property
    def accounted_for(self) -> bool:
        """The report's invariant: every id read is in exactly one job, ``rejected``,
        ``uncertain``, ``already_converted_ids`` or ``converted_by_record``."""
        return (
            self.submitted
            + len(self.rejected)
            + len(self.uncertain)
            + len(self.already_converted_ids)
            + len(self.converted_by_record)
            == self.total
        )

    @property
    def ok(self) -> bool:
        """True when every id read was converted and nothing needs attention."""
        return (
            self.input_complete
            and not self.rejected
            and not self.uncertain
            and not self.unfinished
            and self.failed == 0
            and self.not_converted == 0
            and self.converted + self.already_converted == self.total
        )

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict of the whole report (``ok`` and ``unfinished_jobs`` included)."""
        data: dict[str, Any] = converter.unstructure(self)
        data["ok"] = self.ok
        data["unfinished_jobs"] = list(self.unfinished_jobs)
        return data

    def to_json(self, **kwargs: Any) -> str:
        """The report as JSON; keyword arguments go to ``json.dumps`` (e.g. ``indent=2``)."""
        return json.dumps(self.to_dict(), **kwargs)

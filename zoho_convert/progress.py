"""Progress events of a ``convert_many`` run, for progress bars and metrics.

Each event is a small frozen object handed to the ``progress`` callable as the run advances.
Events are per batch or per job; only rejections are per id, and they are rare. The callable
runs on the event loop, so it should return quickly.
"""

from __future__ import annotations

from collections.abc import Callable

import attrs

from zoho_convert.models import JobStatus

__all__ = [
    "AlreadyConverted",
    "BatchQueued",
    "BatchSubmitted",
    "BatchUncertain",
    "IdRejected",
    "JobFinished",
    "JobLost",
    "JobUnfinished",
    "ProgressCallback",
    "ProgressEvent",
]


@attrs.frozen
class BatchQueued:
    """A batch was formed from the input and waits to be submitted.

    Attributes:
        batch: the batch's number in the run.
        size: ids in the batch.
        read: distinct ids read so far (a progress bar's growing total for a stream).
    """

    batch: int
    size: int
    read: int


@attrs.frozen
class BatchSubmitted:
    """Zoho accepted a batch and scheduled a job for it."""

    batch: int
    size: int
    job_id: str


@attrs.frozen
class JobFinished:
    """A job reached COMPLETED or FAILED; ``status`` carries its counts."""

    batch: int
    job_id: str
    size: int
    status: JobStatus


@attrs.frozen
class JobUnfinished:
    """A job was still running when the poll timeout passed (reported as unfinished)."""

    batch: int
    job_id: str
    size: int
    last_status: JobStatus | None


@attrs.frozen
class IdRejected:
    """An id will not be converted by this run: refused locally or by Zoho."""

    id: str
    code: str
    message: str


@attrs.frozen
class BatchUncertain:
    """A submission's outcome is unknown (e.g. a 5xx or a dropped connection after sending).

    Attributes:
        batch: the batch's number.
        size: ids in the batch.
        final: False when it will be resubmitted once no job is pending; True when settling
            gave up, so its ids end in the report's ``uncertain`` (or ``rejected`` when none of
            its submissions can have reached Zoho).
        reason: the error, without any credential.
    """

    batch: int
    size: int
    final: bool
    reason: str


@attrs.frozen
class JobLost:
    """A job's outcome could not be read (Zoho forgot the job, its final counts do not add up,
    or its job id was given to another batch too): its ids will be settled by resubmission."""

    batch: int
    job_id: str
    size: int
    reason: str


@attrs.frozen
class AlreadyConverted:
    """Ids of a settling resubmission were found converted already, by the run's own earlier
    submission whose reply was lost (counted in the report's ``already_converted``)."""

    batch: int
    count: int


ProgressEvent = (
    BatchQueued
    | BatchSubmitted
    | JobFinished
    | JobUnfinished
    | JobLost
    | IdRejected
    | AlreadyConverted
    | BatchUncertain
)
ProgressCallback = Callable[[ProgressEvent], None]

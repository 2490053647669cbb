"""The events of a run: the single source of truth of what happened.

Every change of a run's state is one event, published once; the run's state machine, its
report, its journal and the caller's ``progress`` callback all fold the same stream
(``resume`` replays a journal's events into a fresh run). Events are frozen attrs objects,
made JSON by the one converter (``zoho_convert.api.wire``). The ``progress`` callback gets
every event; it runs on the event loop, so it should return quickly.
"""

from __future__ import annotations

from collections.abc import Callable

import attrs

from zoho_convert.api.models import JobStatus
from zoho_convert.bulk.report import RejectedId

__all__ = [
    "BatchGaveUp",
    "BatchRead",
    "BatchSplit",
    "BatchSubmitted",
    "BatchUncertain",
    "Event",
    "IdsAlreadyConverted",
    "IdsConverted",
    "IdsRefused",
    "IdsRejected",
    "InputEnded",
    "JobFinished",
    "JobLost",
    "JobUnfinished",
    "JobsInParallel",
    "LongestJob",
    "ProgressCallback",
    "RequestsCounted",
    "RunStopped",
    "SubmitStarted",
]


@attrs.frozen
class IdsRefused:
    """Values of the input refused before anything was sent (``INVALID_ID``).

    Attributes:
        position: input items consumed when they were refused (duplicates and refused values
            included), and ``duplicates`` the repeats among them: a run stopped before it
            read a batch resumes past them (0: not known).
    """

    rejected: tuple[RejectedId, ...]
    position: int = 0
    duplicates: int = 0


@attrs.frozen
class BatchRead:
    """A batch was formed from the input; it waits to be submitted.

    Attributes:
        batch: the batch's number in the run.
        ids: its ids (canonical, distinct in the run).
        read: distinct ids read so far, refused ones included (a growing total).
        position: input items consumed so far (duplicates and refused values included).
        duplicates: repeated ids read so far.
    """

    batch: int
    ids: tuple[str, ...]
    read: int
    position: int
    duplicates: int


@attrs.frozen
class InputEnded:
    """The whole input was read."""

    position: int
    duplicates: int


@attrs.frozen
class SubmitStarted:
    """A batch is about to be sent: once journaled, a crash leaves it possibly submitted."""

    batch: int


@attrs.frozen
class BatchSubmitted:
    """Zoho accepted a batch and scheduled a job for it.

    Attributes:
        settling: the batch resubmits ids an earlier submission may have converted.
        at: when the accepted request left (the run's clock): its job started no earlier.
        answered: when Zoho's acceptance came back (the run's clock): its job started no
            later. None when not known (``at`` stands in).
        suspect: answered after a reply was lost (a job of unknown id may exist): the job
            named may be another submission's, so its counts are checked if they are not
            all converted.
    """

    batch: int
    size: int
    job_id: str
    settling: bool = False
    at: float = 0.0
    answered: float | None = None
    suspect: bool = False


@attrs.frozen
class BatchSplit:
    """Failure isolation replaced a refused batch by smaller parts, to submit instead."""

    batch: int
    parts: tuple[tuple[int, tuple[str, ...]], ...]
    settling: bool = False


@attrs.frozen
class IdsRejected:
    """Ids this run will not convert, each with Zoho's code (or ``NOT_SUBMITTED``)."""

    batch: int
    rejected: tuple[RejectedId, ...]


@attrs.frozen
class IdsAlreadyConverted:
    """Ids of a settling resubmission refused as converted: converted by the run's own earlier
    submission, whose reply was lost."""

    batch: int
    ids: tuple[str, ...]


@attrs.frozen
class IdsConverted:
    """Ids of a settling batch converted one at a time, each by the single Convert Inventory
    Record call (``SettlePolicy.record_by_record``): converted now, by this run."""

    batch: int
    ids: tuple[str, ...]


@attrs.frozen
class BatchUncertain:
    """A batch whose outcome is unknown (a lost reply, a lost job, a shared job id), or whose
    submission failed: it is parked, to be settled by resubmission.

    Attributes:
        since: a time by which the submission or job that left it unsettled had surely
            started (a lost job is given time to finish from then on); with ``at_once``, when
            it may go again.
        maybe_sent: whether an earlier submission of these ids may have reached Zoho.
        reason: the error, without any credential.
        code: Zoho's error code, when Zoho answered the submission with an error (a batch
            never sent that settling gives up on is rejected with it); else empty.
        at_once: nothing can be running with these ids (the submission surely did nothing,
            and none before it can have reached Zoho; or a record's single convert, which
            ends before Zoho answers): resubmit without waiting for a job.
        by_record: settle it record by record whatever the run's load: a settling job that
            did not convert every record cannot say which of them its lost predecessor
            converted and which failed for a reason of their own; each record's single
            convert says (not journaled, but for a batch parked for its final look: a
            resumed run decides afresh).
        unbounded: its lost job was seen running before Zoho forgot it, and nothing bounds
            how long it runs (nothing processed long after it began, or begun in an earlier
            session): its ids never go again, nor do those of batches lost after it was sent
            (their lost jobs may be as long), as for a job given up on while it ran
            (journaled: a resumed run never sends it again either, nor any batch it parks).
        suspects: the batches still polled that this batch's job id, given to one of them
            already, makes suspect (their jobs' counts may be another batch's); journaled
            with each, so a resumed run doubts them too.
        final_look: its next look is final: refused or failed as converted in it, its ids
            are reported already converted. Set on its second look (it was found converted
            by a look that may have come while a lost job of its still ran: looked at again
            a lost job's wait later, ``second_look``), and on the check of a job's failures
            (made that late, or at once when no lost job of this run may hold them);
            journaled (a resumed run still gives it that look).
    """

    batch: int
    ids: tuple[str, ...]
    since: float
    maybe_sent: bool
    reason: str
    code: str = ""
    at_once: bool = False
    by_record: bool = False
    unbounded: bool = False
    suspects: tuple[int, ...] = ()
    final_look: bool = False


@attrs.frozen
class BatchGaveUp:
    """Settling gave up on a batch that may have been converted: its ids are uncertain.

    Attributes:
        lost_job_end: seconds from now by which its last lost job (rounds or time ran out
            before it was waited for) has surely ended (a fleet's ledger gives its claims
            back then; not journaled).
    """

    batch: int
    ids: tuple[str, ...]
    reason: str
    lost_job_end: float = 0.0


@attrs.frozen
class JobFinished:
    """A job reached COMPLETED or FAILED with counts that add up."""

    batch: int
    job_id: str
    size: int
    status: JobStatus
    ids: tuple[str, ...] = ()
    settling: bool = False


@attrs.frozen
class JobUnfinished:
    """A job was still running when the poll timeout passed (``timed_out``), or the run
    stopped first."""

    batch: int
    job_id: str
    size: int
    last_status: JobStatus | None
    ids: tuple[str, ...] = ()
    settling: bool = False
    timed_out: bool = False


@attrs.frozen
class JobLost:
    """A job's outcome cannot be read (Zoho forgot it, or its final counts don't add up); its
    batch is settled by resubmission (a ``BatchUncertain`` follows)."""

    batch: int
    job_id: str
    size: int
    reason: str
    last_status: JobStatus | None = None


@attrs.frozen
class LongestJob:
    """The longest a job of the run has taken so far, in seconds (settling waits for it).

    Attributes:
        round_trip: the mean round trip of an accepted submission then, in seconds (what a
            single convert takes when settling record by record; a resumed session that
            sends nothing else learns it from here), if measured.
        seen: ``seconds`` is how long a lost job seen running may run, by its pace
            (``SettlePlan.seen_job_length``), not a job measured: every lost job is given as
            long.
    """

    seconds: float
    round_trip: float | None = None
    seen: bool = False


@attrs.frozen
class JobsInParallel:
    """Two jobs of the run were seen running at the same time: the server runs jobs side by
    side, so a lost job is not taken to wait in a queue behind the jobs sent before it
    (``queued_jobs.QueuedJobs``). Journaled: a resumed run knows it too."""


@attrs.frozen
class RequestsCounted:
    """Requests a session sent, counted when it ended."""

    requests: int


@attrs.frozen
class RunStopped:
    """The session ended (not journaled: a resumed run goes on from the batches' states).

    Attributes:
        not_submitted: ids never sent (the run stopped first).
        uncertain: ids left parked that may have been converted.
        reason: why the run stopped early, if it did.
        lost_jobs_end: seconds from now by which a lost job of the ``uncertain`` ids (one
            of their submissions that may have reached Zoho) has surely ended, as settling
            would wait for it (a fleet's ledger gives their claims back then); infinity when
            unknown (a job sent no later than a lost one was still running).
    """

    not_submitted: tuple[str, ...] = ()
    uncertain: tuple[str, ...] = ()
    reason: str = ""
    lost_jobs_end: float = 0.0


Event = (
    IdsRefused
    | BatchRead
    | InputEnded
    | SubmitStarted
    | BatchSubmitted
    | BatchSplit
    | IdsRejected
    | IdsAlreadyConverted
    | IdsConverted
    | BatchUncertain
    | BatchGaveUp
    | JobFinished
    | JobUnfinished
    | JobLost
    | LongestJob
    | JobsInParallel
    | RequestsCounted
    | RunStopped
)

#: What ``convert_many(progress=...)`` takes: called with every event of the run.
ProgressCallback = Callable[[Event], None]

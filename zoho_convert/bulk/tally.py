"""``Tally``: the report of a run, folded from its events.

A subscriber of the run's event stream like the journal and the progress callback: each event
moves a count or lists an id; ``report`` turns the tally into a ``ConversionReport``. Replaying
a journal's events into a fresh tally rebuilds what earlier sessions did.
"""

from __future__ import annotations

import attrs

from zoho_convert.api.models import JobStatus
from zoho_convert.bulk.events import (
    BatchGaveUp,
    BatchRead,
    Event,
    IdsAlreadyConverted,
    IdsConverted,
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

__all__ = ["Tally"]


class Tally:
    """Counts and ids of one run, as its events tell them.

    ``convert_many`` folds its own events into one to make its report; pass one as (or call it
    from) ``on_event`` to follow a run's counts live, as the CLI's progress display does.
    """

    def __init__(self) -> None:
        self.total = 0
        self.read = 0
        self.jobs_done = 0
        self.duplicates = 0
        self.converted = 0
        self.failed = 0
        self.not_converted = 0
        self.already_in_jobs = 0
        self.already_ids: list[str] = []
        self.converted_ids: list[str] = []  # converted record by record (in no job)
        self.rejected: list[RejectedId] = []
        self.uncertain: list[str] = []
        self.unfinished: list[str] = []
        self.jobs: list[JobOutcome] = []
        self.lost_jobs: list[LostJob] = []
        self.input_complete = False
        self.requests_earlier = 0

    def __call__(self, event: Event) -> None:
        """Fold one event."""
        kind = type(event)
        if kind is BatchRead:
            assert isinstance(event, BatchRead)
            self.total += len(event.ids)
            self.read = max(self.read, event.read)
            self.duplicates = event.duplicates
        elif kind is IdsRefused:
            assert isinstance(event, IdsRefused)
            self.total += len(event.rejected)
            self.rejected.extend(event.rejected)
        elif kind is JobFinished:
            assert isinstance(event, JobFinished)
            self._finished(event)
        elif kind is IdsRejected:
            assert isinstance(event, IdsRejected)
            self.rejected.extend(event.rejected)
        elif kind is IdsAlreadyConverted:
            assert isinstance(event, IdsAlreadyConverted)
            self.already_ids.extend(event.ids)
        elif kind is IdsConverted:
            assert isinstance(event, IdsConverted)
            self.converted += len(event.ids)
            self.converted_ids.extend(event.ids)
        elif kind is InputEnded:
            assert isinstance(event, InputEnded)
            self.duplicates = event.duplicates
            self.input_complete = True
        elif kind is JobUnfinished:
            assert isinstance(event, JobUnfinished)
            self.unfinished.extend(event.ids)
            self.jobs.append(
                JobOutcome(event.job_id, event.size, event.last_status, event.ids, event.settling)
            )
        elif kind is JobLost:
            assert isinstance(event, JobLost)
            self.lost_jobs.append(
                LostJob(event.job_id, event.size, event.reason, event.last_status)
            )
        elif kind is BatchGaveUp:
            assert isinstance(event, BatchGaveUp)
            self.uncertain.extend(event.ids)
        elif kind is RequestsCounted:
            assert isinstance(event, RequestsCounted)
            self.requests_earlier += event.requests
        elif kind is RunStopped:
            assert isinstance(event, RunStopped)
            self._stopped(event)

    @property
    def already_converted(self) -> int:
        """Ids found converted by an earlier run, or by a lost submission of this one."""
        return len(self.already_ids) + self.already_in_jobs

    @property
    def settled(self) -> int:
        """Ids whose outcome is known so far: converted (already or now), failed, not
        converted, rejected or uncertain."""
        return (
            self.converted
            + self.already_converted
            + self.failed
            + self.not_converted
            + len(self.rejected)
            + len(self.uncertain)
        )

    def _finished(self, event: JobFinished) -> None:
        self.jobs_done += 1
        status = event.status
        converted, not_converted, failed = _counts(status, event.size)
        self.converted += converted
        self.not_converted += not_converted
        if event.settling:
            # Failed inside the job of a settling resubmission: converted by the lost one, as
            # journals of earlier versions say (a run now checks such failures one by one, or
            # leaves them uncertain: ``RunMachine.finished``).
            self.already_in_jobs += failed
        else:
            self.failed += failed
        outcome = JobOutcome(event.job_id, event.size, status, settling=event.settling)
        if not outcome.fully_converted:
            outcome = attrs.evolve(outcome, ids=event.ids)
        self.jobs.append(outcome)

    def _stopped(self, event: RunStopped) -> None:
        reason = event.reason or "the run stopped"
        self.rejected.extend(
            RejectedId(value, "NOT_SUBMITTED", reason) for value in event.not_submitted
        )
        self.uncertain.extend(event.uncertain)

    def report(
        self,
        *,
        module: str,
        to: str | None,
        requests: int,
        elapsed: float,
    ) -> ConversionReport:
        """The report of the run so far (``requests``: this session's)."""
        return ConversionReport(
            module=module,
            to=to,
            total=self.total,
            converted=self.converted,
            failed=self.failed,
            not_converted=self.not_converted,
            rejected=tuple(self.rejected),
            unfinished=tuple(self.unfinished),
            uncertain=tuple(self.uncertain),
            duplicates=self.duplicates,
            jobs=tuple(self.jobs),
            requests=self.requests_earlier + requests,
            elapsed=elapsed,
            input_complete=self.input_complete,
            already_converted=self.already_converted,
            already_converted_ids=tuple(self.already_ids),
            lost_jobs=tuple(self.lost_jobs),
            converted_by_record=tuple(self.converted_ids),
        )


def _counts(status: JobStatus, size: int) -> tuple[int, int, int]:
    """Converted, not converted and failed records of a finished job of ``size`` ids.

    A missing count is 0. When the total is not the number of ids sent, Zoho's counts cannot be
    trusted, so none may count more than ``size`` and the rest is not converted (the job's
    outcome keeps its ids, as it is not fully converted, so someone can check them).
    """
    converted = status.converted_count or 0
    not_converted = status.not_converted_count or 0
    failed = status.failed_count or 0
    if status.total_count == size:
        return converted, not_converted, failed
    converted = min(converted, size)
    failed = min(failed, size - converted)
    return converted, size - converted - failed, failed

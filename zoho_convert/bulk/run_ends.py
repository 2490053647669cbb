"""How a run ends and begins again: what a job left running means, what an error that stops
the run leaves, what is left when settling ends or the run stops, what a resumed run submits,
polls and parks, and which polled jobs a submission lost in flight casts doubt on.
``RunMachine`` (``machine.py``) inherits these; no I/O.
"""

from __future__ import annotations

import math

from zoho_convert.api.errors import APIError
from zoho_convert.api.models import JobStatus
from zoho_convert.bulk.events import (
    BatchGaveUp,
    BatchUncertain,
    Event,
    IdsRejected,
    JobUnfinished,
    RunStopped,
)
from zoho_convert.bulk.isolation import answered_by_zoho, error_text, maybe_processed
from zoho_convert.bulk.lost_jobs import LostJobs
from zoho_convert.bulk.report import RejectedId
from zoho_convert.bulk.settle_plan import Batch, BatchState

__all__ = ["RunEnds"]


class RunEnds(LostJobs):
    """The stop and restart decisions over a run's batches (a base of ``RunMachine``)."""

    # A job whose id the run never learned may exist (set by ``RunMachine``).
    unknown_jobs: bool
    sending: set[int]  # batches sent, maybe still awaiting Zoho's answer (``RunMachine``'s)

    def unfinished(
        self, seq: int, job_id: str, last: JobStatus | None, *, timed_out: bool = False
    ) -> Event:
        """A job still running at the poll timeout (``timed_out``), or when the run stopped."""
        b = self.batches[seq]
        return JobUnfinished(seq, job_id, len(b.ids), last, b.ids, b.settling, timed_out)

    def stopped(self, reason: str, now: float) -> list[Event]:
        """The run stops ``now`` with batches still active: which ids were never sent, and
        which may have been, and when their lost jobs will surely have ended (a journal keeps
        the batches, so ``resume`` goes on from there)."""
        events: list[Event] = []
        not_submitted: list[str] = []
        uncertain: list[str] = []
        for batch in list(self.batches.values()):
            if batch.state is BatchState.SUBMITTED:
                assert batch.job_id is not None
                events.append(self.unfinished(batch.seq, batch.job_id, None))
            elif batch.state is BatchState.SUBMITTING or batch.settling:
                uncertain.extend(batch.ids)  # it, or an earlier submission, may have landed
            else:
                not_submitted.extend(batch.ids)
        ends = self.lost_jobs_end(now)
        events.append(RunStopped(tuple(not_submitted), tuple(uncertain), reason, ends - now))
        return events

    def stopped_by(self, seq: int, error: Exception, at: float) -> list[Event]:
        """A submission refused with an error that stops the run (``refused`` said None): if
        Zoho answered it, nothing of it was processed and no earlier submission of these ids
        may have landed, the batch is parked as never sent (the run reports it not submitted
        and gives its claims back; ``resume`` sends it at once). Else it stays in flight: it
        may have reached Zoho, and is reported uncertain."""
        batch = self.batches[seq]
        # Only Zoho's own refusal says the request did nothing: any other error (one of this
        # client's, raised once Zoho's reply was in) says nothing of what Zoho did.
        refused = isinstance(error, APIError) and answered_by_zoho(error)
        if batch.settling or not refused or maybe_processed(error):
            return []
        assert isinstance(error, APIError)
        return [BatchUncertain(seq, batch.ids, at, False, error_text(error), error.code, True)]

    def give_up(self, now: float = 0.0) -> list[Event]:
        """Settling is over (``now``): what is still parked ends uncertain, saying when its
        lost job, not waited for, has surely ended (or, if none of its submissions can have
        reached Zoho, rejected with Zoho's code of the last error, or ``NOT_SUBMITTED`` when
        Zoho never answered)."""
        events: list[Event] = []
        wait = self._wait()
        for batch in list(self.batches.values()):
            if batch.state is not BatchState.PARKED:
                continue
            if batch.settling:
                no_job = batch.at_once or batch.held_elsewhere  # (none of this run runs)
                ends = 0.0 if no_job else max(0.0, self._due(batch, wait) - now)
                if self._outlived(batch):
                    ends = math.inf  # (its claims, if any, expire)
                events.append(BatchGaveUp(batch.seq, batch.ids, batch.reason, ends))
            else:
                code = batch.code or "NOT_SUBMITTED"
                items = tuple(RejectedId(value, code, batch.reason) for value in batch.ids)
                events.append(IdsRejected(batch.seq, items))
        return events

    def to_restart(self, now: float) -> tuple[list[Batch], list[Batch], list[Event]]:
        """A resumed run: the batches to submit and to poll, and events parking the batches
        an earlier session was sending when it stopped (they may have reached Zoho)."""
        to_submit: list[Batch] = []
        to_poll = [b for b in self.batches.values() if b.state is BatchState.SUBMITTED]
        # A batch caught mid-submission may have got a job whose id Zoho then gave to a batch
        # answered meanwhile: the journal's replay made those suspect (``journal_replay``);
        # named on its parking, that doubt outlives its being caught mid-submission.
        doubted = tuple(batch.seq for batch in to_poll if batch.suspect)
        events: list[Event] = []
        for batch in self.batches.values():
            if batch.state is BatchState.READ:
                to_submit.append(batch)
            elif batch.state is BatchState.SUBMITTED:
                # Its job's duration counts from this session's clock (an earlier session's
                # clock means nothing here): at least this long, it will seem.
                batch.since = batch.answered = now
            else:
                # Caught mid-submission, or parked: it waits for a lost job from now on, if
                # one of its submissions may have reached Zoho; if none can have, nothing of
                # it can be running, and it goes again at once. Parked for its final look, it
                # still has it, as it would go; caught sending it (that look may have started
                # a job), two lost jobs' waits from now (``RunMachine.refused``).
                sending = batch.state is BatchState.SUBMITTING
                maybe_sent = sending or batch.settling
                self.unknown_jobs |= maybe_sent  # (of a lost reply: a job of unknown id)
                reason = batch.reason or "parked by an earlier session"
                final = batch.final_look
                since = now + self._wait() if final and sending else now
                uncertain = BatchUncertain(
                    batch.seq, batch.ids, since, maybe_sent, reason, batch.code, not maybe_sent,
                    final and batch.by_record, batch.unbounded, final_look=final,
                    suspects=doubted if sending else (),
                )
                events.append(uncertain)
        return to_submit, to_poll, events

    def _answered_meanwhile(self, seq: int) -> None:
        """Note batch ``seq``'s answer on each batch still being sent: if one of those turns
        out lost, its job (whose id the run never learns) may be the one ``seq`` was given."""
        self.sending.discard(seq)
        for other in list(self.sending):
            sending = self.batches.get(other)
            if sending is None or sending.state is not BatchState.SUBMITTING:
                self.sending.discard(other)  # (answered, refused or split since: not lost)
            else:
                sending.meanwhile.append(seq)

    def _answered_meanwhile_of(self, seq: int) -> tuple[int, ...]:
        """The batches still polled that were answered while batch ``seq`` was being sent
        (none unless it is being sent), not yet suspect."""
        batch = self.batches[seq]
        if batch.state is not BatchState.SUBMITTING:
            return ()
        get, polled = self.batches.get, BatchState.SUBMITTED
        return tuple(
            other.seq
            for other in map(get, batch.meanwhile)
            if other is not None and other.state is polled and not other.suspect
        )

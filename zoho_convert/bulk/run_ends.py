"""How a run ends and begins again: what a job left running means, what is left when the run
stops, what a resumed run submits, polls and parks, and which polled jobs a submission lost
in flight casts doubt on. ``RunMachine`` (``machine.py``) inherits these; no I/O.
"""

from __future__ import annotations

from zoho_convert.api.models import JobStatus
from zoho_convert.bulk.events import BatchUncertain, Event, JobUnfinished, RunStopped
from zoho_convert.bulk.lost_jobs import LostJobs
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
                # it can be running, and it goes again at once.
                maybe_sent = batch.state is BatchState.SUBMITTING or batch.settling
                self.unknown_jobs |= maybe_sent  # (of a lost reply: a job of unknown id)
                reason = batch.reason or "parked by an earlier session"
                in_flight = batch.state is BatchState.SUBMITTING
                uncertain = BatchUncertain(
                    batch.seq, batch.ids, now, maybe_sent, reason, batch.code, not maybe_sent,
                    unbounded=batch.unbounded, suspects=doubted if in_flight else (),
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

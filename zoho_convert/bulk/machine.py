"""The run's state machine: what each batch is doing, and what to do next. No I/O.

``RunMachine`` folds the run's events (like every subscriber) into the state of each active
batch, and answers the driver's questions with events to publish: what a refused submission
means (isolate offenders, settle later, or stop the run), whether an accepted one can be
trusted (a job id given twice cannot), what a final status says, when to settle which batches
(``settle_plan``), and what is left when the run stops. A unit test can drive it event by
event.
"""

from __future__ import annotations

import logging

from zoho_convert.api.errors import APIError, RateLimitError
from zoho_convert.api.models import JobStatus
from zoho_convert.bulk.events import (
    BatchGaveUp,
    BatchRead,
    BatchSplit,
    BatchSubmitted,
    BatchUncertain,
    Event,
    IdsAlreadyConverted,
    IdsConverted,
    IdsRefused,
    IdsRejected,
    InputEnded,
    JobFinished,
    JobLost,
    JobsInParallel,
    JobUnfinished,
    LongestJob,
    SubmitStarted,
)
from zoho_convert.bulk.isolation import (
    about_the_call,
    answered_by_zoho,
    error_text,
    is_isolatable,
    latest_start,
    maybe_processed,
    proxy_page,
    retry_later,
    unreadable_refusal,
)
from zoho_convert.bulk.lost_jobs import idle
from zoho_convert.bulk.offenders import Parts, isolate
from zoho_convert.bulk.report import JobOutcome
from zoho_convert.bulk.run_ends import RunEnds
from zoho_convert.bulk.second_look import fold_final_look
from zoho_convert.bulk.settle_plan import Batch, BatchState, SettleRound
from zoho_convert.bulk.settling import SettlePolicy

__all__ = ["Batch", "BatchState", "RunMachine", "SettleRound"]

logger = logging.getLogger("zoho_convert.bulk")


class RunMachine(RunEnds):
    """The state and the decisions of one run (see the module docstring; the settling
    decisions are ``SettlePlan``'s, a lost job's ``LostJobs``' and ``QueuedJobs``', and
    stopping and resuming ``RunEnds``').

    Args:
        settle: how settling rounds are bounded.
        in_flight_grace: see ``SettlePlan``.
        fleet: the run is one of a fleet: another run may have converted any of its
            records, so a job's failures are checked like a settling job's.
        gone_when_converted: a converted record leaves its module (a lead: Zoho moves it
            out of Leads), so Zoho may refuse it as an invalid id (INVALID_DATA).
    """

    def __init__(
        self,
        settle: SettlePolicy,
        in_flight_grace: float = 0.0,
        *,
        fleet: bool = False,
        gone_when_converted: bool = False,
    ) -> None:
        super().__init__(settle, in_flight_grace)
        self.fleet = fleet
        self.gone_when_converted = gone_when_converted
        self.job_ids: set[str] = set()
        self.next_seq = 0
        # Until one submission proves the request acceptable, batches go one at a time: a
        # request-level mistake (a wrong module id) then costs one call, not one per batch.
        self.gate_open = False
        self.position = 0
        self.duplicates = 0
        self.last_refused: Batch | None = None  # the batch of the last refusal of ids
        # A submission's reply was lost, or carried a job id the run already held: a job
        # whose id the run never learned may exist, and a reply may yet carry its id; a
        # batch answered since is ``suspect`` (resumed: every job polled again, if a batch of
        # an earlier session may have been sent: ``to_restart``).
        self.unknown_jobs = False
        self.sending: set[int] = set()  # batches sent, maybe still awaiting Zoho's answer

    # -- folding events -------------------------------------------------------------------

    def __call__(self, event: Event) -> None:
        """Fold one event into the batches' state (the events of every batch first)."""
        batches = self.batches
        kind = type(event)  # the events of every batch first, matched by type: the hot path
        if kind is SubmitStarted:
            assert isinstance(event, SubmitStarted)
            batch = batches[event.batch]
            # Sent again: why it was parked no longer applies (a CLAIMED_ELSEWHERE kept on a
            # batch caught mid-submission would spare it its lost job's wait on resume).
            batch.state, batch.code = BatchState.SUBMITTING, ""
            batch.meanwhile.clear()
            self.sending.add(event.batch)
        elif kind is JobFinished:
            assert isinstance(event, JobFinished)
            batches.pop(event.batch, None)
        elif kind is BatchRead:
            assert isinstance(event, BatchRead)
            batches[event.batch] = Batch(event.batch, event.ids)
            self.next_seq = max(self.next_seq, event.batch + 1)
            if event.position >= self.position:  # (a replay brings refusals read after it first)
                self.position, self.duplicates = event.position, event.duplicates
        elif isinstance(event, BatchSubmitted):
            batch = batches[event.batch]
            batch.state, batch.job_id, batch.since = BatchState.SUBMITTED, event.job_id, event.at
            if event.answered is None:  # replayed from a journal: not timed
                batch.answered = event.at
            else:
                batch.answered = event.answered
                self.round_trip_sum += event.answered - event.at
                self.round_trips += 1
            batch.settling, batch.throttles = event.settling, 0  # (a job: refusals in a row end)
            batch.suspect = event.suspect or self.unknown_jobs  # (journaled: ``event``'s)
            self._answered_meanwhile(event.batch)
            self.job_ids.add(event.job_id)
            self.gate_open = True
        elif isinstance(event, JobUnfinished):
            unfinished = batches.pop(event.batch, None)
            # (One whose last status could not be used is no sign a job runs that long.)
            if unfinished is not None and not unfinished.unreadable:
                self.oldest_unfinished = min(self.oldest_unfinished, unfinished.since)
        elif isinstance(event, (IdsConverted, BatchGaveUp)):
            batches.pop(event.batch, None)
        elif isinstance(event, BatchSplit):
            # Its refusal, when one came first (isolation, the ledger's screen), took it out.
            parent = batches.pop(event.batch, None) or self.last_refused
            assert parent is not None
            assert parent.seq == event.batch
            for seq, ids in event.parts:
                batches[seq] = parent.part(seq, ids, event.settling)
                self.next_seq = max(self.next_seq, seq + 1)
        elif isinstance(event, (IdsRejected, IdsAlreadyConverted)):
            # A split, if any, brings its parts next: they inherit the rounds this one used.
            self.last_refused = batches.pop(event.batch, None)
            self.gate_open = True  # a refusal of ids shows the request itself is acceptable
        elif isinstance(event, BatchUncertain):
            batch = batches[event.batch]
            # (Refused as converted, parked for its second look: no job of it.)
            quiet = event.at_once or event.code == "ID_ALREADY_CONVERTED"
            if event.maybe_sent and not quiet and batch.state is BatchState.SUBMITTING:
                self.unknown_jobs = True  # (a job of it, if any, has an id never learned)
            if event.unbounded:  # (as if given up on while it ran; re-parked: from now on)
                sent = batch.since if batch.state is BatchState.SUBMITTED else event.since
                self.oldest_unfinished = min(self.oldest_unfinished, sent)
            batch.state, batch.since, batch.reason = BatchState.PARKED, event.since, event.reason
            if event.maybe_sent and not batch.settling:
                batch.rounds = 0  # (its tries so far, which Zoho did nothing with, settled nothing)
            batch.settling = batch.settling or event.maybe_sent
            batch.code, batch.at_once = event.code, event.at_once
            batch.by_record = batch.by_record or event.by_record
            fold_final_look(batch, event)  # (and whether a check is pending)
            batch.unbounded = event.unbounded
            self.parked[event.batch] = batch
            for seq in event.suspects:
                if (other := batches.get(seq)) is not None:
                    other.suspect = True
        elif isinstance(event, JobLost):
            self.job_ids.add(event.job_id)
            lost = batches.get(event.batch)  # (a resumed run cannot tell how long it may run)
            if lost is not None:
                lost.unbounded = lost.unbounded or idle(event.last_status)
        elif isinstance(event, LongestJob) and event.seen:
            self.longest_seen_running = max(self.longest_seen_running, event.seconds)
        elif isinstance(event, LongestJob):
            self.longest_job = max(self.longest_job, event.seconds)
            if event.round_trip is not None and not self.round_trips:  # an earlier session's
                self.round_trip_sum, self.round_trips = event.round_trip, 1
        elif isinstance(event, JobsInParallel):
            self.parallel = True
        elif isinstance(event, InputEnded):
            self.position, self.duplicates = event.position, event.duplicates
            self.input_ended = True
        elif isinstance(event, IdsRefused) and event.position > self.position:
            self.position, self.duplicates = event.position, event.duplicates

    @property
    def final_looks(self) -> frozenset[int]:
        """The batches whose next look is final (``Batch.final_look``, ``second_look``)."""
        return frozenset(seq for seq, batch in self.batches.items() if batch.final_look)

    def new_seq(self) -> int:
        """A fresh batch number."""
        seq = self.next_seq
        self.next_seq += 1
        return seq

    # -- decisions --------------------------------------------------------------------------

    def refused(
        self,
        seq: int,
        part: tuple[str, ...],
        error: Exception,
        *,
        settling: bool,
        at: float,
        single: bool = False,
        quick_checks: bool = False,
        checks: bool = False,
    ) -> tuple[list[Event], Parts] | None:
        """What a submission that failed ``at`` (when its error came back) means: events to
        publish and parts to submit next; None for an error that concerns the whole run
        (authentication, a wrong module id, ...). ``single``: the single convert of one
        record (settling record by record), not a mass convert; an INVALID_DATA of it must
        name the record, and a NO_PERMISSION is never its fate (``about_the_call``).
        ``quick_checks``: the single convert may check records for speed (``offenders``);
        ``checks``: it may check records (Convert Lead too). A settling look refused as
        converted is final on the batch's final look (``second_look``)."""
        final = (batch := self.batches.get(seq)) is not None and batch.final_look
        if is_isolatable(error, part) and not (single and about_the_call(error, part)):
            assert isinstance(error, APIError)
            # A converted lead is gone from Leads: Zoho may refuse it as an invalid id, one
            # the lost submission converted (settling) or one converted before the run.
            # Convert Lead may tell (refused as converted); Convert Lead's own refusal
            # cannot be checked again.
            check = checks and not single
            unsure = self.gone_when_converted and error.code == "INVALID_DATA"
            return isolate(
                seq, part, error, settling=settling, at=at, new_seq=self.new_seq,
                quick_checks=quick_checks, unsure=unsure and (settling or check), check=check,
                final=final, by_record=single or quick_checks,
            )
        processed = maybe_processed(error)
        # A 400/403 whose body could not be read, once requests like this one were accepted, is
        # most likely about its ids: it goes again (read, it is isolated), never stopping the
        # run; one before any was accepted may be about the request: it does.
        again = retry_later(error) or (self.gate_open and unreadable_refusal(error))
        # (Nor is a page of a proxy's, once requests were accepted, the single call refused.)
        again = again or (single and self.gate_open and proxy_page(error))
        # A submission Zoho surely did nothing with (a 429, one that never left), a first one
        # as a settling one, uses no round, only time: it goes again, paced (``throttled``).
        # A 5xx or a lost reply may have converted records: its round is used.
        paced = None
        if retry_later(error) and not processed:
            retry_after = error.retry_after if isinstance(error, RateLimitError) else None
            paced = self.throttled(seq, at, retry_after)
        else:
            self.batches[seq].throttles = 0  # (such refusals in a row end)
        if single and (processed or again) and answered_by_zoho(error):
            # Zoho answered, and a single convert ends before its reply: nothing of it can
            # still be running, so the record goes again after a short pause (growing with
            # its rounds, or its pace), not after a job's duration. Converted meanwhile, it is
            # refused so.
            due = at + self.record_pause(seq) if paced is None else paced
            text, code = error_text(error), error.code if isinstance(error, APIError) else ""
            return [BatchUncertain(seq, part, due, True, text, code, True, final_look=final)], []
        if processed or again:
            # A job this submission may have started began before its error came back (after
            # a timeout, maybe later: ``latest_start``). One that surely did nothing leaves the
            # wait for an earlier lost job where it was; with no earlier one, the batch may go
            # again at once.
            since = at if not settling else self.batches[seq].since
            if processed:
                since = latest_start(error, at)
            if processed and final and not single:
                # A final look's job may run (its ids were free): its next look is final once
                # it had two lost jobs' waits, as a first and a second look would give it.
                since += self._wait()
            code = error.code if isinstance(error, APIError) else ""
            sent, why = settling or processed, error_text(error)  # (sent: maybe sent)
            # Zoho may have given its job's id to a batch answered while it was in flight:
            # named in the event, so that a journal keeps the doubt too.
            suspects = self._answered_meanwhile_of(seq) if sent else ()
            parked = BatchUncertain(
                seq, part, since, sent, why, code, not sent, final_look=final, suspects=suspects
            )
            return [parked], []
        return None

    def accepted(
        self, seq: int, part: tuple[str, ...], job_id: str, *, settling: bool, sent_at: float,
        answered: float,
    ) -> Event:
        """A submission that left at ``sent_at`` and that Zoho answered with a job id at
        ``answered``."""
        if job_id in self.job_ids:
            # A job id the run already holds for another batch: its status would be the other
            # batch's. What became of this one is unknown: settle it. Zoho hands out other
            # batches' job ids, then: the job of any batch still polled may not be its own
            # (the holder's may be this one's; another's, a lost reply's job): its counts are
            # checked if they are not all converted (folding the event marks them).
            suspects = tuple(
                other.seq
                for other in self.batches.values()
                if other.state is BatchState.SUBMITTED and not other.suspect
            )
            reason = f"Zoho answered with job id {job_id}, already given to another batch"
            return BatchUncertain(seq, part, answered, True, reason, suspects=suspects)
        suspect = self.unknown_jobs
        return BatchSubmitted(seq, len(part), job_id, settling, sent_at, answered, suspect)

    def finished(
        self,
        seq: int,
        job_id: str,
        status: JobStatus,
        *,
        took: float,
        tight: float | None = None,
        by_record: bool = False,
    ) -> list[Event]:
        """A job reached a final status, ``took`` seconds at most after it started (``tight``:
        its duration when measured tightly, see ``settling.PollTimer``). ``by_record``: the
        run can settle records one by one (the single convert): a settling job that did not
        convert every record goes that way, its ids parked again."""
        batch = self.batches[seq]
        events: list[Event] = []
        status = status.filled()  # (counts left out as zeros)
        # (``and``'s order: a first submission's job, the usual one, builds no outcome.)
        unclear = batch.settling or self.fleet or batch.suspect
        fully = unclear and JobOutcome(job_id, len(batch.ids), status).fully_converted
        reason = self.unaccounted(seq, status)
        # A suspect job it will not take as its own may be another's, ended long ago: untimed.
        # So is one whose final status cannot account for its batch: it may have said so
        # before it ran (COMPLETED with every count 0 at its first poll, hunt round 8); taken
        # for a job that short, the first job timed, it cut every lost job's wait from
        # ``unknown_wait`` to its length.
        timed = (not batch.suspect or fully) and not reason
        if took > self.longest_job and timed:
            events.append(LongestJob(took, self.mean_round_trip()))
        if tight is not None and timed:
            self.longest_job_tight = max(self.longest_job_tight, tight)
            self.shortest_job_tight = min(self.shortest_job_tight, tight)
            self.tight_jobs += 1
        if reason:
            # A final status that cannot account for the batch (counts that do not add up, a
            # total other than the records sent, COMPLETED with records still "not
            # converted") says nothing sure of any record: taken as it says, it made false
            # successes and false failures (hunt round 8). The job ends with what it says
            # (kept on the lost job); which of its records converted is settled.
            events.extend(self.lost(seq, job_id, reason, status, by_record=by_record))
            return events
        if unclear and not fully:
            # Its failures may be records its lost predecessor (or another run of the fleet)
            # converted (Zoho failing them inside the job, or the job FAILED) or records that
            # fail for a reason of their own (locked, not approved), and its counts cannot
            # say which: each record's single convert does (refused as converted, refused
            # with its own reason, or converted now). The job has ended, so nothing of it
            # runs: at once. Without the single convert, which records converted is
            # unknown: uncertain, never a success nor a failure. A suspect batch's own job may
            # not be this one, and may still run: it is waited for first, from its answer.
            # A settling job's failures may be records its lost predecessor still held: they
            # are checked a lost job's wait after its answer, that check final (as a suspect
            # one's: ``second_look``); at once after a final look, or a fleet's first job.
            converted = status.converted_count or 0
            kind = "settling job" if batch.settling else "job"
            done = f"{kind} {job_id} converted {converted} of {len(batch.ids)} records"
            if by_record:
                reason = f"{done}; each is checked by its single convert"
                # (Its job ran: stopped before the checks, its ids are uncertain, not unsent.)
                later = batch.suspect or (batch.settling and not batch.final_look)
                since = batch.answered if later else batch.since
                check = BatchUncertain(
                    seq, batch.ids, since, True, reason, "", not later, True, final_look=True
                )
                events.append(check)
            else:
                reason = (
                    f"{done}; which of the rest an earlier submission converted cannot be "
                    "told without the single convert"
                )
                events.append(BatchGaveUp(seq, batch.ids, reason))
            return events
        events.append(JobFinished(seq, job_id, len(batch.ids), status, batch.ids, batch.settling))
        return events

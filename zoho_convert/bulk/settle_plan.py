"""The settling half of the run's state machine: when parked batches fall due, in which
rounds they go, whether one goes record by record (what is left when settling ends:
``run_ends``).

``RunMachine`` (``machine.py``) folds the run's events into the batches defined here and
inherits these decisions. ``settling.py`` has the policy, and why a lost job is waited for.
No I/O.
"""

from __future__ import annotations

import enum
import math

import attrs

from zoho_convert.bulk.ledger import CLAIMED_ELSEWHERE
from zoho_convert.bulk.settling import SettlePolicy

__all__ = ["Batch", "BatchState", "SettlePlan", "SettleRound"]

# Seconds before a record whose single convert Zoho answered with a 5xx goes again, doubled
# for each settling round the record has had.
_RECORD_PAUSE = 0.05
# Seconds before a settling submission Zoho surely did nothing with (a 429 after the client's
# retries, a request that never left) goes again: doubled for each such refusal in a row, up
# to ``SettlePolicy.min_wait``; never sooner than Zoho's Retry-After (``SettlePlan.throttled``).
_THROTTLE_PAUSE = 0.1
# The longest that pace grows to (seconds, or ``SettlePolicy.min_wait`` if longer): a storm of
# 429s that lasts makes a request per batch this often, not one a second.
_THROTTLE_CAP = 30.0


class BatchState(enum.Enum):
    """Where an active batch stands (finished, refused and split batches are forgotten)."""

    READ = "read"  # formed, not sent
    SUBMITTING = "submitting"  # being sent: it may have reached Zoho
    SUBMITTED = "submitted"  # Zoho gave it a job, being polled
    PARKED = "parked"  # outcome unknown (or send failed): to be settled by resubmission
    RESUBMITTING = "resubmitting"  # parked, now due: waiting for a slot to be resubmitted


_WAITING = (BatchState.PARKED, BatchState.RESUBMITTING)  # parked, or taken to go again


@attrs.define
class Batch:
    """An active batch: its ids, its state, and what settling needs to know."""

    seq: int
    ids: tuple[str, ...]
    state: BatchState = BatchState.READ
    settling: bool = False  # an earlier submission of these ids may have reached Zoho
    job_id: str | None = None
    since: float = 0.0  # sent at (SUBMITTED); settle from (PARKED)
    answered: float = 0.0  # Zoho's acceptance came back at (SUBMITTED)
    reason: str = ""
    code: str = ""  # Zoho's code of the error that parked it, if Zoho answered
    at_once: bool = False  # parked, but nothing can be running with its ids: no wait
    rounds: int = 0  # settling resubmissions of these ids so far (split parts inherit them)
    looks: int = 0  # looked at again while another run held its ids (split parts inherit)
    by_record: bool = False  # to be settled record by record (``BatchUncertain.by_record``)
    # Parked to have its settling job's records checked one by one, or for its second look
    # (``second_look``): that finishes the round before, so it takes no round of its own.
    check_pending: bool = False
    # Its next look is final (``BatchUncertain.final_look``), and its second look was given
    # rounds of its own (once per batch): ``second_look.fold_final_look``. Parts inherit both.
    final_look: bool = False
    rounds_renewed: bool = False
    # When its settling began (first taken to go again; split parts inherit it): its own
    # deadline counts from then (``SettlePolicy.deadline``). None: not yet.
    settle_from: float | None = None
    # Its lost job was seen running and nothing bounds how long: it never goes again
    # (``BatchUncertain.unbounded``).
    unbounded: bool = False
    # Settling submissions in a row Zoho surely did nothing with (a 429, one never sent): the
    # last goes again in its round, paced: not before ``not_before`` (``SettlePlan.throttled``).
    throttles: int = 0
    not_before: float = 0.0
    # Its job id may be another batch's (a job of unknown id existed when it was answered, or
    # arose then, or Zoho gave another batch a job id of this run while it was polled): a job
    # of it not converting every record is checked by record (``RunMachine.finished``).
    suspect: bool = False
    meanwhile: list[int] = attrs.Factory(list)  # (SUBMITTING) batches answered meanwhile
    # Its job (SUBMITTED) last answered a status that cannot be used: no sign it still runs
    # (``LostJobs.unreadable``): it holds no parked batch back.
    unreadable: bool = False

    def part(self, seq: int, ids: tuple[str, ...], settling: bool) -> Batch:
        """A part of it split off (``BatchSplit``): it inherits what its settling used (rounds,
        looks, its deadline's start), how it settles, and its final look (``second_look``)."""
        part = Batch(seq, ids, settling=settling, rounds=self.rounds, looks=self.looks)
        part.by_record, part.settle_from = self.by_record, self.settle_from
        part.final_look, part.rounds_renewed = self.final_look, self.rounds_renewed
        return part

    @property
    def held_elsewhere(self) -> bool:
        """Parked because another run of the fleet holds its ids (no job of this run)."""
        return self.code == CLAIMED_ELSEWHERE


@attrs.frozen
class SettleRound:
    """The batches to resubmit in a settling round, not before ``due`` (the run's clock)."""

    due: float
    batches: tuple[Batch, ...]


class SettlePlan:
    """The settling decisions over a run's batches (the base of ``RunMachine``).

    Args:
        settle: how settling rounds are bounded.
        in_flight_grace: seconds after a run stopped that a POST it had in flight may still
            start a job: the client's request timeout (a server still at work on it may act
            on it that late; see ``isolation.latest_start``). A resumed run waits a lost job
            of unknown length for those (``SettlePolicy.unknown_wait``) from when it resumed.
    """

    def __init__(self, settle: SettlePolicy, in_flight_grace: float = 0.0) -> None:
        self.settle = settle
        self.in_flight_grace = in_flight_grace
        self.batches: dict[int, Batch] = {}
        self.parked: dict[int, Batch] = {}  # parked at some point (a superset: checked on use)
        self.input_ended = False
        self.longest_job = 0.0  # journaled: each job's duration bounded loosely
        # The longest job measured tightly in this session (see ``settling.PollTimer``);
        # settling waits for it when known.
        self.longest_job_tight = 0.0
        self.shortest_job_tight = math.inf
        self.tight_jobs = 0  # jobs measured tightly in this session
        # The longest a lost job seen running may run, by its pace (``seen_job_length``): a
        # lost job not seen may be as long.
        self.longest_seen_running = 0.0
        # When the oldest job left unfinished (the poll timeout, the run stopping) was sent.
        self.oldest_unfinished = math.inf
        # Round trips of accepted submissions in this session: what a single convert takes.
        self.round_trip_sum = 0.0
        self.round_trips = 0

    def by_record(self, seq: int, queued: int, slots: int) -> bool:
        """Whether to settle a parked batch record by record (``SettlePolicy.record_by_record``
        permitting): once every batch of the input has been sent (first submissions need
        every request slot), and when its records, after the ``queued`` ones and a poll of
        each job still running, ``slots`` at a time, would all be converted before a mass
        resubmission's job would end. One call per record beats one job while few requests
        wait; many parked batches, or a busy tail, go faster as jobs."""
        batch = self.batches[seq]
        if batch.by_record:
            return True  # (its records' fates are known only one by one)
        round_trip = self.mean_round_trip()
        if not batch.settling or not self.input_ended or round_trip is None:
            return False
        requests = queued + len(batch.ids)
        for other in self.batches.values():
            if other.state is BatchState.READ and not other.settling:
                return False  # a first submission still waits for a slot
            if other.state is BatchState.SUBMITTED:
                requests += 1  # its poll takes a slot too
        job = self._longest() or self.settle.min_wait
        return math.ceil(requests / slots) * round_trip < job

    def mean_round_trip(self) -> float | None:
        """The mean round trip of an accepted submission (this session's, or the one an
        earlier session journaled), None before any."""
        return self.round_trip_sum / self.round_trips if self.round_trips else None

    def record_pause(self, seq: int) -> float:
        """Seconds a record whose single convert Zoho answered with an error waits before it
        goes again: short (nothing of that call still runs), doubling with its rounds."""
        return min(_RECORD_PAUSE * 2.0 ** self.batches[seq].rounds, self.settle.min_wait)

    def throttled(self, seq: int, at: float, retry_after: float | None = None) -> float:
        """A settling submission (or a record's single convert) that Zoho surely did nothing
        with, refused ``at``: a 429 after the client's retries, or a request that never left.
        It used no round: it goes again in the round it was sent in (or, a check's, in none),
        whatever rounds the batch used, so a storm of 429s does not spend the rounds in a
        second; only ``SettlePolicy.deadline`` bounds these. It is paced instead: not sent
        again before ``_THROTTLE_PAUSE`` doubled for each such refusal in a row, up to
        ``_THROTTLE_CAP`` (or ``min_wait``), nor before Zoho's ``retry_after`` (up to its
        settling deadline). Returns when it may go again."""
        batch = self.batches[seq]
        if batch.settle_from is None:  # (a first submission's deadline counts from now)
            batch.settle_from = at
        batch.throttles += 1
        doubled = _THROTTLE_PAUSE * 2.0 ** min(batch.throttles - 1, 30)  # (no overflow)
        pause = min(doubled, max(_THROTTLE_CAP, self.settle.min_wait))
        # Retry-After up to the deadline only: one of a year held the run a year (round 9).
        batch.not_before = at + max(pause, min(retry_after or 0.0, self._last(batch, at) - at))
        return batch.not_before

    def _ready(self, batch: Batch, wait: float) -> float:
        """When a parked batch may go again: due (``_due``), and no sooner than its pace."""
        return max(self._due(batch, wait), batch.not_before)

    def due_at(self, seq: int) -> float:
        """When a parked batch falls due (the lost job's wait, or at once; not before its
        pace)."""
        return self._ready(self.batches[seq], self._wait())

    def _wait(self) -> float:
        # A lost job seen running shows how long jobs can take: a lost job is given at least
        # as long (never less than ``unknown_wait`` while no job has ended, though).
        margin = self._margin()
        return max(self.settle.wait(self._longest(), margin), self.longest_seen_running + margin)

    def _margin(self) -> float:
        """What a lost job is given on top of the longest job measured tightly: the longest
        job seen is a sample, and with durations varying, 1 job in n+1 outlasts n others.
        So: how much the durations vary, and the longest over the number of them (twice
        the longest when one job was measured; little once many were). The spread of n
        durations understates how much they vary, most when n is small (of durations
        spread evenly, n cover (n - 1) / (n + 1) of their range on average): it is widened
        by the inverse. 0 when no job, or only loosely bounded ones (an earlier session's),
        were measured."""
        n = self.tight_jobs
        if not n:
            return 0.0
        spread = self.longest_job_tight - self.shortest_job_tight
        varies = spread * (n + 1) / (n - 1) if n > 1 else 0.0
        return varies + self.longest_job_tight / n

    def _longest(self) -> float:
        """The longest job seen: measured tightly in this session if any was, else loosely."""
        return self.longest_job_tight or self.longest_job

    def _due(self, batch: Batch, wait: float) -> float:
        # A lost job may still be running: give it the longest duration seen and a margin to
        # finish, so that Zoho knows its records as converted before they are sent again. A
        # batch none of whose submissions can have reached Zoho has no job: it may go again
        # at once. Ids another run holds are looked at again sooner (``_look_again``).
        if batch.at_once:
            return batch.since
        if batch.unbounded:
            return math.inf  # (nothing bounds its lost job: it never goes again)
        if batch.held_elsewhere:
            return batch.since + self._look_again(batch, wait)
        return batch.since + wait

    def _look_again(self, batch: Batch, wait: float) -> float:
        """Seconds before ids another run holds are looked at again: min_wait, doubling each
        time, up to a lost job's wait. No job of this run holds them (any lost job of its
        own was waited for before they were screened), so nothing is resubmitted early:
        only the ledger is asked again, sooner than a job's duration unknown to this run."""
        return min(self.settle.min_wait * 2.0**batch.looks, wait)

    def _parked(self) -> list[Batch]:
        parked, live = BatchState.PARKED, self.batches.get
        self.parked = {s: b for s, b in self.parked.items() if b.state is parked and live(s) is b}
        # Ids another run held are looked at again whatever rounds their batch used, a
        # settling job's records are checked, and a submission Zoho did nothing with goes
        # again: none is a resubmission of its own (the deadline bounds them).
        rounds = self.settle.max_rounds
        return [
            b
            for b in self.parked.values()
            if b.rounds < rounds or b.held_elsewhere or b.check_pending or b.throttles
        ]

    def _oldest_running(self) -> float:
        """When the oldest job still being polled, and not answering unusable statuses, was
        sent (infinity: none is)."""
        polled = BatchState.SUBMITTED
        sent = (b.since for b in self.batches.values() if b.state is polled and not b.unreadable)
        return min(sent, default=math.inf)

    def _last(self, batch: Batch, now: float) -> float:
        """The last moment a batch may go again: its settling deadline (counted from now for
        one not yet taken: taken now, its settling would begin now)."""
        if batch.check_pending:
            return math.inf  # (finishing the round before: no deadline of its own)
        began = now if batch.settle_from is None else batch.settle_from
        return began + self.settle.deadline

    def _take(self, batches: list[Batch], now: float) -> tuple[Batch, ...]:
        for batch in batches:
            if batch.settle_from is None:
                batch.settle_from = now
            batch.state = BatchState.RESUBMITTING
            if batch.held_elsewhere:
                batch.looks += 1  # looking again at the ledger: not a resubmission
            elif batch.check_pending:
                # Part of the round before; its records get a deadline from now (a check may go
                # past the batch's: one answered 5xx still goes again).
                batch.check_pending, batch.settle_from = False, now
            elif not batch.throttles:  # (one Zoho did nothing with goes again in its round)
                batch.rounds += 1
        return tuple(batches)

    def settle_due(self, now: float) -> tuple[Batch, ...]:
        """The parked batches due by ``now``, taken for resubmission at once, while the run
        goes on (the driver asks after every poll); none past its settling deadline.

        While a job sent no later than a batch's lost submission (or a margin after it)
        still runs, that batch is not due either: its lost job, like that job, may still be
        running (a job still running is at least as long as its age: the longest job seen
        is a sample, small early in a run; one answering a status that cannot be used is not
        taken to run: ``LostJobs.unreadable``). Ids another run held wait for no job of this run.
        """
        if not self.parked:
            return ()  # none ever parked (the usual case, asked after every poll): nothing due
        wait = self._wait()
        due = [b for b in self._parked() if self._ready(b, wait) <= now <= self._last(b, now)]
        if not due:
            return ()
        # A job sent a moment after the lost one, still running, may be as long: so may the
        # lost one (the margin is how much the lost job is given past the longest seen).
        oldest = self._held_back_from()
        free = [b for b in due if b.at_once or b.held_elsewhere or oldest > b.since]
        return self._take(free, now)

    def _held_back_from(self) -> float:
        """Batches lost at or after this time may not go again: a job sent no later (or
        within the margin after) still runs, or was given up on while it ran (the poll
        timeout): a lost job may be as long, and how long that one runs is unknown."""
        return min(self._oldest_running(), self.oldest_unfinished) - self._margin()

    def _outlived(self, batch: Batch) -> bool:
        """Whether a parked batch's lost job may run as long as a job given up on while it
        ran: it may never go again (it ends uncertain when settling ends)."""
        waits = not (batch.at_once or batch.held_elsewhere)
        held = batch.unbounded or self.oldest_unfinished - self._margin() <= batch.since
        return waits and held

    def settle_round(self, now: float) -> SettleRound | None:
        """Once no job runs: the parked batches that fall due first, each before its settling
        deadline, to resubmit when the last of them is due (the rest in a later round); None
        when nothing is left to settle, or rounds or time are used up (``SettlePolicy``). No
        batch goes past its deadline (a round's jobs may outlast it: none starts after it);
        one not yet resubmitted gets its first round however late it falls due (its deadline
        counts from then). One whose lost job may be as long as a job given up on while it
        ran never goes again. A check or a second look (``check_pending``) due after the
        round's first batches goes in a round of its own: they do not wait for it."""
        wait = self._wait()
        parked = [b for b in self._parked() if not self._outlived(b)]
        timed = sorted((max(now, self._ready(b, wait)), b.seq, b) for b in parked)
        batches: list[Batch] = []
        due, last = now, math.inf
        for batch_due, _, batch in timed:
            # One not yet taken gets its first round however late it falls due (its deadline
            # then counts from that round).
            late = batch_due > now + self.settle.deadline
            batch_last = self._last(batch, batch_due if late else now)
            if batch_due > batch_last:
                continue  # too late for it
            if batch_due > last:
                break  # later than an earlier one may go: a later round
            if batch.check_pending and batch_due > due and batches:
                break  # (a check, a second look, finishes a round: none waits for it)
            batches.append(batch)
            due, last = batch_due, min(last, batch_last)
        if not batches:
            return None
        return SettleRound(due, self._take(batches, due))  # (their settling begins then)

    def lost_job_wait(self) -> float:
        """Seconds a lost job is given to finish now (from when it surely started)."""
        return self._wait()

    def never_again(self) -> list[tuple[str, ...]]:
        """The ids of the parked batches that will never go again: their lost jobs may run
        as long as one given up on while it ran (``_outlived``)."""
        waiting = [b for b in self.batches.values() if b.state in _WAITING and b.settling]
        return [b.ids for b in waiting if self._outlived(b)]

    def lost_jobs_end(self, now: float) -> float:
        """When every lost job of the batches that may have been sent has surely ended, as
        settling would wait for it; infinity when a job sent no later than one of them (or
        within the margin after it) had not ended when the run stopped: settling would not
        resubmit it meanwhile, and how long that job runs is unknown from here on."""
        ends, wait = now, self._wait()
        oldest = self._held_back_from()
        for batch in self.batches.values():
            if batch.state is BatchState.SUBMITTING:
                lost_at = now + self.in_flight_grace  # (it may land that late)
                ends = max(ends, lost_at + wait)
            elif batch.state in _WAITING and batch.settling and not batch.at_once:
                # (A batch taken for a round may still sleep until it is due. A part split
                # off one being sent again was due; ids another run held, or a record answered
                # at once, wait for no job of this run.)
                if batch.held_elsewhere:
                    continue
                lost_at = batch.since
                ends = max(ends, self._due(batch, wait))
            else:
                continue
            if oldest <= lost_at:
                return math.inf
        return ends

"""``LedgerKeeper``: keeps a fleet's conversion ledger up to date from a run's events.

A subscriber like the tally and the journal: records ids known converted (a fully converted
job, ids refused or found as already converted) and gives back the claims on ids whose
outcome is anything else, so another worker may take them. The ledger's calls are I/O, so
the keeper queues them and the driver flushes the queue (after each batch, and at the end).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from typing import Protocol

from zoho_convert.bulk.events import (
    BatchGaveUp,
    BatchSplit,
    BatchUncertain,
    Event,
    IdsAlreadyConverted,
    IdsConverted,
    IdsRejected,
    JobFinished,
    JobUnfinished,
    LongestJob,
    RunStopped,
)
from zoho_convert.bulk.ledger import CLAIMED_ELSEWHERE, ConversionLedger
from zoho_convert.bulk.report import JobOutcome

__all__ = ["UNFINISHED_HOLD", "LedgerKeeper", "LostJobPlan"]

#: Seconds a run holds on to the claims of a job it gave up on at the poll timeout (renewed
#: then): the job still runs, for how long nobody knows, and another worker sending its ids
#: meanwhile would run two jobs side by side. Resuming the run (or its journal) settles them
#: sooner; a ledger whose claims cannot be renewed lets them expire as usual.
UNFINISHED_HOLD = 24 * 3600.0


class LostJobPlan(Protocol):
    """What the keeper asks the run's machine (``RunMachine``) about its lost jobs."""

    def lost_job_wait(self) -> float:
        """Seconds a lost job of the run is given to finish now."""

    def never_again(self) -> Iterable[tuple[str, ...]]:
        """The ids of parked batches that will never go again (their lost jobs may run as
        long as one given up on while it ran)."""


class LedgerKeeper:
    """Queues ledger updates from events; ``flush`` sends them.

    Args:
        ledger: the fleet's ledger.
        module: the ledger's key for this run (the source module).
        ttl: how long a claim lasts (the run's claim ttl: the poll timeout and a margin); a
            claim lasts a lost job's wait longer, as that grows (a lost batch's ids wait as
            long before they go again).
        plan: the run's lost-job decisions: the keeper holds on to the claims of batches
            that will never go again, and follows the lost-job wait (also known from the
            ``LongestJob`` a lost job seen running gives).
    """

    def __init__(
        self,
        ledger: ConversionLedger,
        module: str,
        ttl: float = 0.0,
        plan: LostJobPlan | None = None,
    ) -> None:
        self.ledger = ledger
        self.module = module
        self._plan = plan
        self._converted: list[str] = []
        self._released: list[str] = []
        self._mine: set[str] = set()  # ids this run claimed and holds
        self._later: list[str] = []  # ids to give back once their lost jobs surely ended
        self._later_delay = 0.0  # seconds from the next flush until then
        self._held: list[str] = []  # ids of jobs given up on at the poll timeout: hold on
        self._holding: set[str] = set()  # ids held so (not to be renewed for less)
        self._ttl = ttl  # how long a screen claims ids for (the run's claim ttl)
        self._seen = 0.0  # how long a lost job seen running may run (``LongestJob.seen``)
        self._covered = 0.0  # the lost-job wait this run's claims were last made to outlast

    def __call__(self, event: Event) -> None:
        """Note what an event says of the ids' fate."""
        if isinstance(event, JobFinished):
            outcome = JobOutcome(event.job_id, event.size, event.status)
            if outcome.fully_converted:
                self._convert(event.ids)
            else:
                self._release(event.ids)
        elif isinstance(event, (IdsAlreadyConverted, IdsConverted)):
            self._convert(event.ids)
        elif isinstance(event, IdsRejected):
            for item in event.rejected:
                # Refused as converted: converted, by someone; anything else: free to retry.
                if item.code == "ID_ALREADY_CONVERTED":
                    self._convert((item.id,))
                else:
                    self._release((item.id,))
        elif isinstance(event, BatchUncertain):
            # A submission that may have reached Zoho keeps its claims while its lost job may
            # run (another worker sending them meanwhile would run two jobs side by side); the
            # batch gives them back when it is screened again, its wait over. So do records
            # parked to be checked one by one (``by_record``): this run converts them next.
            if not event.maybe_sent and not event.by_record:
                self._release(event.ids)
            elif event.unbounded:
                self._hold(event.ids)  # (nothing bounds its lost job: as one given up on)
        elif isinstance(event, LongestJob) and event.seen:
            # A lost job seen running may run this long: so may any lost job of this run, whose
            # ids wait as long: their claims (all of this run's) last as much longer.
            self._seen = max(self._seen, event.seconds)
        elif isinstance(event, JobUnfinished) and event.timed_out:
            # Still running when the run gave up on it: its claims are renewed to hold on to
            # its ids (``UNFINISHED_HOLD``), not left to expire while it may still run.
            self._hold(event.ids)
        elif isinstance(event, BatchGaveUp) and event.lost_job_end == math.inf:
            self._hold(event.ids)  # (its lost job may run as long: likewise)
        elif isinstance(event, BatchGaveUp):
            # Its last submission may have reached Zoho, its job not waited for (rounds or
            # time ran out): its claims are given back once that job has surely ended.
            self._release_later(event.ids, event.lost_job_end)
        elif isinstance(event, RunStopped):
            # Ids never sent are free. Ids that may have been (a submission in flight when the
            # run stopped, a lost one's) are given back once their lost job has surely ended
            # (another worker sending them while it ran would run two jobs side by side), if
            # the ledger can do that (``release_later``) and that end is known; else their
            # claims expire, as a crashed worker's do. (A job still running keeps its claims
            # until they expire: a claim outlives the longest poll of a job.) Batches that
            # would never have gone again are held on to, as they would have been.
            self._never_again()
            self._release(event.not_submitted)
            self._release_later(event.uncertain, event.lost_jobs_end)

    def adopt(self, ids: Iterable[str]) -> None:
        """Take ``ids`` as this run's own: claims an earlier session of it made under the
        same holder (``ConversionLedger.holding``), to give back as if made now."""
        self._mine.update(ids)

    def _convert(self, ids: Iterable[str]) -> None:
        converted = tuple(ids)
        self._converted.extend(converted)
        self._mine.difference_update(converted)

    def _hold(self, ids: Iterable[str]) -> None:
        """Renew this run's claims on ``ids`` for ``UNFINISHED_HOLD`` at the next flush."""
        held = [value for value in ids if value in self._mine]
        self._held.extend(held)
        self._holding.update(held)

    def _release_later(self, ids: Iterable[str], delay: float) -> None:
        """Give back this run's claims on ``ids`` ``delay`` seconds from the next flush (an
        infinite delay: never; they expire)."""
        if delay <= 0.0:
            return self._release(ids)
        later = [value for value in ids if value in self._mine]
        self._mine.difference_update(later)
        if math.isfinite(delay):
            self._later.extend(later)
            self._later_delay = max(self._later_delay, delay)

    def _release(self, ids: Iterable[str]) -> None:
        # Only this run's claims: ids parked because another run holds them (of another
        # process, or of this one) are that run's to give back; releasing them would let two
        # jobs convert them side by side.
        mine = [value for value in ids if value in self._mine]
        self._mine.difference_update(mine)
        self._released.extend(mine)

    async def screen(
        self,
        seq: int,
        ids: tuple[str, ...],
        settling: bool,
        new_seq: Callable[[], int],
        now: float,
        ttl: float,
    ) -> tuple[list[Event], int]:
        """Before a batch is sent: the ids the ledger knows converted are already converted,
        those another worker holds are parked (looked at again when settling), the rest is
        claimed for ``ttl`` seconds.

        Returns:
            the events saying so, and the part to submit (a batch number; -1 for none).
        """
        self._ttl = ttl
        ttl += self._longer()  # (a lost batch's ids wait that much longer)
        self._release(ids)  # this run's own claims among them (a lost submission's)
        if self._released:
            # Claims this run gave back, not sent yet (a record parked a moment ago, looked at
            # again now; a lost submission's, its wait over): give them back first, or this
            # run's own claims would hold them.
            released, self._released = self._released, []
            try:
                await self.ledger.release(self.module, released)
            except Exception:  # (as ``flush``'s callers: never fatal; sent with the next one)
                self._released[:0] = released
        new, known = await self.ledger.filter_known(self.module, ids)
        claimed, held = await self.ledger.claim(self.module, new, ttl) if new else ([], [])
        self._mine.update(claimed)
        if not known and not held:
            return [], seq
        parts = [(new_seq(), tuple(part)) for part in (claimed, held) if part]
        events: list[Event] = []
        if known:
            events.append(IdsAlreadyConverted(seq, tuple(known)))
        if parts:
            events.append(BatchSplit(seq, tuple(parts), settling))
        if held:
            reason = "another worker of the fleet holds these ids"
            events.append(
                BatchUncertain(
                    parts[-1][0], tuple(held), now, settling, reason, code=CLAIMED_ELSEWHERE
                )
            )
        return events, parts[0][0] if claimed else -1

    def _longer(self) -> float:
        """How much longer than the claim ttl a claim must last: a lost job's wait."""
        wait = 0.0 if self._plan is None else self._plan.lost_job_wait()
        return max(wait, self._seen)

    def _never_again(self) -> None:
        """Hold on to the claims of the parked batches that will never go again."""
        if self._plan is not None:
            for ids in self._plan.never_again():
                self._hold(value for value in ids if value not in self._holding)

    async def flush(self) -> None:
        """Send what is queued to the ledger. Flushes may overlap (each batch flushes): a
        renewal never shortens a claim nor claims an id afresh (``_extend``), so one under
        way cannot undo a hold or a give-back another made meanwhile. What a failed call did
        not send stays queued for the next flush (a claim left to expire could let another
        worker send ids a job may still hold)."""
        self._never_again()
        longer = self._longer()
        converted, self._converted = self._converted, []
        released, self._released = self._released, []
        held, self._held = self._held, []
        later, self._later = self._later, []
        delay, self._later_delay = self._later_delay, 0.0
        try:
            if converted:
                await self.ledger.mark_converted(self.module, converted)
                converted = []
            if released:
                await self.ledger.release(self.module, released)
                released = []
            # (Claims outlast a lost job's wait by the ttl: renewed only once the wait grew
            # by a quarter of it, rarely, and never for the short jobs of a usual run.)
            if longer > self._covered + self._ttl / 4:
                covered, self._covered = self._covered, longer  # (one renewal, not one a flush)
                try:
                    await self._extend(longer)
                except BaseException:
                    self._covered = covered
                    raise
            if held:
                await self.ledger.claim(self.module, held, UNFINISHED_HOLD)
                held = []
            release_later = getattr(self.ledger, "release_later", None)  # (optional)
            if later and release_later is not None:
                await release_later(self.module, later, delay)
            later = []
        finally:  # (what was not sent goes with the next flush)
            self._converted[:0] = converted
            self._released[:0] = released
            self._held[:0] = held
            self._later[:0] = later
            if later:
                self._later_delay = max(self._later_delay, delay)

    async def _extend(self, longer: float) -> None:
        """Make this run's claims (but those held on to) last ``longer`` more than a claim's
        ttl from now: never claiming an id afresh, nor shortening a claim (``extend``; a
        ledger without it claims them again)."""
        ids = [value for value in self._mine if value not in self._holding]
        if not ids:
            return
        extend = getattr(self.ledger, "extend", None)  # (optional: see ``ConversionLedger``)
        if extend is not None:
            await extend(self.module, ids, self._ttl + longer)
        else:
            await self.ledger.claim(self.module, ids, self._ttl + longer)

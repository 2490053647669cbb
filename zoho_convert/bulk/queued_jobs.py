"""Lost jobs that may wait in a queue: on a server that runs a module's jobs one after
another, a lost job starts only when the jobs that reached the server before it have ended,
so its wait counts from their ends, not only from when it was sent.

``RunMachine`` (``machine.py``) inherits these decisions (between ``SettlePlan``'s, whose
``_due`` this refines, and ``LostJobs``'); ``job_watch.JobWatch`` tells it what the polls
saw. No I/O.

Until the run sees that the server does not run its jobs one at a time in the order they
came (``JobsInParallel``), a lost job is taken to wait in such a queue: its records are due
no earlier than the latest end of the jobs sent before it that the run saw end, plus the
longest a job was seen to run and the margin (``SettlePlan._margin``), as well as its own
wait from when it was sent. Once a job sent after it is seen started, such a queue has run
it already: that bounds it instead. A lost job seen started (or ended) waits in no queue.
Lost jobs queued behind one another are not added up: the margin covers them, statistically.
"""

from __future__ import annotations

import bisect
import math

from zoho_convert.bulk.events import Event, JobsInParallel
from zoho_convert.bulk.settle_plan import Batch, SettlePlan
from zoho_convert.bulk.settling import SettlePolicy

__all__ = ["QueuedJobs"]


class QueuedJobs(SettlePlan):
    """The queued-job refinement of when a lost job's records fall due (see the module
    docstring). Args: as ``SettlePlan``'s."""

    def __init__(self, settle: SettlePolicy, in_flight_grace: float = 0.0) -> None:
        super().__init__(settle, in_flight_grace)
        self.parallel = False  # the server runs jobs side by side (``JobsInParallel``)
        # The longest a job measured tightly ran, at most: from when the last poll that found
        # it not started left (or its submission) to the poll that found it done. 0.0: none.
        self.longest_running = 0.0
        # The jobs seen end, and seen started; and the starts of the jobs that are no
        # suspect batch's (``Batch.suspect``: its job may be another submission's, sent at
        # another time): only these prove jobs run side by side. (A suspect one's start still
        # bounds a lost job: were it the lost job's own, Zoho would have handed out one job
        # id twice, and run jobs one at a time too.)
        self._ends, self._starts, self._sure_starts = _Ends(), _Starts(), _Starts()
        # The last sighting of a job running (its batch, when its poll left and came back),
        # and the last of a job of another batch before it: see ``job_running``.
        self._running: tuple[int, float, float] = (-1, -math.inf, -math.inf)
        self._other: tuple[float, float] = (-math.inf, -math.inf)
        # Batches whose lost job was seen started or ended (it waits in no queue), with the
        # ``since`` they were parked from.
        self._unqueued: dict[int, float] = {}

    def job_running(
        self, seq: int, first: float | None, left: float, at: float
    ) -> list[Event]:
        """A poll of batch ``seq``'s job that left at ``left`` found it unfinished (answered
        at ``at``); ``first``: when a poll first came back finding it running (None: none
        has, it is not started). Returns ``JobsInParallel`` once this shows the server does
        not run jobs one at a time in the order they came: the job ran from ``first`` to
        ``left`` at least, so another job seen running by a poll that left and came back
        meanwhile ran at the same time; or a job sent after this one was answered was seen
        started before this poll left."""
        if self.parallel:
            return []
        proof = False
        if first is not None:
            last_seq, last_left, last_at = self._running
            if last_seq != seq:
                self._other = (last_left, last_at)
            self._running = (seq, left, at)
            other_left, other_at = self._other
            proof = first <= other_left and other_at <= left
        # (Two jobs of distinct ids running at once prove it, a suspect batch's too; a job
        # seen started proves it only if surely sent when its batch was: ``_sure_started``.)
        if proof or self._sure_starts.after(self.batches[seq].answered) <= left:
            self._ends, self._starts, self._sure_starts = _Ends(), _Starts(), _Starts()
            self._unqueued = {}
            return [JobsInParallel()]
        return []

    def job_started(self, seq: int, at: float) -> None:
        """A poll answered at ``at`` first found batch ``seq``'s job started (running, or
        done converting)."""
        if self.parallel:
            return
        batch = self.batches[seq]
        self._starts.note(batch.since, at)
        if not batch.suspect:
            self._sure_starts.note(batch.since, at)

    def job_ended(self, seq: int, at: float, ran: float | None) -> None:
        """A poll answered at ``at`` found batch ``seq``'s job done; ``ran``: how long it ran
        at most, if measured tightly."""
        if self.parallel:
            return
        if ran is not None:
            self.longest_running = max(self.longest_running, ran)
        self._ends.note(self.batches[seq].since, at)

    def unqueued(self, seq: int, since: float) -> None:
        """Batch ``seq``'s lost job, parked from ``since``, was seen started or ended: it
        waits in no queue (its own wait bounds it)."""
        self._unqueued[seq] = since

    def _queued_end(self, batch: Batch) -> float:
        """When a parked batch's lost job has surely ended if it waited in a queue (see the
        module docstring); -infinity when that does not apply, or nothing is known."""
        if self.parallel or batch.at_once or batch.held_elsewhere or batch.unbounded:
            return -math.inf
        since = batch.since
        ahead = self._ends.latest_by(since)
        if ahead == -math.inf or self._unqueued.get(batch.seq) == since:
            return -math.inf
        # (None measured tightly yet, a resumed session's first jobs say: the longest a job
        # took, bounded loosely, stands in.)
        run = self.longest_running or self.longest_job or self._wait()
        # (A queue that started a job sent after it has run it.)
        return min(ahead + run + self._margin(), self._starts.after(since))

    def _due(self, batch: Batch, wait: float) -> float:
        # (``SettlePlan``'s, and no sooner than the queue says.)
        return max(super()._due(batch, wait), self._queued_end(batch))

    def lost_job_wait(self) -> float:
        """Seconds a lost job is given to finish now, from when it surely started (a fleet's
        claims outlast it): the longest a parked one waits, queued."""
        wait = self._wait()
        if self.parallel or not self._ends:
            return wait
        ends = (self._queued_end(b) - b.since for b in self._parked())
        return max(wait, max(ends, default=wait))



class _Ends:
    """The jobs seen end: (sent, ended) with both increasing (a job sent no later than
    another that ended no sooner says nothing more), so the latest end of the jobs sent by a
    time is that of the last one sent by it."""

    __slots__ = ("_ended", "_sent")

    def __init__(self) -> None:
        self._sent: list[float] = []
        self._ended: list[float] = []

    def __bool__(self) -> bool:
        return bool(self._sent)

    def note(self, sent: float, at: float) -> None:
        """A job sent at ``sent`` was seen ended at ``at``."""
        keys, ended = self._sent, self._ended
        r = bisect.bisect_right(keys, sent)
        if r and ended[r - 1] >= at:
            return  # (a job sent no later ended no sooner)
        i = bisect.bisect_left(keys, sent, 0, r)
        j = bisect.bisect_right(ended, at, i)
        keys[i:j], ended[i:j] = [sent], [at]

    def latest_by(self, time: float) -> float:
        """The latest end of the jobs sent no later than ``time`` (-infinity: none ended).
        (One sent at the same moment, a resumed session's re-polled jobs and the batches it
        re-parks, or one sent as a lost reply came back, may have come first.)"""
        i = bisect.bisect_right(self._sent, time)
        return self._ended[i - 1] if i else -math.inf


class _Starts:
    """The jobs seen started: (sent, first seen started) with both increasing (a job sent no
    sooner than another and seen started no later says all it would), so the first job sent
    after a time seen started is the first one sent after it."""

    __slots__ = ("_sent", "_started")

    def __init__(self) -> None:
        self._sent: list[float] = []
        self._started: list[float] = []

    def note(self, sent: float, at: float) -> None:
        """A job sent at ``sent`` was first seen started at ``at``."""
        keys, seen = self._sent, self._started
        j = bisect.bisect_left(keys, sent)
        if j < len(keys) and seen[j] <= at:
            return  # (a job sent no sooner was seen started no later)
        r = bisect.bisect_right(keys, sent, j)
        i = bisect.bisect_left(seen, at, 0, j)
        keys[i:r], seen[i:r] = [sent], [at]

    def after(self, time: float) -> float:
        """When a job sent after ``time`` was first seen started (infinity: none was)."""
        j = bisect.bisect_right(self._sent, time)
        return self._started[j] if j < len(self._started) else math.inf

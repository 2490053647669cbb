"""Watching one job's polls for the run: a ``PollTimer`` that tells the machine what each
poll saw of the job (started or not, running, done: ``QueuedJobs.job_sighted``) and, after
each poll that did not find it done, whether Zoho's status could be used, then the run what
fell due.

A job whose status Zoho answers with something that cannot be used (a count that is no count,
a state of no known word) is polled on until the poll timeout, but it is no sign that a job
still runs: the machine stops holding parked batches back for it (``LostJobs.unreadable``).
One whose state's words say it ended (CANCELLED, ABORTED: ``EndedStateError``) will not
change again: it is given up on at once, as at the poll timeout (a ``PollTimeoutError``), not
polled on for nothing. No I/O of its own.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from typing import Protocol

from zoho_convert.api.errors import PollTimeoutError, ResponseValidationError
from zoho_convert.api.models import JobState, JobStatus
from zoho_convert.api.polling import Schedule
from zoho_convert.api.timing import Clock, last_sent
from zoho_convert.api.wire import EndedStateError
from zoho_convert.bulk.events import Event
from zoho_convert.bulk.machine import RunMachine
from zoho_convert.bulk.settling import PollTimer

__all__ = ["JobWatch"]


class _Run(Protocol):
    """What a watch needs of the run (``driver.Run``)."""

    machine: RunMachine

    def publish_all(self, events: Iterable[Event]) -> None: ...

    def settle_now(self, now: float) -> None: ...


class JobWatch(PollTimer):
    """The poll timer of one batch's job (``seq``) in ``run``; ``timed``: sent in this
    session (see ``PollTimer.seen_running``). ``call`` makes one poll: poll with ``poll``."""

    __slots__ = ("_before", "_call", "_first", "_run", "_seq", "_timed", "unusable")

    def __init__(
        self,
        clock: Clock,
        schedule: Schedule,
        run: _Run,
        seq: int,
        timed: bool,
        call: Callable[[], Awaitable[JobStatus]],
    ) -> None:
        super().__init__(clock, schedule, self._told)
        self._run, self._seq, self._timed, self._call = run, seq, timed, call
        # Whether the last status Zoho answered could not be used. (A poll that got no
        # answer, a 5xx or a dropped connection, leaves it as it was: no news.)
        self.unusable = False
        # When a poll last found the job not started (at first: when it was sent, if this
        # session sent it), and when one first found it started.
        self._before = run.machine.batches[seq].since if timed else None
        self._first: float | None = None

    async def poll(self) -> JobStatus:
        """One poll of the job, noting a status Zoho answered that cannot be used (raised
        on: ``poll_job`` takes it as no news, and polls on)."""
        try:
            return await self._call()
        except EndedStateError:
            self.unusable = True
            # (``_told`` is not called for it: the machine learns here, as it would there.)
            run, seq = self._run, self._seq
            run.publish_all(run.machine.unreadable(seq, self.seen_running(self._timed)))
            job_id = run.machine.batches[seq].job_id
            assert job_id is not None  # (a batch whose job is polled)
            # Given up on before the poll timeout, as at it (no class of its own: the error
            # tree is public, README): its ids are reported unfinished, never sent again, as
            # whoever ended the job may have meant.
            raise PollTimeoutError(job_id, self.running) from None
        except ResponseValidationError:
            self.unusable = True
            raise

    def polled(self, started: float, ended: float, status: JobStatus | None) -> None:
        if status is not None:
            self.unusable = False  # (a status that can be used came)
            machine = self._run.machine
            # (Once jobs ran side by side, nothing more to learn; a final status that cannot
            # account for the batch says nothing of when the job ran: ``unaccounted``.)
            if not machine.parallel and not machine.unaccounted(self._seq, status):
                self._sighted(machine, status.state)
        super().polled(started, ended, status)

    def _sighted(self, machine: RunMachine, state: JobState) -> None:
        """Tell the machine what a poll found the job doing (``queued_jobs.QueuedJobs``)."""
        seq, now, left = self._seq, self._clock(), last_sent(self._asked)
        if state is JobState.SCHEDULED and self._first is None:
            self._before = left  # (it started after this poll left, if at all)
        elif self._first is None and state is not JobState.FAILED:
            self._first = now  # (a FAILED job may have failed without ever running)
            machine.job_started(seq, now)
        if not state.is_final:
            started = None if state is JobState.SCHEDULED else self._first
            self._run.publish_all(machine.job_running(seq, started, left, now))
            return
        # How long it ran, at most: measured only by a poll that left when asked (as a job's
        # duration is: ``PollTimer.tight``), from when it surely had not started.
        ran = None if self._before is None else now - self._before
        self.lag = left - self._asked  # (``tight`` reads it; ``PollTimer.polled`` sets it after)
        machine.job_ended(seq, now, ran if ran is not None and self.tight(ran) else None)

    def _told(self, now: float) -> None:
        """After a poll that did not find the job done: the machine learns whether its
        status could be used (while it cannot, and once when it can again), then the run
        resubmits what fell due."""
        run, seq = self._run, self._seq
        machine = run.machine
        if self.unusable or machine.batches[seq].unreadable:
            seen = self.seen_running(self._timed)
            run.publish_all(machine.unreadable(seq, seen, self.unusable))
        run.settle_now(now)

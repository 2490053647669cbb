"""Watching one job's polls for the run: a ``PollTimer`` that, after each poll that did not
find the job done, tells the machine whether Zoho's status could be used, then the run what
fell due.

A job whose status Zoho answers with something that cannot be used (an unknown state such as
CANCELLED, a count that is no count) is polled on until the poll timeout, but it is no sign
that a job still runs: the machine stops holding parked batches back for it
(``LostJobs.unreadable``). No I/O of its own.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from typing import Protocol

from zoho_convert.api.errors import ResponseValidationError
from zoho_convert.api.models import JobStatus
from zoho_convert.api.polling import Schedule
from zoho_convert.api.timing import Clock
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

    __slots__ = ("_call", "_run", "_seq", "_timed", "unusable")

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

    async def poll(self) -> JobStatus:
        """One poll of the job, noting a status Zoho answered that cannot be used (raised
        on: ``poll_job`` takes it as no news, and polls on)."""
        try:
            return await self._call()
        except ResponseValidationError:
            self.unusable = True
            raise

    def polled(self, started: float, ended: float, status: JobStatus | None) -> None:
        if status is not None:
            self.unusable = False  # (a status that can be used came)
        super().polled(started, ended, status)

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

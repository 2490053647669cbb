"""Settling: how a run learns the fate of batches whose submission is unknown, and how long it
gives a lost job to finish.

A submission whose reply was lost (a 5xx or a dropped connection after the POST left; one
that timed out is given as long again, the server may still be at work on it), a job
Zoho forgot, a job id Zoho gave two batches, a crash mid-submission: each leaves a batch whose
records may or may not have converted. ``convert_many`` settles such a batch by resubmitting
it once the lost job has had time to finish: Zoho refuses (or fails inside the job) a second
conversion of a record, so the resubmission converts exactly what the lost one did not. Zoho
does not reserve the ids of a running job, so resubmitting earlier could convert them twice.

Each parked batch is resubmitted as soon as it is due, while the rest of the run goes on
(but not while a job sent no later than its lost submission, or within the margin after it,
still runs: early in a run the longest job seen is the longest of the fastest few; ids
another run of the fleet holds wait for no job of this run); what is still parked when every
job has ended is settled in rounds, until every batch is settled, its round limit or the
deadline (``SettlePolicy``). A batch none of whose submissions can have reached Zoho goes at
once.

How long a job takes is measured tightly (``PollTimer``): from when its accepted submission
left (not from when it began to wait for a request slot) to the poll that found it done, and
only when that poll left as soon as it was asked for (a poll that queued behind other requests
or slept between retries sees the job done late, and would stretch every settling wait).
"""

from __future__ import annotations

from collections.abc import Callable

import attrs

from zoho_convert.api.checks import at_least, finite_positive, is_bool
from zoho_convert.api.models import JobStatus
from zoho_convert.api.polling import Schedule
from zoho_convert.api.timing import Clock, forget_sent, last_sent

__all__ = ["PollTimer", "SettlePolicy"]

# A poll that left this late after it was asked for (seconds, or this share of the job's
# duration if more) still times its job tightly; a later one only bounds it loosely.
_PROMPT_SECONDS = 0.02
_PROMPT_SHARE = 0.05


@attrs.frozen
class SettlePolicy:
    """Resubmission of batches whose outcome is unknown.

    Change a policy with ``attrs.evolve``.

    Attributes:
        max_rounds: resubmissions of one batch at most; a batch still unsettled after them
            is reported ``uncertain`` (or, if none of its submissions can have reached Zoho,
            ``rejected`` with the last error's code). Looking again at ids another run of the
            fleet holds is not a round, nor is a submission (a first one, or a settling
            resubmission) Zoho surely did nothing with (a 429 after the client's retries,
            one that never left): it goes again after 0.1 s, doubling for each such refusal
            in a row up to 30 s (or ``min_wait``, if longer), and never before Zoho's
            Retry-After, within the deadline (a first one's counted from its first refusal).
        deadline: seconds the settling of one batch may take (from its first resubmission,
            or the first look at its ids another run held; its split parts share it); no
            resubmission or look of it starts after it. Each batch has its own: a run longer
            than the deadline still settles a reply lost late in it.
        min_wait: seconds a lost job is given to finish before its ids are resubmitted, at
            least (the run waits longer when the jobs it has seen took longer: the longest
            of them, plus a margin: ``settle_plan.SettlePlan._margin``).
            Ids another run of the fleet holds are looked at again after it, the wait
            doubling each time up to a lost job's.
        unknown_wait: seconds a lost job is given when no job of the run has finished yet, so
            nothing is known of how long jobs take (resubmitting while the lost job still runs
            could convert its records twice).
        record_by_record: settle a Quotes or Sales_Orders batch by converting its records one
            at a time with the Convert Inventory Record call, which answers at once (a record
            the lost job converted is refused as converted), instead of a mass conversion
            whose job takes as long again. Only for runs that call can carry: no
            ``assign_to``, no ``related_modules`` (``carry_over_tags`` goes along, as Zoho's
            v8 spec allows; its v7 page says that call always carries tags). It costs one
            API credit per record instead of one call per batch. Leads are settled by mass
            conversion; with this on, the leads a settling job did not convert are each
            checked with Convert Lead (already converted, refused for a reason of their own,
            or converted now), when it can carry the run's options: no ``related_modules``,
            no ``carry_over_tags``.
    """

    max_rounds: int = attrs.field(default=6, validator=at_least(1))
    deadline: float = attrs.field(default=900.0, validator=finite_positive)
    min_wait: float = attrs.field(default=1.0, validator=finite_positive)
    unknown_wait: float = attrs.field(default=60.0, validator=finite_positive)
    record_by_record: bool = attrs.field(default=True, validator=is_bool)

    def wait(self, longest_job: float, margin: float = 0.0) -> float:
        """Seconds a lost job is given to finish, from when it surely started: the longest
        job seen (``longest_job`` seconds; 0: none finished yet) and a ``margin`` on top (a
        lost job may take longer than any seen), at least ``min_wait``."""
        return max(longest_job + margin if longest_job else self.unknown_wait, self.min_wait)


class PollTimer:
    """A job's poll schedule that also times its polls (how late the last one left after it
    was asked for) and tells the run each time one was answered.

    Queueing for a request slot and sleeping between retries make a poll late; a job found
    done by a late poll may have ended any time before it, so its duration is known only
    loosely (see ``tight``). Timing here, around the schedule ``poll_job`` consults right
    before and right after each poll, spares every poll a coroutine layer.

    Args:
        clock: the run's clock (the transport's, which marks each request's departure).
        schedule: when to poll (every ``Schedule`` call is handed on to it).
        on_poll: called with the clock after every poll that did not find the job done
            (the run asks after recording a job's end anyway). The run resubmits then what
            fell due: while jobs run, their polls are its heartbeat, so a parked batch goes
            about when due even if no job ends then, and no task of its own sleeps meanwhile.
    """

    __slots__ = ("_asked", "_clock", "_on_poll", "_schedule", "lag", "running", "running_at")

    def __init__(
        self, clock: Clock, schedule: Schedule, on_poll: Callable[[float], None] | None = None
    ) -> None:
        self._clock = clock
        self._schedule = schedule
        self._on_poll = on_poll
        self._asked: float  # set by ``due``, which ``poll_job`` asks before every poll
        self.lag = 0.0  # seconds the last answered poll left after it was asked for
        self.running: JobStatus | None = None  # the last status that was not final
        self.running_at = 0.0  # when it came (the run's clock)

    def wait(self, elapsed: float) -> float:
        return self._schedule.wait(elapsed)

    def due(self, elapsed: float) -> bool:
        """Whether to poll now; if so, the poll is asked for now (its lateness counts from
        here)."""
        if not self._schedule.due(elapsed):
            return False
        forget_sent()
        self._asked = self._clock()
        return True

    def polled(self, started: float, ended: float, status: JobStatus | None) -> None:
        if status is not None:  # an answer: note how late its poll left
            self.lag = last_sent(self._asked) - self._asked
            if not status.is_final:
                self.running, self.running_at = status, self._clock()
        self._schedule.polled(started, ended, status)
        if self._on_poll is not None and (status is None or not status.is_final):
            self._on_poll(self._clock())  # (a job's end is asked about once it is recorded)

    def seen_running(self, timed: bool) -> tuple[JobStatus, float | None] | None:
        """The last unfinished status a poll found, and when (None if it was not timed: the
        job was sent by an earlier session); None if no poll found the job unfinished."""
        if self.running is None:
            return None
        return self.running, self.running_at if timed else None

    def tight(self, took: float) -> bool:
        """Whether a job found done ``took`` seconds after its submission left, by the last
        poll, is timed tightly: that poll left when asked (within 20 ms, or 5 % of ``took``),
        so its lateness does not stretch the job's apparent duration."""
        return self.lag <= max(_PROMPT_SECONDS, _PROMPT_SHARE * took)

"""Waiting for one mass-convert job: ``PollPolicy``, its schedule, and ``poll_job``.

Polling is kept apart from request retrying (python-api-core deprecated the version that
conflated them): a status call that hits a transient error is retried by the client's
``RetryPolicy``; if even that gives up, the poller treats the failed poll as "no news" and
keeps to its own schedule until its deadline, backing off. Only the deadline ends a wait early,
or a state that says the job ended of an outcome no poll will tell (``EndedStateError``).

The plain schedule is a generator (``exponential_delays``): ``initial``, then each wait
``multiplier`` times the previous one, capped at ``max_interval``. ``poll_job`` takes any
``Schedule``: the bulk engine passes one that learns job durations (``bulk.adaptive``). The
deadline is checked before every sleep, and the last sleep is shortened so the final poll lands
on the deadline. Sleep and clock are injected so tests never wait for real.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Iterator
from typing import Protocol

import attrs

from zoho_convert.api.checks import at_least, finite_positive, is_bool
from zoho_convert.api.errors import (
    PollTimeoutError,
    RateLimitError,
    ResponseValidationError,
    ServerError,
    TransportError,
)
from zoho_convert.api.models import JobStatus
from zoho_convert.api.timing import Clock, Sleep
from zoho_convert.api.wire import EndedStateError

__all__ = [
    "TRANSIENT_POLL_ERRORS",
    "PlainSchedule",
    "PollPolicy",
    "Schedule",
    "exponential_delays",
    "poll_job",
]

StatusFetcher = Callable[[], Awaitable[JobStatus]]

# Errors that say nothing about the job itself: the request RetryPolicy already retried them;
# the poller just waits for its next scheduled poll.
TRANSIENT_POLL_ERRORS: tuple[type[BaseException], ...] = (
    TransportError,
    RateLimitError,
    ServerError,
    ResponseValidationError,
)


def exponential_delays(initial: float, multiplier: float, cap: float) -> Iterator[float]:
    """``initial``, then each delay ``multiplier`` times the last, never above ``cap``."""
    delay = min(initial, cap)
    while True:
        yield delay
        delay = min(delay * multiplier, cap)


@attrs.frozen
class PollPolicy:
    """How a mass-convert job is polled until it finishes.

    Change a policy with ``attrs.evolve``.

    Attributes:
        initial: seconds before the first poll (and the base of the backoff that follows).
        multiplier: growth factor of the wait between polls (at least 1); in adaptive mode, of
            the wait between polls that find a job still running past its expected end.
        max_interval: cap of one wait between polls, in seconds (in every mode).
        timeout: seconds after which a still-unfinished job is given up on
            (``PollTimeoutError``; ``convert_many`` reports it as unfinished).
        adaptive: in ``convert_many``, time the first poll of each job from the durations of
            the jobs already finished, so a steady workload needs about one poll per job.

    Raises:
        ValueError: at construction, when an interval or the timeout is not positive and
            finite, or the multiplier is below 1.
        TypeError: a field of the wrong type (``adaptive`` must be a bool).
    """

    initial: float = attrs.field(default=1.0, validator=finite_positive)
    multiplier: float = attrs.field(default=1.5, validator=[finite_positive, at_least(1)])
    max_interval: float = attrs.field(default=30.0, validator=finite_positive)
    timeout: float = attrs.field(default=900.0, validator=finite_positive)
    adaptive: bool = attrs.field(default=True, validator=is_bool)

    def delays(self) -> Iterator[float]:
        """The waits before each poll: ``initial``, then times ``multiplier``, capped."""
        return exponential_delays(self.initial, self.multiplier, self.max_interval)


class Schedule(Protocol):
    """When to poll one job; ``poll_job`` asks it before each sleep and tells it each answer."""

    def wait(self, elapsed: float) -> float:
        """Seconds to sleep before the next poll, ``elapsed`` seconds after the job's start."""

    def due(self, elapsed: float) -> bool:
        """After a sleep: whether to poll now (False: sleep again, the plan changed)."""

    def polled(self, started: float, ended: float, status: JobStatus | None) -> None:
        """A poll sent at ``started`` answered at ``ended`` (seconds after the job's start)
        with ``status`` (None: an unusable answer)."""


class PlainSchedule:
    """``PollPolicy.delays()``: the same backoff whatever the job answers."""

    __slots__ = ("_delays",)

    def __init__(self, policy: PollPolicy) -> None:
        self._delays = policy.delays()

    def wait(self, elapsed: float) -> float:
        return next(self._delays)

    def due(self, elapsed: float) -> bool:
        return True

    def polled(self, started: float, ended: float, status: JobStatus | None) -> None:
        return None


async def poll_job(
    fetch: StatusFetcher,
    job_id: str,
    policy: PollPolicy,
    *,
    sleep: Sleep | None = None,
    clock: Clock | None = None,
    schedule: Schedule | None = None,
) -> JobStatus:
    """Poll ``fetch`` until the job is final, on ``schedule`` (default: the policy's backoff).

    Args:
        fetch: returns the job's current status (one status request, retried by the client).
        job_id: the job's id, for the timeout error.
        policy: the deadline (and the schedule, unless one is given).
        sleep: the sleep function (default ``asyncio.sleep``).
        clock: the monotonic clock (default ``time.monotonic``).
        schedule: when to poll; told every answer.

    Returns:
        The final ``JobStatus`` (COMPLETED or FAILED).

    Raises:
        PollTimeoutError: the job was still unfinished at the deadline; carries the last
            status seen (None if no poll succeeded).
        EndedStateError: the job's state says it ended, of an outcome its status cannot
            tell (CANCELLED, ABORTED): it will not change again.
    """
    sleep = sleep or asyncio.sleep
    clock = clock or time.monotonic
    plan = schedule or PlainSchedule(policy)
    start = clock()
    deadline = start + policy.timeout
    last: JobStatus | None = None
    while True:
        now = clock()
        remaining = deadline - now
        if remaining <= 0:
            raise PollTimeoutError(job_id, last)
        await sleep(min(plan.wait(now - start), remaining))
        if not plan.due(clock() - start):
            continue
        polled_at = clock() - start
        try:
            status: JobStatus | None = await fetch()
        except EndedStateError:
            raise  # (CANCELLED, say: it will not change again; waiting on learns nothing)
        except TRANSIENT_POLL_ERRORS:
            # Already retried at request level; not a verdict on the job: try again later.
            status = None
        plan.polled(polled_at, clock() - start, status)
        if status is not None:
            last = status
            if status.is_final:
                return status

"""Job-level polling: wait for a mass-convert job to reach COMPLETED or FAILED.

Polling is kept apart from request retrying (python-api-core deprecated the version that
conflated them): a status call that hits a transient error is retried by the client's
``RetryPolicy``; if even that gives up, the poller treats the failed poll as "no news" and
keeps to its own schedule until its deadline. Only the poll deadline ends a wait early.

The schedule comes from ``backoff.expo``: first poll after ``initial`` seconds, then each wait
``multiplier`` times the previous one, capped at ``max_interval``. The deadline is checked
before every sleep, and the last sleep is shortened so the final poll lands on the deadline.
Sleep and clock are injected so tests never wait for real.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable, Generator, Iterator
from typing import Any

import attrs
import backoff

from zoho_convert.checks import at_least, finite_positive, is_bool
from zoho_convert.errors import (
    PollTimeoutError,
    RateLimitError,
    ResponseValidationError,
    ServerError,
    TransportError,
)
from zoho_convert.models import JobStatus
from zoho_convert.timing import Clock, Sleep

__all__ = [
    "TRANSIENT_POLL_ERRORS",
    "DurationEstimator",
    "JobPoller",
    "PollPolicy",
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


@attrs.frozen
class PollPolicy:
    """How a mass-convert job is polled until it finishes.

    Change a policy with ``attrs.evolve``.

    Attributes:
        initial: seconds before the first poll (and the base of the backoff that follows).
        multiplier: growth factor of the wait between polls (at least 1).
        max_interval: cap of one wait between polls, in seconds.
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
        gen = backoff.expo(base=self.multiplier, factor=self.initial, max_value=self.max_interval)
        next(gen)  # backoff's generators yield None first, to accept a .send()
        yield from gen


class DurationEstimator:
    """Learns how long jobs take, so each job is polled when it is likely done (adaptive).

    A job whose first poll found it finished may have finished earlier: the estimate shrinks
    a little (spread over the jobs in flight, so a burst of finishing jobs does not collapse
    it). A job polled too early shows the estimate is short: it jumps to the time the job was
    seen done. The estimate thus hovers just above the true duration: about one poll per job.
    """

    __slots__ = ("_estimate", "_floor", "_lower", "_max_seen")

    # Shrink applied once per "generation" of jobs in flight whose first poll found them done.
    _SHRINK = 0.85

    def __init__(self, floor: float = 0.0) -> None:
        self._estimate: float | None = None
        self._floor = floor
        self._max_seen = 0.0
        self._lower = 0.0

    @property
    def estimate(self) -> float | None:
        """Expected seconds from submission to completion, or None before any job finished."""
        return self._estimate

    @property
    def lower(self) -> float:
        """The longest time a job was seen still unfinished: a lower bound while unlearned."""
        return self._lower

    def unfinished_at(self, elapsed: float) -> None:
        """Record that a job was still running ``elapsed`` seconds after submission."""
        self._lower = max(self._lower, elapsed)

    @property
    def max_seen(self) -> float:
        """The longest time a job was seen to take (an upper bound), in seconds."""
        return self._max_seen

    def observe(
        self, first_hit: bool, done_after: float, in_flight: int, last_miss: float = 0.0
    ) -> None:
        """Record a finished job.

        Args:
            first_hit: whether the first poll already found it finished.
            done_after: seconds from submission to the poll that found it finished.
            in_flight: jobs still pending, to spread the shrink over a generation.
            last_miss: seconds from submission to its last poll that found it running.
        """
        self._max_seen = max(self._max_seen, done_after)
        current = self._estimate
        if first_hit:
            shrink = self._SHRINK ** (1.0 / max(in_flight, 1))
            base = done_after if current is None else min(current, done_after)
            self._estimate = max(base * shrink, self._floor)
        elif current is None:
            self._estimate = done_after
        else:
            # The job ended in (last_miss, done_after]: move the estimate into that bracket,
            # just past its lower end, rather than to a late poll's overshoot.
            self._estimate = min(max(current, last_miss * 1.1), done_after)


# Polls this close to a target time count as on time: with a clock that moves only when
# sleeping (tests), float rounding can leave the elapsed time one ulp short of the target, and
# a strict comparison would then re-target the same instant forever with zero-length sleeps.
_ON_TIME = 1e-6


def _check_deadline_and_wait(delay: float, deadline: float, now: float) -> float | None:
    """How long to sleep before the next poll, or None when the deadline has passed."""
    remaining = deadline - now
    if remaining <= 0:
        return None
    return min(delay, remaining)


async def poll_job(
    fetch: StatusFetcher,
    job_id: str,
    policy: PollPolicy,
    *,
    sleep: Sleep | None = None,
    clock: Clock | None = None,
    estimator: DurationEstimator | None = None,
    record: Callable[[int, float], None] | None = None,
) -> JobStatus:
    """Poll ``fetch`` until the job is final, on the policy's schedule or a learned one.

    Args:
        fetch: returns the job's current status (one status request, retried by the client).
        job_id: the job's id, for the timeout error.
        policy: the schedule and the deadline.
        sleep: the sleep function (default ``asyncio.sleep``).
        clock: the monotonic clock (default ``time.monotonic``).
        estimator: adaptive mode: what finished jobs taught about job durations. The job is
            polled when it is expected done (re-checked after every sleep, so a waiting job
            benefits from what other jobs taught meanwhile); after a miss, retries start at
            a tenth of the expectation and double. Unfinished polls teach it too.
        record: called after each successful poll with (poll number, seconds since start).

    Returns:
        The final ``JobStatus`` (COMPLETED or FAILED).

    Raises:
        PollTimeoutError: the job was still unfinished at the deadline; carries the last
            status seen (None if no poll succeeded).
    """
    sleep = sleep or asyncio.sleep
    clock = clock or time.monotonic
    start = clock()
    deadline = start + policy.timeout
    last: JobStatus | None = None
    plain = policy.delays()
    polls = 0
    late = 0  # polls that found the job running at or after the expected time
    last_poll = 0.0  # seconds after start of the last poll

    def target() -> float:
        # When (seconds after start) the next poll should happen, from what is known now.
        assert estimator is not None
        learned = estimator.estimate
        ref = learned if learned is not None else policy.initial
        if learned is not None and (polls == 0 or last_poll < learned - _ON_TIME):
            return learned  # not yet polled at the expected time: poll then
        if polls == 0:
            own = policy.initial
        else:
            # Missed at or after the expected time: retry soon, then back off.
            step = max(0.1 * ref, 0.001) * 2.0 ** min(max(late - 1, 0), 30)
            own = last_poll + min(step, policy.max_interval)
        if learned is None:
            # Nothing finished yet: do not poll before a job like this one was last seen
            # still running (the oldest jobs probe; the younger wait for what they learn).
            return max(own, estimator.lower * 1.1)
        return max(own, learned)

    while True:
        now = clock()
        delay = next(plain) if estimator is None else max(target() - (now - start), 0.0)
        wait = _check_deadline_and_wait(delay, deadline, now)
        if wait is None:
            break
        await sleep(wait)
        if estimator is not None and target() > clock() - start + _ON_TIME:
            continue  # others taught us meanwhile that this job needs longer: wait more
        last_poll = clock() - start
        try:
            status = await fetch()
        except TRANSIENT_POLL_ERRORS:
            # Already retried at request level; not a verdict on the job. Try again later,
            # backing off like after a miss: an unusable reply (an unknown state, a reply cut
            # short) must not be asked for again at the fastest pace.
            status = None
            late += 1
        polls += 1
        if status is not None:
            last = status
            if record is not None:
                record(polls, clock() - start)
            if status.is_final:
                return status
            if estimator is not None:
                estimator.unfinished_at(last_poll)
                if estimator.estimate is None or last_poll >= estimator.estimate:
                    late += 1
    raise PollTimeoutError(job_id, last)


class JobPoller:
    """An awaitable handle on one mass-convert job (azure-core's LRO poller shape).

    ``await poller`` (or ``await poller.result()``) polls until the job is final. The
    continuation token is JSON (module and job id), so a job can be resumed elsewhere with
    ``JobPoller.from_continuation_token``.

    Args:
        fetch: returns the job's current status.
        module: the module the job converts from (kept for the continuation token).
        job_id: the job's id.
        policy: the polling schedule and deadline.
        sleep: the sleep function (default ``asyncio.sleep``).
        clock: the monotonic clock (default ``time.monotonic``).
    """

    def __init__(
        self,
        fetch: StatusFetcher,
        module: str,
        job_id: str,
        policy: PollPolicy | None = None,
        *,
        sleep: Sleep | None = None,
        clock: Clock | None = None,
    ) -> None:
        self._fetch = fetch
        self.module = module
        self.job_id = job_id
        self.policy = policy or PollPolicy()
        self._sleep = sleep
        self._clock = clock
        self._status: JobStatus | None = None
        self.polls = 0

    def status(self) -> JobStatus | None:
        """The last status seen, or None before the first successful poll."""
        return self._status

    def done(self) -> bool:
        """Whether the job has been seen COMPLETED or FAILED."""
        return self._status is not None and self._status.is_final

    def continuation_token(self) -> str:
        """A JSON token naming the job, to resume waiting for it elsewhere."""
        return json.dumps({"module": self.module, "job_id": self.job_id})

    @staticmethod
    def parse_continuation_token(token: str) -> tuple[str, str]:
        """Read (module, job id) back from ``continuation_token()``.

        Raises:
            ValueError: the token is not one this class produced.
        """
        try:
            data = json.loads(token)
            module, job_id = data["module"], data["job_id"]
        except (ValueError, TypeError, KeyError) as exc:
            raise ValueError("not a JobPoller continuation token") from exc
        if not isinstance(module, str) or not isinstance(job_id, str):
            raise ValueError("not a JobPoller continuation token")
        return module, job_id

    async def _fetch_and_keep(self) -> JobStatus:
        status = await self._fetch()
        self._status = status
        self.polls += 1
        return status

    async def result(self) -> JobStatus:
        """Poll until the job is final and return its status.

        Raises:
            PollTimeoutError: the job outlived ``policy.timeout``.
        """
        if self.done():
            assert self._status is not None
            return self._status
        return await poll_job(
            self._fetch_and_keep,
            self.job_id,
            self.policy,
            sleep=self._sleep,
            clock=self._clock,
        )

    def __await__(self) -> Generator[Any, None, JobStatus]:
        return self.result().__await__()

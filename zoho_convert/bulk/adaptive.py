"""Adaptive polling: poll each job when it is likely done, learning from the jobs before it.

``DurationEstimator`` is shared by every job of a run; ``AdaptiveSchedule`` is one job's
``zoho_convert.api.polling.Schedule`` built on it. Together they keep a steady run to about one
poll per job.
"""

from __future__ import annotations

from zoho_convert.api.models import JobStatus
from zoho_convert.api.polling import PollPolicy

__all__ = ["AdaptiveSchedule", "DurationEstimator"]

# Polls this close to a target time count as on time: with a clock that moves only when
# sleeping (tests), float rounding can leave the elapsed time one ulp short of the target, and
# a strict comparison would then re-target the same instant forever with zero-length sleeps.
_ON_TIME = 1e-6


class DurationEstimator:
    """Learns how long jobs take, so each job is polled when it is likely done.

    A job whose first poll found it finished may have finished earlier: the estimate shrinks
    a little (spread over the jobs in flight, so a burst of finishing jobs does not collapse
    it). A job polled too early shows the estimate is short: it moves up into the bracket the
    job was seen to end in, by at most ``_MAX_RISE`` times (one slow job among quick ones,
    common with Zoho, would otherwise have every later job first polled as late as it ended;
    durations that truly grew raise it again with each job). The estimate thus hovers just
    above the true duration: about one poll per job.
    """

    __slots__ = ("_estimate", "_lower", "_max_seen", "pending")

    # Shrink applied once per "generation" of jobs in flight whose first poll found them done.
    _SHRINK = 0.85
    # The most one job polled too early raises the estimate by.
    _MAX_RISE = 2.0

    def __init__(self) -> None:
        self._estimate: float | None = None
        self._max_seen = 0.0
        self._lower = 0.0
        self.pending = 0  # jobs being polled now (a generation)

    @property
    def estimate(self) -> float | None:
        """Expected seconds from submission to completion, or None before any job finished."""
        return self._estimate

    @property
    def lower(self) -> float:
        """The longest time a job was seen still unfinished: a lower bound while unlearned."""
        return self._lower

    @property
    def max_seen(self) -> float:
        """The longest time a job was seen to take (an upper bound), in seconds."""
        return self._max_seen

    def unfinished_at(self, elapsed: float) -> None:
        """Record that a job was still running ``elapsed`` seconds after submission."""
        self._lower = max(self._lower, elapsed)

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
            self._estimate = base * shrink
        elif current is None:
            self._estimate = done_after
        else:
            # The job ended in (last_miss, done_after]: move the estimate into that bracket,
            # just past its lower end, rather than to a late poll's overshoot; an outlier's
            # bracket far above it, only part of the way.
            bracketed = min(max(current, last_miss * 1.1), done_after)
            self._estimate = min(bracketed, current * self._MAX_RISE)


class AdaptiveSchedule:
    """One job's poll times from what finished jobs taught (``DurationEstimator``).

    The job is polled when it is expected done (re-checked after every sleep, so a waiting job
    benefits from what other jobs taught meanwhile). A poll that finds it still running past
    that time, or gets no usable answer, is followed by retries starting at a tenth of the
    expectation and growing by ``PollPolicy.multiplier``, capped at ``max_interval``.
    """

    __slots__ = ("_estimator", "_last_poll", "_late", "_policy", "_polls", "_seen")

    def __init__(self, policy: PollPolicy, estimator: DurationEstimator) -> None:
        self._policy = policy
        self._estimator = estimator
        self._polls = 0
        self._late = 0  # polls that found the job running at or after the expected time
        self._last_poll = 0.0  # seconds after start of the last poll
        # seconds after start at the last successful poll's answer, and at the one before
        self._seen = [0.0, 0.0]

    def _target(self) -> float:
        """When (seconds after start) the next poll should happen, from what is known now."""
        policy = self._policy
        learned = self._estimator.estimate
        ref = learned if learned is not None else policy.initial
        if learned is not None and (self._polls == 0 or self._last_poll < learned - _ON_TIME):
            return learned  # not yet polled at the expected time: poll then
        if self._polls == 0:
            own = policy.initial
        else:
            # Missed at or after the expected time: retry soon, then back off.
            step = max(0.1 * ref, 0.001) * policy.multiplier ** min(max(self._late - 1, 0), 60)
            own = self._last_poll + min(step, policy.max_interval)
        if learned is None:
            # Nothing finished yet: do not poll before a job like this one was last seen
            # still running (the oldest jobs probe; the younger wait for what they learn).
            return max(own, self._estimator.lower * 1.1)
        return max(own, learned)

    def wait(self, elapsed: float) -> float:
        return max(self._target() - elapsed, 0.0)

    def due(self, elapsed: float) -> bool:
        return self._target() <= elapsed + _ON_TIME

    def polled(self, started: float, ended: float, status: JobStatus | None) -> None:
        self._polls += 1
        self._last_poll = started
        estimator = self._estimator
        if status is None:
            self._late += 1  # an unusable answer backs off like a miss, never a storm
            return
        seen = self._seen
        seen[1] = seen[0]
        seen[0] = ended
        if status.is_final:
            estimator.observe(self._polls == 1, ended, estimator.pending, seen[1])
            return
        estimator.unfinished_at(started)
        if estimator.estimate is None or started >= estimator.estimate:
            self._late += 1

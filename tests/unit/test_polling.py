"""PollPolicy validation, the poll schedule, the poller's deadline and adaptive estimates."""

from __future__ import annotations

import math

import attrs
import pytest

from zoho_convert.api.errors import (
    AuthenticationError,
    PollTimeoutError,
    ResponseValidationError,
    ServerError,
    TransportError,
)
from zoho_convert.api.models import JobState, JobStatus
from zoho_convert.api.polling import PollPolicy, poll_job
from zoho_convert.bulk.adaptive import AdaptiveSchedule, DurationEstimator

RUNNING = JobStatus(JobState.IN_PROGRESS, 50, 10, 40, 0)
DONE = JobStatus(JobState.COMPLETED, 50, 50, 0, 0)
FAILED = JobStatus(JobState.FAILED, 50, 0, 0, 50)


class FakeTime:
    """A clock that only moves when someone sleeps."""

    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    async def sleep(self, delay: float) -> None:
        self.sleeps.append(delay)
        self.now += delay


def scripted(*replies: JobStatus | BaseException):
    """A status fetcher returning (or raising) each reply in turn, repeating the last."""
    calls = []

    async def fetch() -> JobStatus:
        reply = replies[min(len(calls), len(replies) - 1)]
        calls.append(reply)
        if isinstance(reply, BaseException):
            raise reply
        return reply

    fetch.calls = calls  # type: ignore[attr-defined]
    return fetch


@pytest.mark.parametrize("field", ["initial", "max_interval", "timeout"])
@pytest.mark.parametrize("value", [0, -1, -0.5, math.nan])
def test_policy_refuses_non_positive_intervals(field: str, value: float) -> None:
    """Zero, negative or NaN intervals and timeouts are refused when the policy is built."""
    with pytest.raises(ValueError, match=field):
        PollPolicy(**{field: value})


def test_policy_refuses_multiplier_below_one() -> None:
    """A multiplier below 1 would shrink the waits; it is refused."""
    with pytest.raises(ValueError, match="multiplier"):
        PollPolicy(multiplier=0.5)


def test_policy_is_frozen_and_evolvable() -> None:
    """Policies are immutable and changed with attrs.evolve."""
    policy = PollPolicy()
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        policy.initial = 2  # type: ignore[misc]
    assert attrs.evolve(policy, initial=2.0).initial == 2.0


def test_delays_grow_by_multiplier_up_to_cap() -> None:
    """The schedule is initial, initial*m, ... capped at max_interval (a plain generator)."""
    delays = PollPolicy(initial=1, multiplier=2, max_interval=5).delays()
    assert [next(delays) for _ in range(6)] == [1, 2, 4, 5, 5, 5]



async def test_adaptive_poll_waits_for_the_learned_duration() -> None:
    """With a learned duration, the first poll lands at it; a miss is retried at a tenth."""
    time = FakeTime()
    estimator = DurationEstimator()
    estimator.observe(False, 3.0, 1)
    fetch = scripted(RUNNING, DONE)
    policy = PollPolicy()
    await poll_job(fetch, "1", policy, sleep=time.sleep, clock=time.clock,
                   schedule=AdaptiveSchedule(policy, estimator))
    assert time.sleeps == pytest.approx([3.0, 0.3])


async def test_adaptive_retries_after_misses_grow_by_the_multiplier() -> None:
    """In adaptive mode, polls that miss back off by PollPolicy.multiplier, capped at
    max_interval: the knob does what its docstring says in every mode."""
    for multiplier in (1.5, 3.0):
        time = FakeTime()
        estimator = DurationEstimator()
        estimator.observe(False, 10.0, 1)
        fetch = scripted(RUNNING, RUNNING, RUNNING, RUNNING, DONE)
        policy = PollPolicy(multiplier=multiplier, max_interval=2.0)
        await poll_job(fetch, "1", policy, sleep=time.sleep, clock=time.clock,
                       schedule=AdaptiveSchedule(policy, estimator))
        expected = [10.0] + [min(1.0 * multiplier**n, 2.0) for n in range(4)]
        assert time.sleeps == pytest.approx(expected)


async def test_unusable_replies_back_off_instead_of_storming() -> None:
    """An unusable status reply (a state of no known word) backs off like a miss: a job answering
    nothing usable is polled a few times a minute at most, not at the fastest pace."""
    time = FakeTime()
    estimator = DurationEstimator()
    estimator.observe(False, 1.0, 1)
    fetch = scripted(ResponseValidationError("unknown job status '???'", field="status"))
    policy = PollPolicy(max_interval=30.0, timeout=300.0)
    with pytest.raises(PollTimeoutError):
        await poll_job(fetch, "1", policy, sleep=time.sleep, clock=time.clock,
                       schedule=AdaptiveSchedule(policy, estimator))
    assert len(fetch.calls) <= 25  # type: ignore[attr-defined]


async def test_poll_returns_final_status_after_schedule() -> None:
    """The poller sleeps on schedule and returns the first final status it sees."""
    time = FakeTime()
    fetch = scripted(RUNNING, RUNNING, DONE)
    policy = PollPolicy(initial=1, multiplier=2, max_interval=10, timeout=100)
    status = await poll_job(fetch, "1", policy, sleep=time.sleep, clock=time.clock)
    assert status == DONE
    assert time.sleeps == [1, 2, 4]


async def test_failed_job_is_final() -> None:
    """A FAILED job ends the wait: it is a final status, not an error of the poller."""
    time = FakeTime()
    status = await poll_job(
        scripted(RUNNING, FAILED), "1", PollPolicy(), sleep=time.sleep, clock=time.clock
    )
    assert status.state is JobState.FAILED


async def test_timeout_raises_with_last_status_and_never_oversleeps() -> None:
    """A job that never finishes raises PollTimeoutError with its last status at the deadline."""
    time = FakeTime()
    policy = PollPolicy(initial=1, multiplier=2, max_interval=8, timeout=20)
    with pytest.raises(PollTimeoutError) as caught:
        await poll_job(scripted(RUNNING), "77", policy, sleep=time.sleep, clock=time.clock)
    assert caught.value.job_id == "77"
    assert caught.value.last_status == RUNNING
    assert time.now == pytest.approx(20)  # the last sleep is cut short to land on the deadline
    assert sum(time.sleeps) <= 20


async def test_transient_errors_are_not_job_failures() -> None:
    """A poll that fails with a transient error just waits for the next scheduled poll."""
    time = FakeTime()
    fetch = scripted(ServerError(500, "INTERNAL_ERROR", "x"), TransportError("x", sent=True), DONE)
    status = await poll_job(fetch, "1", PollPolicy(), sleep=time.sleep, clock=time.clock)
    assert status == DONE
    assert len(fetch.calls) == 3


async def test_timeout_without_any_successful_poll_has_no_status() -> None:
    """If every poll failed transiently, the timeout error carries last_status None."""
    time = FakeTime()
    fetch = scripted(ServerError(500, "INTERNAL_ERROR", "x"))
    with pytest.raises(PollTimeoutError) as caught:
        await poll_job(fetch, "1", PollPolicy(timeout=5), sleep=time.sleep, clock=time.clock)
    assert caught.value.last_status is None


async def test_run_wide_errors_propagate() -> None:
    """Authentication errors are not transient: they end the wait at once."""
    time = FakeTime()
    fetch = scripted(AuthenticationError(401, "INVALID_TOKEN", "expired"))
    with pytest.raises(AuthenticationError):
        await poll_job(fetch, "1", PollPolicy(), sleep=time.sleep, clock=time.clock)


def test_estimator_jumps_up_on_miss_and_shrinks_on_hits() -> None:
    """A first poll too early moves the estimate into the seen bracket; hits shrink it slowly."""
    estimator = DurationEstimator()
    assert estimator.estimate is None
    estimator.observe(False, 1.3, 1)
    assert estimator.estimate == pytest.approx(1.3)
    estimator.observe(True, 1.3, 10)
    assert 1.2 < estimator.estimate < 1.3  # type: ignore[operator]
    estimator.observe(False, 2.0, 10, last_miss=1.5)
    assert estimator.estimate == pytest.approx(1.65)
    assert estimator.max_seen == pytest.approx(2.0)


async def test_adaptive_poll_does_not_stall_one_ulp_short_of_the_estimate() -> None:
    """On a sleep-driven clock, elapsed time one ulp short of the estimate never stalls polling."""
    # These values leave (start + estimate) - start one ulp below the estimate: the poller used
    # to re-target that instant forever, polling in a loop while the clock stood still.
    time = FakeTime()
    start = time.now = 1076.3774618976613
    estimator = DurationEstimator()
    estimator._estimate = 5.846311489049012
    statuses: list[JobStatus] = []

    async def fetch() -> JobStatus:
        assert len(statuses) < 50, "the poller is spinning"
        status = DONE if time.now - start > 6.5 else RUNNING
        statuses.append(status)
        return status

    policy = PollPolicy()
    final = await poll_job(
        fetch, "1", policy, sleep=time.sleep, clock=time.clock,
        schedule=AdaptiveSchedule(policy, estimator),
    )
    assert final is DONE and len(statuses) < 10

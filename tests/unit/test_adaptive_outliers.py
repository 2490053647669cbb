"""Adaptive polling after one slow job: Zoho's jobs vary, and one job that took far longer
than the rest must not have every later job first polled as late as it ended."""

from __future__ import annotations

import pytest
from fake_convert_api import FakeAPI

from zoho_convert.api.models import JobStatus
from zoho_convert.bulk.adaptive import DurationEstimator
from zoho_convert.bulk.convert import convert_many

QUOTES = [str(4_000_000_000 + n) for n in range(300)]


class PollLog(FakeAPI):
    """The fake client, noting when each job was first polled."""

    def __init__(self, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.first_poll: dict[str, float] = {}

    async def job_status(self, module: str, job_id: str | int) -> JobStatus:
        self.first_poll.setdefault(str(job_id), self.clock())
        return await super().job_status(module, job_id)


async def test_one_slow_job_does_not_delay_the_first_poll_of_the_quick_ones_after_it() -> None:
    """Jobs of 1 s, one of 70 s (the second), one job at a time: each quick job after the
    slow one is first polled at most twice its duration after its submission, not at the
    slow job's 70 s (the estimate rises at most twofold per job, then shrinks back)."""
    api = PollLog(duration=lambda number: 70.0 if number == 1 else 1.0, latency=0.01)
    report = await convert_many(
        api, "Quotes", QUOTES, to="Sales_Orders", max_pending_jobs=1
    )
    assert report.ok and report.converted == len(QUOTES)
    jobs = sorted(api.jobs.values(), key=lambda job: job.number)
    assert jobs[1].duration == 70.0
    waits = {
        job.number: api.first_poll[job_id] - job.created
        for job_id, job in api.jobs.items()
        if job.number > 1
    }
    assert len(waits) == 4
    assert all(wait <= 2.0 + 0.1 for wait in waits.values()), waits


def test_the_estimate_follows_durations_that_truly_grew_within_a_few_jobs() -> None:
    """Learned at 1 s, then every job takes 8 s: each job polled early raises the estimate
    (twofold at most), so it reaches 8 s within three jobs and stays in the seen bracket."""
    estimator = DurationEstimator()
    estimator.observe(False, 1.0, 1)
    seen = []
    for _ in range(4):
        estimator.observe(False, 8.2, 1, last_miss=7.9)
        seen.append(estimator.estimate)
    assert seen == pytest.approx([2.0, 4.0, 8.0, 8.2])


def test_an_outliers_rise_is_bounded_and_shrinks_back() -> None:
    """An estimate of 1 s, then a 70 s job (last seen running at 64 s): the estimate rises to
    2 s, not 70; quick jobs found done by their first poll (at the estimate) shrink it by 15 %
    a generation, back to 1.04 s after four."""
    estimator = DurationEstimator()
    estimator.observe(False, 1.0, 1)
    estimator.observe(False, 70.0, 1, last_miss=64.0)
    assert estimator.estimate == pytest.approx(2.0)
    assert estimator.max_seen == pytest.approx(70.0)  # (settling still waits for the longest)
    for _ in range(4):
        assert estimator.estimate is not None
        estimator.observe(True, estimator.estimate, 1)
    assert estimator.estimate == pytest.approx(2.0 * 0.85**4)

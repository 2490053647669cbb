"""How the driver polls the jobs of a run: each job polled counts once in the estimator's
generation, so adaptive polling learns at the pace the jobs in flight allow."""

from __future__ import annotations

from typing import Any

import pytest
from fake_convert_api import FakeAPI

from zoho_convert.api.models import JobStatus
from zoho_convert.bulk.convert import convert_many


class PollLog(FakeAPI):
    """``FakeAPI`` noting when each status poll was asked, and for which job."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.polls: list[tuple[float, str]] = []

    async def _status(self, job_id: str) -> JobStatus:
        self.polls.append((self.now, job_id))
        return await super()._status(job_id)


async def test_one_job_at_a_time_each_first_hit_shrinks_the_estimate_a_whole_step() -> None:
    """Jobs polled one at a time, each found done by its first poll: the next job's first
    poll comes 0.85 of the last one's time after its submission (one job in flight, so
    the whole shrink applies; a miscounted generation would shrink less)."""
    api = PollLog(duration=0.5, latency=0.0)
    ids = [str(1000 + n) for n in range(150)]

    report = await convert_many(api, "Quotes", ids, to="Sales_Orders", max_pending_jobs=1)

    assert report.ok and len(api.polls) == 3  # one poll per job
    created = {job_id: job.created for job_id, job in api.jobs.items()}
    waits = [at - created[job_id] for at, job_id in api.polls]
    assert waits == pytest.approx([1.0, 0.85, 0.85**2])


@pytest.mark.parametrize(("concurrency", "pending"), [(1, 100), (3, 150)])
async def test_the_default_pending_jobs_are_fifty_per_request_and_at_least_a_hundred(
    concurrency: int, pending: int
) -> None:
    """max_pending_jobs by default: 50 per request allowed, at least 100. That many batches go
    while the first job runs; the next only once a job has ended."""
    api = FakeAPI(duration=100.0)
    ids = [str(20000 + n) for n in range((pending + 1) * 50)]

    report = await convert_many(api, "Quotes", ids, to="Sales_Orders", concurrency=concurrency)

    assert report.ok and len(api.calls) == pending + 1
    first_end = api.jobs[str(api.calls[0].job_id)].ends_at
    assert api.calls[pending - 1].sent < first_end <= api.calls[pending].sent

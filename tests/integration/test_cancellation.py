"""convert_many interrupted over real HTTP: cancelled mid-run, jobs outliving the poll timeout,
access tokens expiring mid-run. Time is injected wherever the simulator allows it."""

from __future__ import annotations

import asyncio
import math
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
from fakes import deadline, no_wait

from zoho_convert import (
    JobState,
    PollPolicy,
    PollTimeoutError,
    RefreshTokenAuth,
    RetryPolicy,
    StaticToken,
    ZohoConvertClient,
)
from zoho_convert.bulk.events import BatchSubmitted, Event, JobFinished
from zoho_convert.simulator import Faults, Simulator, SimulatorConfig, SimulatorThread

# Every wait on the run is bounded: a hang fails the test instead of stalling the suite.
RUN_TIMEOUT = 30.0


class VirtualTime:
    """A clock shared by the client and the simulator, moved only by the client's sleeps.

    ``sleep(d)`` never waits for real: it yields once, then moves the clock to at least the
    caller's wake-up time. Concurrent sleepers therefore advance time to the latest of their
    wake-ups (as real time would), not to the sum of their delays.
    """

    def __init__(self, start: float = 1000.0) -> None:
        self.now = start

    def clock(self) -> float:
        return self.now

    async def sleep(self, delay: float) -> None:
        wake = self.now + max(delay, 0.0)
        await asyncio.sleep(0)
        self.now = max(self.now, wake)


@pytest.fixture
async def threaded_sim() -> AsyncIterator[list[SimulatorThread]]:
    """Simulators on their own loops (so the test loop holds only the client's tasks)."""
    started: list[SimulatorThread] = []
    yield started
    for sim in started:
        await asyncio.to_thread(sim.stop)


def _other_tasks() -> set[asyncio.Task[object]]:
    return asyncio.all_tasks() - {asyncio.current_task()}  # type: ignore[arg-type]


@pytest.mark.parametrize("own_session", [True, False], ids=["client-session", "caller-session"])
async def test_cancel_mid_run_leaves_no_task_or_connection_and_resumes(
    tmp_path: Path, threaded_sim: list[SimulatorThread], own_session: bool
) -> None:
    """Cancelling mid-run leaves no task or connection; the journal resumes it, each id once."""
    vt = VirtualTime()
    sim = SimulatorThread(SimulatorConfig(seed=5, job_duration=10.0, clock=vt.clock))
    await asyncio.to_thread(sim.start)
    threaded_sim.append(sim)
    ids = sim.state.create_records("Quotes", 2000)  # before any request: no race with its loop
    journal = str(tmp_path / "run.journal")

    submitted_jobs: list[str] = []
    finished_jobs: list[str] = []
    mid_run = asyncio.Event()

    def progress(event: Event) -> None:
        if isinstance(event, BatchSubmitted):
            submitted_jobs.append(event.job_id)
        elif isinstance(event, JobFinished):
            finished_jobs.append(event.job_id)
        if len(finished_jobs) >= 2 and len(submitted_jobs) >= 5:
            mid_run.set()

    caller_session = None if own_session else aiohttp.ClientSession()
    try:
        client = ZohoConvertClient(
            StaticToken(sim.access_token),
            api_domain=sim.url,
            session=caller_session,
            max_concurrency=10,
            sleep=vt.sleep,
            clock=vt.clock,
        )
        async with client:
            session = client._session  # the client's own session, to check it gets closed
            assert session is not None
            task = asyncio.create_task(
                client.convert_many(
                    "Quotes", ids, to="Sales_Orders", journal=journal, progress=progress,
                    max_pending_jobs=10,  # some batches wait unsent, some input is unread
                )
            )
            async with deadline(RUN_TIMEOUT):
                await mid_run.wait()
            assert not task.done()
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                async with deadline(RUN_TIMEOUT):
                    await task
            for _ in range(3):  # let finished tasks' callbacks run
                await asyncio.sleep(0)
            assert _other_tasks() == set()
            # No request of the cancelled run holds a connection (aiohttp has no public
            # counter; _acquired is the connector's set of connections in use).
            assert session.connector is not None
            assert len(session.connector._acquired) == 0  # type: ignore[attr-defined]
        if own_session:
            assert session.closed
        else:
            assert caller_session is not None and not caller_session.closed
    finally:
        if caller_session is not None:
            await caller_session.close()
    assert _other_tasks() == set()
    assert len(sim.state.converted_ids("Quotes")) < len(ids)  # it really stopped mid-run

    async with ZohoConvertClient(
        StaticToken(sim.access_token), api_domain=sim.url, sleep=vt.sleep, clock=vt.clock
    ) as again, deadline(RUN_TIMEOUT):
        report = await again.resume(journal, ids=ids)
    vt.now += 1000  # let any job a cancelled submission started finish in the simulator

    assert report.total == len(ids) and report.input_complete and report.accounted_for
    assert not report.unfinished and not report.uncertain
    # Jobs submitted before the cancellation were polled by the resumed run, not resubmitted.
    reported_jobs = {job.job_id for job in report.jobs}
    assert set(submitted_jobs) <= reported_jobs
    ledger = sim.state.conversions
    assert all(ledger.get(("Quotes", i)) == 1 for i in ids)
    # A submission cut off by the cancellation may have reached the simulator (a job the run
    # never learnt of): the resumed run finds exactly those ids already converted and reports
    # them, never converting anything twice.
    lost = [job for job_id, job in sim.state.jobs.items() if job_id not in reported_jobs]
    assert not report.rejected
    assert set(report.already_converted_ids) == {str(i) for job in lost for i in job.ids}
    assert report.converted + report.already_converted == len(ids)
    assert report.ok


async def test_never_finishing_job_reported_unfinished_on_injected_time() -> None:
    """A job that never finishes is reported unfinished at the poll timeout, without real waits."""
    vt = VirtualTime()
    config = SimulatorConfig(
        seed=3, job_duration=5.0, clock=vt.clock, faults=Faults(never_finish_rate=0.3)
    )
    policy = PollPolicy(initial=1.0, max_interval=10.0, timeout=120.0)
    async with Simulator(config) as sim, ZohoConvertClient(
        StaticToken(sim.access_token), api_domain=sim.url, sleep=vt.sleep, clock=vt.clock
    ) as client:
        ids = sim.state.create_records("Quotes", 500)
        start = vt.now
        async with deadline(RUN_TIMEOUT):
            report = await client.convert_many("Quotes", ids, to="Sales_Orders", poll=policy)

        never = {job.job_id for job in sim.state.jobs.values() if job.outcome == "NEVER"}
        assert 0 < len(never) < len(sim.state.jobs)  # the seed gives both kinds of job
        assert set(report.unfinished_jobs) == never
        assert vt.now - start >= policy.timeout  # the timeout passed on the injected clock
        stuck = [job for job in report.jobs if job.job_id in never]
        assert all(
            job.status is not None
            and job.status.state is JobState.IN_PROGRESS
            and len(job.ids) == job.size
            for job in stuck
        )
        stuck_ids = {i for job in stuck for i in job.ids}
        assert stuck_ids == sim.state.reserved_ids("Quotes")
        assert report.total == len(ids) and report.accounted_for and not report.ok
        assert report.converted == len(ids) - len(stuck_ids)

        job_id = min(never)
        with pytest.raises(PollTimeoutError) as caught:
            async with deadline(RUN_TIMEOUT):
                await client.wait_for_job("Quotes", job_id, poll=PollPolicy(timeout=60.0))
        assert caught.value.job_id == job_id
        last = caught.value.last_status
        assert last is not None and last.state is JobState.IN_PROGRESS
        assert last.total_count == len(next(job for job in stuck if job.job_id == job_id).ids)


async def test_tokens_expiring_mid_run_share_one_refresh_per_expiry() -> None:
    """Tokens expiring 4+ times in a 3,000-id run: one shared refresh per expiry, each id once.

    The simulator refuses an access token after ``max_uses`` accepted requests. A refresh
    happens only when a request is refused with the *current* token (it is used up); requests
    refused with it meanwhile wait for that one refresh and reuse its token, and a request
    refused with an older token just repeats with the current one. So every token but the last
    served exactly ``max_uses`` requests, and the tokens minted (= refreshes; the first is the
    initial fetch, as ``RefreshTokenAuth`` starts without a token) number exactly
    ``ceil(accepted / max_uses)`` = expiries + 1, however many requests were refused.
    """
    max_uses = 25
    config = SimulatorConfig(seed=8, faults=Faults(token_max_uses=max_uses))
    async with Simulator(config) as sim:
        auth = RefreshTokenAuth("sim-client", "sim-secret", "sim-refresh", accounts_url=sim.url)
        async with ZohoConvertClient(
            auth,
            api_domain=sim.url,
            max_concurrency=10,
            retry=RetryPolicy(max_tries=10, deadline=10_000),
            sleep=no_wait,
        ) as client:
            ids = sim.state.create_records("Quotes", 3000)
            async with deadline(RUN_TIMEOUT):
                report = await client.convert_many("Quotes", ids, to="Sales_Orders")
        assert report.ok and report.converted == len(ids)
        assert all(sim.state.conversions.get(("Quotes", i)) == 1 for i in ids)

        stats = sim.state.stats
        api_requests = sum(n for name, n in stats.requests_by_endpoint.items() if name != "token")
        refused = stats.responses_by_status[401]
        accepted = api_requests - refused
        refreshes = math.ceil(accepted / max_uses)
        assert refreshes >= 5  # the initial token, then 4 or more expiries mid-run
        assert stats.token_refreshes == auth.refresh_count == refreshes
        assert stats.token_refresh_failures == 0
        assert refused >= refreshes - 1  # each expiry was noticed through a refused request

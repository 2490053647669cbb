"""The fault matrix: convert_many against the simulator over real HTTP, one fault per case.

Every case proves the same three promises under its fault: every id read is accounted for
(in a job, ``rejected`` or ``uncertain``, with consistent counts), no record is converted twice,
and ``report.converted`` matches the simulator's ledger for the run's ids (or, where a reply
was lost after Zoho processed the request, the ledger is exactly ``converted`` plus the ids
the run reported as ``ID_ALREADY_CONVERTED`` or ``uncertain``).

The client waits on a virtual clock (``SummingTime``): retries, Retry-After and poll backoff
cost no real time. Only the "slow replies" case sleeps for real, for a few tens of ms, on the
simulator's side.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any

import attrs
import pytest
from fakes import SummingTime, deadline

from zoho_convert import (
    AuthenticationError,
    ConversionReport,
    JobState,
    PollPolicy,
    RefreshTokenAuth,
    RetryPolicy,
    StaticToken,
    ZohoConvertClient,
)
from zoho_convert.bulk.events import BatchSubmitted, Event, JobFinished
from zoho_convert.simulator import Faults, Simulator, SimulatorConfig

# -- fixtures and helpers (kept here: tests/integration/conftest.py belongs to another file) --

#: Upper bound of one case, so that a hang fails fast instead of stalling the suite.
CASE_TIMEOUT = 45.0

#: Fast request retries: tiny delays (on the virtual clock anyway) and enough tries that a
#: storm of random faults rarely exhausts them.
FAST_RETRY = RetryPolicy(max_tries=8, initial=0.001, max_delay=0.01, deadline=10_000)

#: Small poll intervals; jobs take no time in these cases (``job_duration`` 0). The virtual
#: clock adds up the sleeps of every task, so it runs ahead of any real schedule: the poll
#: deadline is far away unless a case is about the deadline.
FAST_POLL = PollPolicy(initial=0.01, multiplier=2.0, max_interval=0.1, timeout=1e6)




@attrs.frozen
class Env:
    """A running simulator, a client pointed at it and the client's virtual time."""

    sim: Simulator
    client: ZohoConvertClient
    time: SummingTime


Start = Callable[..., Awaitable[Env]]


def refresh_auth(sim: Simulator) -> RefreshTokenAuth:
    """A refresh-token auth that talks to the simulator's token endpoint."""
    config = sim.config
    return RefreshTokenAuth(
        config.client_id, config.client_secret, config.refresh_token, accounts_url=sim.url
    )


@pytest.fixture
async def start() -> AsyncIterator[Start]:
    """Start a simulator with a config and a client for it (virtual time, fast retries)."""
    async with contextlib.AsyncExitStack() as stack:

        async def make(
            config: SimulatorConfig,
            *,
            auth: Callable[[Simulator], Any] | None = None,
            max_concurrency: int = 10,
            retry: RetryPolicy = FAST_RETRY,
            **client: Any,
        ) -> Env:
            sim = await stack.enter_async_context(Simulator(config))
            vt = SummingTime()
            api = ZohoConvertClient(
                auth(sim) if auth is not None else StaticToken(sim.access_token),
                api_domain=sim.url,
                max_concurrency=max_concurrency,
                retry=retry,
                sleep=vt.sleep,
                clock=vt.clock,
                **client,
            )
            await stack.enter_async_context(api)
            return Env(sim, api, vt)

        yield make


def ledger(sim: Simulator, module: str, ids: Sequence[str]) -> dict[str, int]:
    """How many times the simulator converted each of ``ids``."""
    return {i: sim.state.conversions.get((module, i), 0) for i in ids}


def check(
    report: ConversionReport,
    sim: Simulator,
    ids: Sequence[str],
    *,
    module: str = "Quotes",
    lost_replies: bool = False,
) -> dict[str, int]:
    """Assert the matrix's promises for one run; return the run's ledger.

    Args:
        report: the run's report.
        sim: the simulator it ran against.
        ids: the distinct ids the run was given.
        module: the module converted from.
        lost_replies: the fault may have processed a submission whose reply never arrived;
            such ids convert (once) without a job of the run counting them.
    """
    counts = ledger(sim, module, ids)
    # No record converted twice (the ledger would show 2).
    assert max(counts.values(), default=0) <= 1, "a record was converted twice"
    # Every id read is in a job, rejected or uncertain; each in one place only.
    assert report.total == len(set(ids))
    assert report.accounted_for
    assert report.input_complete
    rejected = [r.id for r in report.rejected]
    assert len(rejected) == len(set(rejected)), "an id was rejected twice"
    assert len(report.uncertain) == len(set(report.uncertain)), "an id is uncertain twice"
    assert not set(rejected) & set(report.uncertain)
    assert set(rejected) | set(report.uncertain) <= set(ids)
    job_ids = [j.job_id for j in report.jobs]
    assert len(job_ids) == len(set(job_ids)), "a job is reported twice"
    kept = [i for j in report.jobs for i in j.ids]
    assert len(kept) == len(set(kept))
    assert not set(kept) & (set(rejected) | set(report.uncertain))
    assert len(report.already_converted_ids) == len(set(report.already_converted_ids))
    assert not set(report.already_converted_ids) & (set(rejected) | set(report.uncertain))
    # Counts add up: converted/failed/not_converted are the finished jobs' sums; a settling
    # job's failures are records its lost predecessor converted (already_converted).
    finished = [j for j in report.jobs if j.finished]
    assert all(j.status is not None for j in finished)
    assert report.converted == sum(j.status.converted_count for j in finished)  # type: ignore[union-attr,misc]
    assert report.failed == sum(
        j.status.failed_count for j in finished if not j.settling  # type: ignore[union-attr,misc]
    )
    in_jobs = sum(j.status.failed_count for j in finished if j.settling)  # type: ignore[union-attr,misc]
    assert report.already_converted == len(report.already_converted_ids) + in_jobs
    assert report.not_converted == sum(j.status.not_converted_count for j in finished)  # type: ignore[union-attr,misc]
    for job in finished:
        assert job.status is not None and job.status.total_count == job.size
        if not job.fully_converted:
            assert len(job.ids) == job.size, "a job needing attention lost its ids"
    unfinished = [j.job_id for j in report.jobs if not j.finished]
    assert sorted(unfinished) == sorted(report.unfinished_jobs)
    kept_unfinished = [i for j in report.jobs if not j.finished for i in j.ids]
    assert sorted(report.unfinished) == sorted(kept_unfinished)
    # The ledger agrees with the report.
    lost = list(report.already_converted_ids)
    converted_uncertain = sum(counts[i] for i in report.uncertain)
    for item in report.rejected:
        assert counts[item.id] == 0, f"{item.id} rejected ({item.code}) yet converted"
    if lost_replies:
        # Ids a lost submission converted come back as already converted when the batch is
        # resubmitted (or stay uncertain); nothing else converts behind the report's back.
        assert all(counts[i] == 1 for i in lost)
        assert (
            sum(counts.values())
            == report.converted + report.already_converted + converted_uncertain
        )
    else:
        assert not report.already_converted, "already converted without a lost reply"
        assert report.converted == sum(counts.values())
    return counts


def config(seed: int = 0, **faults: Any) -> SimulatorConfig:
    """A simulator config with these faults (jobs finish at once)."""
    return SimulatorConfig(seed=seed, faults=Faults(**faults))


async def run(env: Env, count: int, **kwargs: Any) -> tuple[ConversionReport, list[str]]:
    """Create ``count`` quotes and convert them all (bounded in time)."""
    ids = env.sim.state.create_records("Quotes", count)
    kwargs.setdefault("poll", FAST_POLL)
    async with deadline(CASE_TIMEOUT):
        report = await env.client.convert_many("Quotes", ids, to="Sales_Orders", **kwargs)
    return report, ids


# -- 429 storms --------------------------------------------------------------------------------


@pytest.mark.parametrize("retry_after", [None, 7.5], ids=["no-retry-after", "retry-after"])
async def test_429_storm(start: Start, retry_after: float | None) -> None:
    """A storm of 429s (random and over a cap of 3): all converted once; Retry-After honoured."""
    # A 2 ms latency keeps requests overlapping on the server, so the cap bites too.
    env = await start(
        config(seed=1, rate_429=0.4, concurrency_cap=3, retry_after=retry_after, latency=0.002),
        retry=attrs.evolve(FAST_RETRY, max_tries=12),
    )
    report, ids = await run(env, 1000)
    check(report, env.sim, ids)
    assert env.sim.state.stats.rate_limited > 100
    assert env.sim.state.stats.peak_in_flight > 3
    # A 429 means Zoho did nothing: never uncertain. Retries here cost no real time, so a
    # batch may exhaust them twice (submit, then the settling resubmission): it is then
    # rejected with the code, surely unconverted, for the caller to retry.
    assert not report.uncertain
    assert {r.code for r in report.rejected} <= {"TOO_MANY_REQUESTS"}
    assert report.converted + len(report.rejected) == len(ids)
    assert report.converted >= len(ids) * 0.9
    honoured = [d for d in env.time.slept if d == 7.5]
    if retry_after is None:
        assert not honoured
    else:
        assert len(honoured) >= env.sim.state.stats.rate_limited // 2


# -- 500s --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "endpoint", ["mass_convert", "mass_convert_status"], ids=["on-submit", "on-poll"]
)
async def test_500s(start: Start, endpoint: str) -> None:
    """HTTP 500 on submit or on poll: every id accounted for, none twice, ledger matches."""
    env = await start(config(seed=2, rate_500=0.3, fault_endpoints={endpoint}))
    report, ids = await run(env, 1000)
    check(report, env.sim, ids)
    assert env.sim.state.stats.responses_by_status[500] > 5
    if endpoint == "mass_convert_status":
        # A GET is retried until it gets through: nothing is lost or uncertain.
        assert report.ok
    else:
        # A 500 on a POST may hide a processed request: parked, resubmitted once when the
        # run is otherwise done; only batches that got a 500 twice stay uncertain.
        assert report.converted + len(report.uncertain) == len(ids)


@pytest.mark.parametrize("endpoint", ["mass_convert"], ids=["on-submit"])
async def test_500s_after_processing(start: Start, endpoint: str) -> None:
    """HTTP 500 after Zoho scheduled the job: the lost jobs' records are not converted again."""
    env = await start(
        config(seed=3, rate_500=0.2, fault_endpoints={endpoint}, fault_after_processing=True)
    )
    report, ids = await run(env, 1000)
    counts = check(report, env.sim, ids, lost_replies=True)
    # Every record converted exactly once: by a job of the run or by a lost one.
    assert sum(counts.values()) + sum(
        1 for i in report.uncertain if counts[i] == 0
    ) == len(ids)


# -- dropped connections -----------------------------------------------------------------------


@pytest.mark.parametrize("after", [False, True], ids=["before-processing", "after-processing"])
@pytest.mark.parametrize(
    "endpoint", ["mass_convert", "mass_convert_status"], ids=["on-submit", "on-poll"]
)
async def test_dropped_connections(start: Start, endpoint: str, after: bool) -> None:
    """Connections closed mid-request on submit or poll: accounted for, none twice."""
    env = await start(
        config(seed=4, drop_rate=0.2, fault_endpoints={endpoint}, fault_after_processing=after)
    )
    report, ids = await run(env, 1000)
    counts = check(report, env.sim, ids, lost_replies=after)
    assert env.sim.state.stats.dropped > 5
    if endpoint == "mass_convert_status":
        assert report.ok, "a dropped poll is retried; nothing is lost"
    assert sum(counts.values()) + sum(1 for i in report.uncertain if counts[i] == 0) == len(ids)


# -- slow replies ------------------------------------------------------------------------------


class SlowSometimes:
    """The simulator's latency sleep: really waits ``delay`` for a seeded share of requests."""

    def __init__(self, share: float, seed: int) -> None:
        self.share = share
        self.rng = random.Random(seed)
        self.slow = 0

    async def __call__(self, delay: float) -> None:
        if self.rng.random() < self.share:
            self.slow += 1
            await asyncio.sleep(delay)


async def test_slow_replies_beyond_request_timeout(start: Start) -> None:
    """Replies slower than request_timeout: timed-out attempts settle; nothing converts twice."""
    slow = SlowSometimes(share=0.25, seed=5)
    sim_config = attrs.evolve(config(seed=5, latency=0.3), sleep=slow)
    env = await start(sim_config, request_timeout=0.1)
    report, ids = await run(env, 500)
    counts = check(report, env.sim, ids, lost_replies=True)
    assert slow.slow > 3
    assert sum(counts.values()) + sum(1 for i in report.uncertain if counts[i] == 0) == len(ids)


# -- tokens ------------------------------------------------------------------------------------


async def test_token_expiry_mid_run(start: Start) -> None:
    """Access tokens used up mid-run: refreshed (shared, not per request); all converted once."""
    env = await start(config(seed=6, token_max_uses=60), auth=refresh_auth)
    report, ids = await run(env, 2000)
    check(report, env.sim, ids)
    assert report.ok
    stats = env.sim.state.stats
    api_requests = stats.requests_served - stats.requests_by_endpoint["token"]
    # Each token serves up to 60 requests: a refresh per expiry, not one per refused request.
    assert 2 <= stats.token_refreshes <= api_requests // 60 + 2
    assert stats.responses_by_status[401] > 0


async def test_token_expiry_with_more_waiters_than_token_uses(start: Start) -> None:
    """Tokens that expire after 15 uses while ~20 requests wait on one refresh: run completes."""
    env = await start(config(seed=6, token_max_uses=15), auth=refresh_auth)
    report, ids = await run(env, 2000)
    check(report, env.sim, ids)
    assert report.ok


@pytest.mark.parametrize("when", ["first-refresh", "mid-run"])
async def test_refresh_endpoint_fails_twice_then_recovers(start: Start, when: str) -> None:
    """The token endpoint answers 500 twice, then recovers: the run completes, all once."""
    failures = 2 if when == "first-refresh" else 0
    env = await start(
        config(seed=7, token_max_uses=60, token_endpoint_failures=failures), auth=refresh_auth
    )
    sim = env.sim
    submitted = 0

    def progress(event: Event) -> None:
        nonlocal submitted
        if isinstance(event, BatchSubmitted):
            submitted += 1
            if submitted == 5 and when == "mid-run":
                # The next refresh (the first token is used up soon) fails twice.
                sim.state.tokens._endpoint_failures_left = 2

    report, ids = await run(env, 2000, progress=progress)
    check(report, sim, ids)
    assert report.ok
    assert sim.state.stats.token_refresh_failures == 2
    assert sim.state.stats.token_refreshes >= (1 if when == "first-refresh" else 2)


async def test_refresh_token_revoked_mid_run(start: Start, tmp_path: Path) -> None:
    """A revoked refresh token stops the run with AuthenticationError; resume finishes it once."""
    env = await start(config(seed=8, token_max_uses=25), auth=refresh_auth)
    sim = env.sim
    ids = sim.state.create_records("Quotes", 1500)
    journal = str(tmp_path / "run.journal")
    submitted = 0

    def progress(event: Event) -> None:
        nonlocal submitted
        if isinstance(event, BatchSubmitted):
            submitted += 1
            if submitted == 8:
                sim.state.revoke_refresh_token()

    async with deadline(CASE_TIMEOUT):
        with pytest.raises(AuthenticationError) as caught:
            await env.client.convert_many(
                "Quotes", ids, to="Sales_Orders", poll=FAST_POLL, journal=journal,
                progress=progress,
            )
    error = caught.value
    assert error.code == "invalid_code"
    assert "refresh token" in str(error)
    partial: ConversionReport = error.partial_report  # type: ignore[attr-defined]
    assert partial.accounted_for
    # Something is left to do, and said so: ids not submitted, jobs not finished, or input.
    assert partial.rejected or partial.unfinished or not partial.input_complete
    assert max(ledger(sim, "Quotes", ids).values()) <= 1
    converted_before = sum(ledger(sim, "Quotes", ids).values())
    assert converted_before < len(ids), "the run went on after the refresh token was revoked"

    # The user issues a new refresh token (here: the simulator accepts the old one again).
    sim.state.tokens._refresh_revoked = False
    async with ZohoConvertClient(
        refresh_auth(sim),
        api_domain=sim.url,
        retry=FAST_RETRY,
        sleep=env.time.sleep,
        clock=env.time.clock,
    ) as fresh, deadline(CASE_TIMEOUT):
        report = await fresh.resume(journal, ids=ids, poll=FAST_POLL)
    counts = ledger(sim, "Quotes", ids)
    assert all(n == 1 for n in counts.values()), "every id converted exactly once"
    assert report.total == len(ids)
    assert report.accounted_for
    assert report.converted == len(ids)
    assert report.ok


# -- jobs that fail or never finish ------------------------------------------------------------


async def test_jobs_that_end_failed(start: Start) -> None:
    """Jobs ending FAILED are reported with their ids; nothing of them converts."""
    env = await start(config(seed=12, failed_job_rate=0.3))
    report, ids = await run(env, 1000)
    counts = check(report, env.sim, ids)
    failed_jobs = [j for j in report.jobs if j.status and j.status.state is JobState.FAILED]
    assert failed_jobs
    assert report.failed == sum(j.size for j in failed_jobs)
    assert all(counts[i] == 0 for j in failed_jobs for i in j.ids)
    assert report.converted + report.failed == len(ids)


async def test_jobs_that_never_finish(start: Start) -> None:
    """Jobs that never finish are reported as unfinished after the (virtual) poll timeout."""
    env = await start(config(seed=10, never_finish_rate=0.25))
    finished: list[str] = []

    def progress(event: Event) -> None:
        if isinstance(event, JobFinished):
            finished.append(event.job_id)

    report, ids = await run(
        env, 1000, poll=attrs.evolve(FAST_POLL, timeout=30.0), progress=progress
    )
    check(report, env.sim, ids)
    never = {j.job_id for j in env.sim.state.jobs.values() if j.outcome == "NEVER"}
    assert never
    assert set(report.unfinished_jobs) == never
    assert not never & set(finished)
    unfinished_ids = {i for j in report.jobs if not j.finished for i in j.ids}
    assert len(unfinished_ids) == sum(len(env.sim.state.jobs[j].ids) for j in never)
    assert report.converted + len(unfinished_ids) == len(ids)
    assert env.time.now - 1000.0 >= 30.0  # the deadline passed on the virtual clock only


# -- a simulator restart -----------------------------------------------------------------------


async def test_simulator_restart_mid_run(start: Start) -> None:
    """The server restarts mid-run (connections cut): every id accounted for, none twice."""
    # A 5 ms latency keeps requests in flight while the server goes down and comes back.
    env = await start(config(seed=11, latency=0.005))
    sim = env.sim
    halfway = asyncio.Event()
    submitted = 0

    def progress(event: Event) -> None:
        nonlocal submitted
        if isinstance(event, BatchSubmitted):
            submitted += 1
            if submitted == 15:
                halfway.set()

    served_at_restart: list[int] = []

    async def restart() -> None:
        await halfway.wait()
        await sim.restart()
        served_at_restart.append(sim.state.stats.requests_served)

    restarter = asyncio.create_task(restart())
    try:
        report, ids = await run(env, 2000, progress=progress)
        async with deadline(CASE_TIMEOUT):
            await restarter
    finally:
        restarter.cancel()
    counts = check(report, sim, ids, lost_replies=True)
    # The server came back while the run still had work to do, and the run finished it.
    assert served_at_restart and served_at_restart[0] < sim.state.stats.requests_served
    assert sum(counts.values()) + sum(1 for i in report.uncertain if counts[i] == 0) == len(ids)


# -- simulator ids ---------------------------------------------------------------------------


async def test_simulator_ids_fit_a_long_for_every_seed(start: Start) -> None:
    """With seed 9 the simulator's ids are valid Zoho ids, so the run converts them all."""
    env = await start(config(seed=9))
    report, ids = await run(env, 100)
    assert all(int(i) <= 2**63 - 1 for i in ids)
    check(report, env.sim, ids)
    assert report.ok

"""Adversarial fleet cases over a real redis-server: runs with their own ``RedisFleet`` (as
processes have), one namespace, one simulator over HTTP, overlapping id lists; each run's
report judged against the simulator's ledger, id by id (``fleet_truth``).

Client and simulator share a virtual clock (``SummingTime``); Redis keeps its own (claims
expire in real time, far beyond these runs).
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from typing import Any

import pytest
from fakes import SummingTime, deadline
from fleet_truth import assert_fleet_true

from zoho_convert import JobFinished, PollPolicy, RetryPolicy, StaticToken, ZohoConvertClient
from zoho_convert.bulk.events import Event
from zoho_convert.fleet import RedisFleet
from zoho_convert.fleet.localserver import RedisServerProcess
from zoho_convert.simulator import Faults, Simulator, SimulatorConfig
from zoho_convert.simulator.state import CrmState

CASE_TIMEOUT = 60.0
RETRY = RetryPolicy(max_tries=8, initial=0.01, max_delay=0.5, deadline=100_000)
POLL = PollPolicy(initial=0.5, multiplier=2.0, max_interval=5.0, timeout=3_000)
LOST = Faults(rate_500=0.2, fault_endpoints={"mass_convert"}, fault_after_processing=True)


async def overlapping_runs(
    server: RedisServerProcess,
    namespace: str,
    seed: int,
    faults: Faults,
    *,
    runs: int = 2,
    kill_after_jobs: int = 0,
    **config: Any,
) -> None:
    """``runs`` runs, each with its own ``RedisFleet`` and client, given overlapping shuffled
    stretches of 300 Quotes at once (``kill_after_jobs``: the server is killed once that
    many jobs finished, the fleets falling back); their reports judged against the ledger."""
    ids = CrmState(SimulatorConfig(seed=seed)).create_records("Quotes", 300)
    time = SummingTime()
    cfg = SimulatorConfig(
        seed=seed, faults=faults, clock=time.clock, job_duration=2.0, **config
    )
    rng = random.Random(seed)
    lists = []
    for k in range(runs):
        part = ids[k * 300 // (runs + 1) : (k + 2) * 300 // (runs + 1)]
        lists.append(rng.sample(part, len(part)))
    finished = 0

    def kill(event: Event) -> None:
        nonlocal finished
        if kill_after_jobs and isinstance(event, JobFinished):
            finished += 1
            if finished == kill_after_jobs:
                server.kill()

    async with contextlib.AsyncExitStack() as stack:
        sim = await stack.enter_async_context(Simulator(cfg))
        assert sim.state.create_records("Quotes", 300) == ids
        clients = []
        for _ in range(runs):
            fleet = await stack.enter_async_context(RedisFleet(server.url, namespace=namespace))
            client = ZohoConvertClient(
                StaticToken(sim.access_token), api_domain=sim.url, retry=RETRY,
                sleep=time.sleep, clock=time.clock, fleet=fleet,
            )
            clients.append(await stack.enter_async_context(client))
        async with deadline(CASE_TIMEOUT):
            reports = await asyncio.gather(
                *(
                    client.convert_many(
                        "Quotes", part, to="Sales_Orders", poll=POLL, progress=kill
                    )
                    for client, part in zip(clients, lists, strict=True)
                )
            )
        time.now += 10_000
        sim.state.advance()
        assert finished >= kill_after_jobs, "the server was never killed"
        assert_fleet_true(sim, reports, lists)


async def test_two_processes_never_report_failed_what_the_others_lost_submission_converted(
    redis_server: RedisServerProcess, namespace: str
) -> None:
    """Two processes of one fleet, overlapping lists, submit replies lost to 500s (20 %),
    Zoho failing converted ids inside jobs: no process reports failed a record the other's
    lost submission converted (a job did: ledger 7, report 0)."""
    for seed in (3, 5, 7, 2):
        await overlapping_runs(
            redis_server, f"{namespace}-{seed}", seed, LOST, already_converted="fail_in_job"
        )


@pytest.mark.parametrize("seed", [3, 5])
async def test_three_processes_losing_redis_midway_convert_each_record_once(
    own_redis: Any, namespace: str, seed: int
) -> None:
    """Three processes of one fleet, overlapping lists, submit replies lost to 500s (20 %),
    Redis killed after a few finished jobs (each falls back to in-process parts, its ledger
    empty): no record is converted twice and every report is true (Zoho refusing converted
    ids whole: they come back refused as ID_ALREADY_CONVERTED)."""
    await overlapping_runs(own_redis(), namespace, seed, LOST, runs=3, kill_after_jobs=4)

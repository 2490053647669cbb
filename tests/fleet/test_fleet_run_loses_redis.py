"""A ``convert_many`` run whose fleet loses Redis midway (the server killed), against the
simulator over HTTP: with ``fallback`` the run finishes on in-process parts; with ``fail`` it
stops with ``FleetUnavailableError`` and a partial report that accounts for every id. Either
way the report is judged against the simulator's ledger, id by id."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from fakes import deadline

from zoho_convert import (
    ConversionReport,
    JobFinished,
    StaticToken,
    ZohoConvertClient,
)
from zoho_convert.fleet import FleetUnavailableError, RedisFleet
from zoho_convert.fleet.localserver import RedisServerProcess
from zoho_convert.simulator import Faults, Simulator, SimulatorConfig

N = 1_000


def judge(report: ConversionReport, sim: Simulator, ids: list[str]) -> None:
    """No record converted twice; every id in one place; converted ones really converted,
    rejected and not-submitted ones really not."""
    counts = {i: sim.state.conversions.get(("Quotes", i), 0) for i in ids}
    assert max(counts.values()) <= 1
    assert report.total == N and report.accounted_for
    for item in report.rejected:
        assert counts[item.id] == 0, f"{item.id} reported {item.code} yet converted"
    uncertain = set(report.uncertain)
    maybe = uncertain | set(report.unfinished)
    converted = sum(counts.values())
    assert report.converted + report.already_converted <= converted
    assert converted <= report.converted + report.already_converted + len(maybe)
    # Ids the report calls neither converted nor in doubt were not converted.
    refused = {item.id for item in report.rejected}
    assert all(counts[i] == 0 for i in refused - maybe)


@pytest.mark.parametrize("on_redis_loss", ["fallback", "fail"])
async def test_a_run_that_loses_redis_midway_tells_the_truth(
    own_redis: Callable[[], RedisServerProcess], on_redis_loss: str
) -> None:
    """Redis killed after the fifth finished job: ``fallback`` converts every id once;
    ``fail`` raises FleetUnavailableError whose partial report accounts for every id, true
    to the simulator's ledger (no false success, no false failure, nothing twice)."""
    server = own_redis()
    fleet = RedisFleet(server.url, max_concurrency=4, on_redis_loss=on_redis_loss)  # type: ignore[arg-type]
    finished = 0

    def kill_after_five_jobs(event: object) -> None:
        nonlocal finished
        if isinstance(event, JobFinished):
            finished += 1
            if finished == 5:
                server.kill()

    config = SimulatorConfig(seed=5, job_duration=0.05, faults=Faults(latency=0.002))
    async with (
        fleet,
        Simulator(config) as sim,
        ZohoConvertClient(
            StaticToken(sim.access_token), api_domain=sim.url, fleet=fleet, max_concurrency=4
        ) as client,
    ):
        ids = sim.state.create_records("Quotes", N)
        async with deadline(120):
            if on_redis_loss == "fallback":
                report = await client.convert_many(
                    "Quotes", ids, to="Sales_Orders", progress=kill_after_five_jobs
                )
                assert report.ok and report.converted + report.already_converted == N
            else:
                with pytest.raises(FleetUnavailableError) as caught:
                    await client.convert_many(
                        "Quotes", ids, to="Sales_Orders", progress=kill_after_five_jobs
                    )
                report = caught.value.partial_report
                assert report is not None and not report.ok
        assert finished >= 5
        judge(report, sim, ids)

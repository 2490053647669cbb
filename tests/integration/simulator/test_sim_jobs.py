"""Job lifecycle driven by an injected clock: SCHEDULED -> IN PROGRESS -> COMPLETED/FAILED."""

from __future__ import annotations

from typing import Any

import aiohttp
from fakes import FakeClock
from sim_helpers import Api, StartSim

from zoho_convert.simulator import Faults


def _adds_up(row: dict[str, Any]) -> bool:
    return bool(row["total_count"] == row["converted_count"] + row["not_converted_count"]
                + row["failed_count"])


async def test_lifecycle_with_fake_clock(start_sim: StartSim, clock: FakeClock,
                                         session: aiohttp.ClientSession) -> None:
    """A 10 s job is SCHEDULED, then IN PROGRESS with growing counts, then COMPLETED."""
    sim = await start_sim(job_duration=10.0)
    api = Api(session, sim)
    ids = sim.state.create_records("Quotes", 40)
    job_id = (await api.mass_convert(ids)).body["details"]["job_id"]
    seen = []
    for _ in range(6):
        row = (await api.status(job_id)).body["data"][0]
        assert _adds_up(row), row
        seen.append((row["status"], row["converted_count"]))
        clock.advance(2.5)
    statuses = [s for s, _ in seen]
    assert statuses[0] == "SCHEDULED"
    assert "IN PROGRESS" in statuses
    assert statuses[-1] == "COMPLETED"
    converted = [c for _, c in seen]
    assert converted == sorted(converted) and converted[-1] == 40
    assert sim.state.stats.polls_per_job[job_id] == 6


async def test_records_convert_only_when_the_job_completes(
    start_sim: StartSim, clock: FakeClock, session: aiohttp.ClientSession
) -> None:
    """The ledger changes at completion, even if nobody polls."""
    sim = await start_sim(job_duration=5.0)
    ids = sim.state.create_records("Quotes", 3)
    await Api(session, sim).mass_convert(ids)
    clock.advance(4.9)
    assert sim.state.converted_ids("Quotes") == set()
    clock.advance(0.1)
    assert sim.state.converted_ids("Quotes") == set(ids)


async def test_zero_duration_completes_at_first_poll(api: Api) -> None:
    """With job_duration=0 the very first poll says COMPLETED."""
    job_id = (await api.mass_convert(["1"])).body["details"]["job_id"]
    assert (await api.status(job_id)).body["data"][0]["status"] == "COMPLETED"


async def test_jitter_is_seeded(start_sim: StartSim, clock: FakeClock) -> None:
    """Job durations vary with jitter but are the same for the same seed."""
    def durations(sim: Any) -> list[float]:
        return [sim.state.submit_job("Quotes", "Invoices", [i]).duration for i in range(1, 6)]

    a = durations(await start_sim(job_duration=10.0, job_duration_jitter=5.0, seed=3))
    b = durations(await start_sim(job_duration=10.0, job_duration_jitter=5.0, seed=3))
    c = durations(await start_sim(job_duration=10.0, job_duration_jitter=5.0, seed=4))
    assert a == b != c
    assert all(5.0 <= d <= 15.0 for d in a) and len(set(a)) > 1


async def test_failed_jobs_convert_nothing_and_release_ids(
    start_sim: StartSim, session: aiohttp.ClientSession
) -> None:
    """failed_job_rate=1: the job ends FAILED with every id failed, and the ids can be retried."""
    sim = await start_sim(faults=Faults(failed_job_rate=1.0))
    api = Api(session, sim)
    ids = sim.state.create_records("Quotes", 4)
    job_id = (await api.mass_convert(ids)).body["details"]["job_id"]
    row = (await api.status(job_id)).body["data"][0]
    assert row == {"total_count": 4, "converted_count": 0, "not_converted_count": 0,
                   "failed_count": 4, "status": "FAILED"}
    assert sim.state.converted_ids("Quotes") == set()
    assert sim.state.reserved_ids("Quotes") == set()
    assert (await api.convert(ids[0])).status == 200


async def test_never_finishing_job(start_sim: StartSim, clock: FakeClock,
                                   session: aiohttp.ClientSession) -> None:
    """never_finish_rate=1: the job stays IN PROGRESS forever and its ids stay reserved."""
    sim = await start_sim(faults=Faults(never_finish_rate=1.0), job_duration=1.0)
    api = Api(session, sim)
    job_id = (await api.mass_convert(["9"])).body["details"]["job_id"]
    clock.advance(1e6)
    row = (await api.status(job_id)).body["data"][0]
    assert row["status"] == "IN PROGRESS" and _adds_up(row)
    assert sim.state.converted_ids("Quotes") == set()
    assert (await api.convert("9")).code == "ID_ALREADY_CONVERTED"


async def test_lead_job_lifecycle(start_sim: StartSim, clock: FakeClock,
                                  session: aiohttp.ClientSession) -> None:
    """Lead mass-convert jobs progress the same way, reported with capitalised keys."""
    sim = await start_sim(job_duration=4.0)
    api = Api(session, sim)
    reply = await api.call("POST", "Leads/actions/mass_convert", json={"ids": ["1", "2"]})
    job_id = reply.body["details"]["job_id"]
    first = (await api.status(job_id, "Leads")).body["data"][0]
    assert first["Status"] == "SCHEDULED"
    clock.advance(4.0)
    last = (await api.status(job_id, "Leads")).body["data"][0]
    assert last["Status"] == "COMPLETED" and last["Converted_Count"] == 2

"""Job faults that make a job's fate hard to learn, while the ledger stays the truth: forgotten
jobs, duplicate job ids, malformed final statuses, lost submit replies, unreserved ids."""

from __future__ import annotations

from typing import Any

import aiohttp
import pytest
from fakes import FakeClock
from sim_helpers import Api, StartSim

from zoho_convert.simulator import Faults, Simulator


async def _conversions(api: Api, module: str = "Quotes") -> dict[str, Any]:
    reply = await api.call("GET", "/__simulator__/conversions", params={"module": module},
                           auth=False)
    assert reply.status == 200
    body: dict[str, Any] = reply.body
    return body


async def test_forgotten_job_answers_204_and_still_converts(
    start_sim: StartSim, clock: FakeClock, session: aiohttp.ClientSession
) -> None:
    """forget_job_rate=1: every poll is 204 with no body; the records convert at the job's time."""
    sim = await start_sim(job_duration=10.0, faults=Faults(forget_job_rate=1.0))
    api = Api(session, sim)
    ids = sim.state.create_records("Quotes", 3)
    job_id = (await api.mass_convert(ids)).body["details"]["job_id"]
    first = await api.status(job_id)
    assert (first.status, first.body) == (204, b"")
    clock.advance(10.0)
    assert (await _conversions(api))["converted_ids"] == sorted(ids)
    assert (await api.status(job_id)).status == 204
    assert sim.state.stats.forgotten_polls == 2
    assert sim.state.stats.polls_per_job[job_id] == 2


async def test_forgotten_job_can_answer_job_id_invalid(
    start_sim: StartSim, session: aiohttp.ClientSession
) -> None:
    """forget_reply="invalid": a poll of a forgotten job is 400 INVALID_DATA on job_id."""
    sim = await start_sim(faults=Faults(forget_job_rate=1.0, forget_reply="invalid"))
    api = Api(session, sim)
    leads = sim.state.create_records("Leads", 1)
    job_id = (await api.call("POST", "Leads/actions/mass_convert",
                             json={"ids": leads})).body["details"]["job_id"]
    reply = await api.status(job_id, "Leads")
    assert reply.status == 400
    assert reply.body == {"code": "INVALID_DATA", "details": {"param_name": "job_id"},
                          "message": "The job_id is invalid", "status": "error"}
    assert sim.state.converted_ids("Leads") == set(leads)


async def test_forget_rate_is_seeded(start_sim: StartSim, session: aiohttp.ClientSession) -> None:
    """forget_job_rate=0.5 forgets some jobs and not others, the same ones for the same seed."""
    outcomes = []
    for _ in range(2):
        sim = await start_sim(seed=3, faults=Faults(forget_job_rate=0.5))
        api = Api(session, sim)
        statuses = []
        for _ in range(12):
            job_id = (await api.mass_convert(sim.state.create_records("Quotes", 1))) \
                .body["details"]["job_id"]
            statuses.append((await api.status(job_id)).status)
        outcomes.append(statuses)
    assert outcomes[0] == outcomes[1]
    assert set(outcomes[0]) == {200, 204}


async def test_forget_job_on_demand(api: Api, sim: Simulator, clock: FakeClock) -> None:
    """CrmState.forget_job and POST /__simulator__/forget_job forget a given job."""
    jobs = []
    for _ in range(2):
        reply = await api.mass_convert(sim.state.create_records("Quotes", 1))
        jobs.append(reply.body["details"]["job_id"])
    assert (await api.status(jobs[0])).status == 200
    sim.state.forget_job(jobs[0])
    assert (await api.status(jobs[0])).status == 204
    over_http = await api.call("POST", "/__simulator__/forget_job", json={"job_id": jobs[1]},
                               auth=False)
    assert (over_http.status, over_http.body) == (200, {"forgotten": jobs[1]})
    assert (await api.status(jobs[1])).status == 204
    unknown = await api.call("POST", "/__simulator__/forget_job",
                             json={"job_id": "2423488000000000001"}, auth=False)
    assert unknown.status == 404
    bad = await api.call("POST", "/__simulator__/forget_job", json={}, auth=False)
    assert bad.status == 400


async def test_duplicate_job_id(start_sim: StartSim, clock: FakeClock,
                                session: aiohttp.ClientSession) -> None:
    """duplicate_job_id_rate=1: a later submit is answered with the earlier job's id; both run."""
    sim = await start_sim(job_duration=5.0, faults=Faults(duplicate_job_id_rate=1.0))
    api = Api(session, sim)
    first_ids = sim.state.create_records("Quotes", 2)
    second_ids = sim.state.create_records("Quotes", 3)
    first = (await api.mass_convert(first_ids)).body["details"]["job_id"]
    second = (await api.mass_convert(second_ids)).body["details"]["job_id"]
    assert second == first  # no earlier job existed for the first submit: its own id
    assert len(sim.state.jobs) == 2
    assert sim.state.stats.duplicate_job_ids == 1
    clock.advance(5.0)
    row = (await api.status(first)).body["data"][0]
    assert row["total_count"] == 2  # the status is the first batch's, not the second's
    assert sim.state.converted_ids("Quotes") == set(first_ids) | set(second_ids)


async def test_duplicate_job_id_stays_within_the_module(
    start_sim: StartSim, session: aiohttp.ClientSession
) -> None:
    """The id reused is an earlier job of the same module (its status path knows it)."""
    sim = await start_sim(faults=Faults(duplicate_job_id_rate=1.0))
    api = Api(session, sim)
    quote_job = (await api.mass_convert(sim.state.create_records("Quotes", 1))) \
        .body["details"]["job_id"]
    order_job = (await api.mass_convert(sim.state.create_records("Sales_Orders", 1),
                                        "Sales_Orders", "Invoices")).body["details"]["job_id"]
    assert order_job != quote_job
    assert (await api.status(order_job, "Sales_Orders")).status == 200


@pytest.mark.parametrize(("kind", "expected"), [
    ("counts", {"over_total", "null_count"}),
    ("state", {"unknown_state"}),
    ("mixed", {"over_total", "null_count", "unknown_state"}),
])
async def test_malformed_final_status(
    start_sim: StartSim, clock: FakeClock, session: aiohttp.ClientSession, kind: str,
    expected: set[str]
) -> None:
    """malformed_final_rate=1: once final, the status is malformed as the kind says; records
    still convert, and before that the status is sound."""
    sim = await start_sim(job_duration=4.0, seed=9,
                          faults=Faults(malformed_final_rate=1.0, malformed_final_kind=kind))
    api = Api(session, sim)
    jobs = []
    for _ in range(12):
        reply = await api.mass_convert(sim.state.create_records("Quotes", 2))
        jobs.append(reply.body["details"]["job_id"])
    early = (await api.status(jobs[0])).body["data"][0]
    assert early["status"] == "SCHEDULED" and early["total_count"] == 2
    clock.advance(4.0)
    seen = set()
    for job_id in jobs:
        row = (await api.status(job_id)).body["data"][0]
        if row["status"] == "CANCELLED":
            seen.add("unknown_state")
            assert row["converted_count"] == 2
        elif row["converted_count"] is None:
            seen.add("null_count")
        else:
            assert row["converted_count"] > row["total_count"]
            seen.add("over_total")
    assert seen == expected
    assert len(sim.state.converted_ids("Quotes")) == 24
    assert sim.state.stats.malformed_statuses == 12


async def test_malformed_final_status_leads_bare(
    start_sim: StartSim, session: aiohttp.ClientSession
) -> None:
    """Malformed finals apply to the Leads status (capitalised keys) in the bare shape too."""
    sim = await start_sim(status_shape="bare",
                          faults=Faults(malformed_final_rate=1.0, malformed_final_kind="state"))
    api = Api(session, sim)
    leads = sim.state.create_records("Leads", 2)
    job_id = (await api.call("POST", "Leads/actions/mass_convert",
                             json={"ids": leads})).body["details"]["job_id"]
    row = (await api.status(job_id, "Leads")).body
    assert row == {"Status": "CANCELLED", "Total_Count": 2, "Converted_Count": 2,
                   "Not_Converted_Count": 0, "Failed_Count": 0}


@pytest.mark.parametrize("fault", ["rate_500", "drop_rate"])
async def test_lost_submit_reply_still_converts_at_its_time(
    start_sim: StartSim, clock: FakeClock, session: aiohttp.ClientSession, fault: str
) -> None:
    """A submit processed then answered 500 / dropped converts its records when its time is up,
    though nobody ever polls it (eager settlement)."""
    faults = Faults(fault_after_processing=True, fault_endpoints=frozenset({"mass_convert"}),
                    **{fault: 1.0})
    sim = await start_sim(job_duration=10.0, faults=faults)
    api = Api(session, sim)
    ids = sim.state.create_records("Quotes", 3)
    try:
        reply = await api.mass_convert(ids)
        assert reply.status == 500
    except aiohttp.ServerDisconnectedError:
        assert fault == "drop_rate"
    clock.advance(9.9)
    assert (await _conversions(api))["converted_ids"] == []
    clock.advance(0.1)
    assert (await _conversions(api))["converted_ids"] == sorted(ids)
    assert sim.state.stats.polls_per_job == {}


async def test_without_reserved_ids_a_resubmission_converts_twice(
    start_sim: StartSim, clock: FakeClock, session: aiohttp.ClientSession
) -> None:
    """reserve_ids=False: records convert only at the job's end, a second submit of a pending id
    is accepted, and the ledger then counts that id twice."""
    sim = await start_sim(job_duration=10.0, reserve_ids=False)
    api = Api(session, sim)
    ids = sim.state.create_records("Quotes", 3)
    assert (await api.mass_convert(ids)).status == 202
    clock.advance(4.0)
    assert sim.state.converted_ids("Quotes") == set()
    assert sim.state.reserved_ids("Quotes") == set(ids)
    again = await api.mass_convert(ids[:1])
    assert again.status == 202, again.body
    clock.advance(6.0)  # the first job ends; the second is still running
    assert (await _conversions(api))["repeated"] == {}
    clock.advance(4.0)
    listed = await _conversions(api)
    assert listed["repeated"] == {ids[0]: 2}
    assert listed["counts"] == {ids[0]: 2, ids[1]: 1, ids[2]: 1}
    assert sim.state.conversions[("Quotes", ids[0])] == 2
    refused = await api.mass_convert(ids[1:2])  # finished: already converted now
    assert refused.code == "ID_ALREADY_CONVERTED"


async def test_reserved_ids_by_default_refuse_a_resubmission(
    start_sim: StartSim, session: aiohttp.ClientSession
) -> None:
    """With reserve_ids (the default) a pending id is refused at once and converts only once."""
    sim = await start_sim(job_duration=10.0)
    api = Api(session, sim)
    ids = sim.state.create_records("Quotes", 2)
    assert (await api.mass_convert(ids)).status == 202
    assert (await api.mass_convert(ids[:1])).code == "ID_ALREADY_CONVERTED"
    assert sim.state.converted_ids("Quotes") == set()


async def test_lost_submit_resubmitted_early_converts_twice_late_is_refused(
    start_sim: StartSim, clock: FakeClock, session: aiohttp.ClientSession
) -> None:
    """Without reserved ids, resubmitting a lost batch before its job ends shows in the ledger as
    a double conversion; resubmitting after it ended is refused (what settling must wait for)."""
    faults = Faults(rate_500=1.0, fault_after_processing=True,
                    fault_endpoints=frozenset({"mass_convert"}))
    sim = await start_sim(job_duration=10.0, reserve_ids=False, faults=faults)
    api = Api(session, sim)
    early, late = sim.state.create_records("Quotes", 1), sim.state.create_records("Quotes", 1)
    assert (await api.mass_convert(early + late)).status == 500  # processed, reply lost
    clock.advance(5.0)
    assert (await api.mass_convert(early)).status == 500  # processed again: a second job
    clock.advance(5.0)  # the lost job is over
    refused = await api.call("POST", "Quotes/actions/mass_convert",
                             json=await api.mass_body(late))
    assert refused.status == 500  # the fault hides the reply, but nothing was scheduled
    assert len(sim.state.jobs) == 2
    clock.advance(5.0)
    assert (await _conversions(api))["repeated"] == {early[0]: 2}
    assert sim.state.conversions[("Quotes", late[0])] == 1
    assert sim.state.stats.duplicate_attempts == 1

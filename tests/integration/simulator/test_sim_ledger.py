"""The conversion ledger: every record converts at most once, whatever the client does."""

from __future__ import annotations

import aiohttp
from fakes import FakeClock
from sim_helpers import Api, StartSim


async def test_single_convert_twice_is_refused(api: Api) -> None:
    """Converting a record a second time answers ID_ALREADY_CONVERTED inside data[0]."""
    [rid] = api.sim.state.create_records("Quotes", 1)
    assert (await api.convert(rid)).status == 200
    again = await api.convert(rid, target="Invoices")
    assert (again.status, again.code) == (400, "ID_ALREADY_CONVERTED")
    assert again.body["data"][0]["details"]["id"] == rid
    assert api.sim.state.conversions[("Quotes", rid)] == 1
    assert api.sim.state.stats.duplicate_attempts == 1


async def test_mass_convert_fail_call_mode(api: Api) -> None:
    """already_converted="fail_call": one converted id fails the whole call, naming that id."""
    ids = api.sim.state.create_records("Quotes", 5)
    assert (await api.convert(ids[3])).status == 200
    reply = await api.mass_convert(ids)
    assert (reply.status, reply.code) == (400, "ID_ALREADY_CONVERTED")
    assert reply.body["details"] == {"resource_path_index": 3}
    assert api.sim.state.converted_ids("Quotes") == {ids[3]}
    assert api.sim.state.jobs == {}


async def test_mass_convert_fail_in_job_mode(start_sim: StartSim,
                                             session: aiohttp.ClientSession) -> None:
    """already_converted="fail_in_job": the job runs and the converted id counts as failed."""
    sim = await start_sim(already_converted="fail_in_job")
    api = Api(session, sim)
    ids = sim.state.create_records("Quotes", 5)
    await api.convert(ids[0])
    reply = await api.mass_convert(ids)
    assert reply.status == 202
    row = (await api.status(reply.body["details"]["job_id"])).body["data"][0]
    assert row == {"total_count": 5, "converted_count": 4, "not_converted_count": 0,
                   "failed_count": 1, "status": "COMPLETED"}
    assert all(sim.state.conversions[("Quotes", i)] == 1 for i in ids)


async def test_ids_are_reserved_while_the_job_runs(start_sim: StartSim, clock: FakeClock,
                                                   session: aiohttp.ClientSession) -> None:
    """An id in a running job is already converted for a second submission and single convert."""
    sim = await start_sim(job_duration=10.0)
    api = Api(session, sim)
    ids = sim.state.create_records("Quotes", 3)
    assert (await api.mass_convert(ids)).status == 202
    assert sim.state.converted_ids("Quotes") == set()
    assert sim.state.reserved_ids("Quotes") == set(ids)
    again = await api.mass_convert(ids[1:2])
    assert again.code == "ID_ALREADY_CONVERTED"
    single = await api.convert(ids[2])
    assert single.code == "ID_ALREADY_CONVERTED"
    clock.advance(10.0)
    assert sim.state.converted_ids("Quotes") == set(ids)
    assert max(sim.state.conversions.values()) == 1


async def test_invalid_ids_fail_the_whole_call(start_sim: StartSim,
                                               session: aiohttp.ClientSession) -> None:
    """An invalid id fails the mass call with INVALID_DATA naming it; nothing converts."""
    bad = "2423488000000999999"
    sim = await start_sim(invalid_ids=frozenset({bad}))
    api = Api(session, sim)
    ids = [*sim.state.create_records("Quotes", 2), bad]
    reply = await api.mass_convert(ids)
    assert (reply.status, reply.code) == (400, "INVALID_DATA")
    assert reply.body["details"] == {"resource_path_index": 2}
    assert sim.state.converted_ids("Quotes") == set()
    single = await api.convert(bad)
    assert (single.status, single.code) == (400, "INVALID_DATA")


async def test_strict_records_refuse_unknown_ids(start_sim: StartSim,
                                                 session: aiohttp.ClientSession) -> None:
    """With strict_records only created ids exist; others are INVALID_DATA."""
    sim = await start_sim(strict_records=True)
    api = Api(session, sim)
    known = sim.state.create_records("Quotes", 1)
    assert (await api.mass_convert(known)).status == 202
    reply = await api.mass_convert(["1234567890123456789"])
    assert reply.code == "INVALID_DATA"


async def test_lenient_records_accept_any_numeric_id(api: Api) -> None:
    """Without strict_records any well-formed id is a record of the module being converted."""
    reply = await api.mass_convert(["1234567890123456789", 987654321])
    assert reply.status == 202
    await api.status(reply.body["details"]["job_id"])
    assert api.sim.state.converted_ids("Quotes") == {"1234567890123456789", "987654321"}


async def test_id_of_another_module_is_invalid(api: Api) -> None:
    """An id created in Sales_Orders is not a Quote."""
    [so] = api.sim.state.create_records("Sales_Orders", 1)
    reply = await api.mass_convert([so])
    assert reply.code == "INVALID_DATA"


async def test_not_approved_and_locked_single(start_sim: StartSim,
                                              session: aiohttp.ClientSession) -> None:
    """Single convert of a not-approved or locked record answers NOT_APPROVED / RECORD_LOCKED."""
    sim = await start_sim(not_approved_ids=frozenset({"111"}), locked_ids=frozenset({222}))
    api = Api(session, sim)
    assert (await api.convert("111")).code == "NOT_APPROVED"
    assert (await api.convert("222")).code == "RECORD_LOCKED"
    lead = await api.call("POST", "Leads/222/actions/convert", json={"data": [{}]})
    assert (lead.status, lead.code) == (400, "RECORD_LOCKED")
    assert sim.state.conversions == {}


async def test_not_approved_and_locked_fail_inside_a_mass_job(
    start_sim: StartSim, session: aiohttp.ClientSession
) -> None:
    """In a mass job, not-approved and locked ids count as failed; the rest convert."""
    sim = await start_sim(not_approved_ids=frozenset({"111"}), locked_ids=frozenset({"222"}))
    api = Api(session, sim)
    reply = await api.mass_convert(["111", "222", "333"])
    row = (await api.status(reply.body["details"]["job_id"])).body["data"][0]
    assert (row["converted_count"], row["failed_count"], row["total_count"]) == (1, 2, 3)
    assert sim.state.converted_ids("Quotes") == {"333"}


async def test_duplicate_ids_in_one_call_count_once(api: Api) -> None:
    """The same id twice in one call is one record."""
    reply = await api.mass_convert(["555", "555"])
    row = (await api.status(reply.body["details"]["job_id"])).body["data"][0]
    assert row["total_count"] == 1 and row["converted_count"] == 1


async def test_lead_single_convert_twice(api: Api) -> None:
    """A lead converts once; the second time answers ID_ALREADY_CONVERTED."""
    first = await api.call("POST", "Leads/777/actions/convert", json={"data": [{}]})
    second = await api.call("POST", "Leads/777/actions/convert", json={"data": [{}]})
    assert first.status == 200
    assert (second.status, second.code) == (400, "ID_ALREADY_CONVERTED")


async def test_ledger_is_per_module(api: Api) -> None:
    """The same numeric id converts independently in Quotes and Sales_Orders."""
    assert (await api.convert("42")).status == 200
    assert (await api.convert("42", "Sales_Orders", "Invoices")).status == 200
    assert api.sim.state.converted_ids("Quotes") == {"42"}
    assert api.sim.state.converted_ids("Sales_Orders") == {"42"}


async def test_converted_leads_read_as_invalid_ids_when_configured(
    start_sim: StartSim, session: aiohttp.ClientSession
) -> None:
    """``converted_leads``: a converted lead is refused as ID_ALREADY_CONVERTED (default), as
    an invalid id by the Leads mass convert (``invalid_in_mass``: INVALID_DATA naming its
    index; Convert Lead still says converted), or by Convert Lead too (``invalid``); a
    converted quote is refused as converted whatever the setting."""
    answers = {}
    for reading in ("already_converted", "invalid_in_mass", "invalid"):
        sim = await start_sim(converted_leads=reading)
        api = Api(session, sim)
        leads = sim.state.create_records("Leads", 3)
        [quote] = sim.state.create_records("Quotes", 1)
        for value in (leads[1], quote):
            sim.state.convert_one("Leads" if value in leads else "Quotes", int(value))
        mass = await api.call("POST", "Leads/actions/mass_convert", json={"ids": leads})
        single = await api.call("POST", f"Leads/{leads[1]}/actions/convert", json={"data": [{}]})
        answers[reading] = (mass.code, mass.body.get("details"), single.code)
        assert (await api.convert(quote)).code == "ID_ALREADY_CONVERTED"
        assert sim.state.jobs == {} and sim.state.conversions[("Leads", leads[1])] == 1
    index = {"resource_path_index": 1}
    assert answers == {
        "already_converted": ("ID_ALREADY_CONVERTED", index, "ID_ALREADY_CONVERTED"),
        "invalid_in_mass": ("INVALID_DATA", index, "ID_ALREADY_CONVERTED"),
        "invalid": ("INVALID_DATA", index, "INVALID_DATA"),
    }

"""Each documented reading of the wire the simulator can play: status shape, error details,
token expiry units, and the OAS's request rules (Events, Pipeline, lead tag objects)."""

from __future__ import annotations

from typing import Any

import aiohttp
import pytest
from fakes import FakeClock
from sim_helpers import Api, StartSim

from zoho_convert.simulator import Faults, SimulatorConfig

DEAL = {"Deal_Name": "D", "Closing_Date": "2030-01-01", "Stage": "Qualification",
        "Pipeline": "Standard (Standard)"}
INVENTORY_ROW = {"total_count": 3, "converted_count": 3, "not_converted_count": 0,
                 "failed_count": 0, "status": "COMPLETED"}
LEAD_ROW = {"Status": "COMPLETED", "Total_Count": 3, "Converted_Count": 3,
            "Not_Converted_Count": 0, "Failed_Count": 0}


@pytest.mark.parametrize(("shape", "wrap"), [("wrapped", True), ("bare", False)])
async def test_status_shape_inventory_and_leads(
    start_sim: StartSim, session: aiohttp.ClientSession, shape: str, wrap: bool
) -> None:
    """status_shape: the status row inside {"data":[...]} (v7) or as the bare object (OAS v8)."""
    sim = await start_sim(status_shape=shape)
    api = Api(session, sim)
    quotes = sim.state.create_records("Quotes", 3)
    job_id = (await api.mass_convert(quotes)).body["details"]["job_id"]
    inventory = (await api.status(job_id)).body
    assert inventory == ({"data": [INVENTORY_ROW]} if wrap else INVENTORY_ROW)
    leads = sim.state.create_records("Leads", 3)
    scheduled = await api.call("POST", "Leads/actions/mass_convert", json={"ids": leads})
    lead = (await api.status(scheduled.body["details"]["job_id"], "Leads")).body
    assert lead == ({"data": [LEAD_ROW]} if wrap else LEAD_ROW)


@pytest.mark.parametrize(("setting", "code", "status"), [
    ("invalid_ids", "INVALID_DATA", 400),
    ("no_permission_ids", "NO_PERMISSION", 403),
    ("not_approved_ids", "NOT_APPROVED", 400),
    ("not_reviewed_ids", "NOT_REVIEWED", 400),
])
@pytest.mark.parametrize("style", ["oas", "legacy"])
async def test_id_level_errors_name_the_index(
    start_sim: StartSim, session: aiohttp.ClientSession, setting: str, code: str,
    status: int, style: str
) -> None:
    """An id-level refusal carries resource_path_index (oas) or the flat $.ids[N] form (legacy)."""
    bad = "2423488000000999999"
    sim = await start_sim(error_details=style, approval_errors="fail_call",
                          **{setting: frozenset({bad})})
    api = Api(session, sim)
    ids = [*sim.state.create_records("Quotes", 4), bad]
    reply = await api.mass_convert([ids[0], ids[1], bad, ids[2], bad])
    assert (reply.status, reply.code) == (status, code), reply.body
    expected = ({"resource_path_index": 2} if style == "oas"
                else {"id": bad, "api_name": "ids", "json_path": "$.ids[2]"})
    assert reply.body["details"] == expected
    assert sim.state.jobs == {}


@pytest.mark.parametrize("style", ["oas", "legacy"])
async def test_already_converted_names_the_index_as_written(
    start_sim: StartSim, session: aiohttp.ClientSession, style: str
) -> None:
    """ID_ALREADY_CONVERTED names the first position of the id; legacy echoes the id as sent."""
    sim = await start_sim(error_details=style)
    api = Api(session, sim)
    ids = sim.state.create_records("Quotes", 3)
    await api.convert(ids[1])
    reply = await api.mass_convert([ids[0], int(ids[1]), ids[2]])
    assert reply.code == "ID_ALREADY_CONVERTED"
    expected = ({"resource_path_index": 1} if style == "oas"
                else {"id": ids[1], "api_name": "ids", "json_path": "$.ids[1]"})
    assert reply.body["details"] == expected


async def test_approval_errors_fail_in_job_by_default(
    start_sim: StartSim, session: aiohttp.ClientSession
) -> None:
    """By default NOT_REVIEWED ids in a mass convert count as failed inside the job."""
    sim = await start_sim(not_reviewed_ids=frozenset({"2423488000000999998"}))
    api = Api(session, sim)
    ids = ["2423488000000999998", *sim.state.create_records("Quotes", 1)]
    reply = await api.mass_convert(ids)
    assert reply.status == 202
    row = (await api.status(reply.body["details"]["job_id"])).body["data"][0]
    assert (row["converted_count"], row["failed_count"]) == (1, 1)


@pytest.mark.parametrize(("style", "details"), [
    ("oas", {"ambiguity_due_to": [{"api_name": "id",
                                   "json_path": "$.convert_to[0].module.id"}]}),
    ("legacy", {"api_name": "id", "json_path": "$.convert_to[0].module.id"}),
])
async def test_wrong_target_module_id_is_ambiguity(
    start_sim: StartSim, session: aiohttp.ClientSession, style: str, details: dict[str, Any]
) -> None:
    """A target module id that is not the target's is AMBIGUITY_DURING_PROCESSING, per style."""
    sim = await start_sim(error_details=style)
    api = Api(session, sim)
    body = await api.mass_body(["11"], "Sales_Orders")
    body["convert_to"][0]["module"]["id"] = await api.module_id("Invoices")
    reply = await api.call("POST", "Quotes/actions/mass_convert", json=body)
    assert (reply.status, reply.code) == (400, "AMBIGUITY_DURING_PROCESSING")
    assert reply.body["details"] == details


@pytest.mark.parametrize(("style", "details"), [
    ("oas", {"ambiguity_due_to": [{"api_name": "id", "json_path": "$.related_modules[1].id"}]}),
    ("legacy", {"api_name": "id", "json_path": "$.related_modules[1].id"}),
])
async def test_wrong_related_module_id_is_ambiguity(
    start_sim: StartSim, session: aiohttp.ClientSession, style: str, details: dict[str, Any]
) -> None:
    """A related module id that is not that module's is AMBIGUITY_DURING_PROCESSING, per style."""
    sim = await start_sim(error_details=style)
    api = Api(session, sim)
    body = await api.mass_body(["11"])
    body["related_modules"] = [{"api_name": "Tasks", "id": await api.module_id("Tasks")},
                               {"api_name": "Events", "id": await api.module_id("Calls")}]
    reply = await api.call("POST", "Quotes/actions/mass_convert", json=body)
    assert (reply.status, reply.code) == (400, "AMBIGUITY_DURING_PROCESSING")
    assert reply.body["details"] == details


@pytest.mark.parametrize(("style", "details"), [
    ("oas", {"expected_fields": [{"api_name": "convert_to", "json_path": "$.convert_to"}]}),
    ("legacy", {"api_name": "convert_to", "json_path": "$.convert_to"}),
])
async def test_expected_field_missing_details(
    start_sim: StartSim, session: aiohttp.ClientSession, style: str, details: dict[str, Any]
) -> None:
    """EXPECTED_FIELD_MISSING lists expected_fields (oas) or names the field flat (legacy)."""
    sim = await start_sim(error_details=style)
    reply = await Api(session, sim).call("POST", "Quotes/actions/mass_convert",
                                         json={"ids": ["11"]})
    assert (reply.status, reply.code) == (400, "EXPECTED_FIELD_MISSING")
    assert reply.body["details"] == details


async def test_events_is_the_meetings_module(api: Api) -> None:
    """Related modules are Tasks, Calls and Events; "Meetings" is not an API name."""
    body = await api.mass_body(api.sim.state.create_records("Quotes", 1))
    body["related_modules"] = [{"api_name": name, "id": await api.module_id(name)}
                               for name in ("Tasks", "Calls", "Events")]
    assert (await api.call("POST", "Quotes/actions/mass_convert", json=body)).status == 202
    body["related_modules"] = [{"api_name": "Meetings", "id": await api.module_id("Events")}]
    body["ids"] = api.sim.state.create_records("Quotes", 1)
    refused = await api.call("POST", "Quotes/actions/mass_convert", json=body)
    assert (refused.status, refused.code) == (400, "INVALID_DATA")
    assert refused.body["details"]["json_path"] == "$.related_modules[0].api_name"


@pytest.mark.parametrize("pipeline", ["Standard (Standard)", {"name": "Standard (Standard)"},
                                      {"name": "Standard", "id": "2423488000000006801"}])
async def test_deal_pipeline_as_string_or_object(api: Api, pipeline: Any) -> None:
    """Deals.Pipeline may be a picklist string or an object {name, id}."""
    [lead] = api.sim.state.create_records("Leads", 1)
    reply = await api.call("POST", f"Leads/{lead}/actions/convert",
                           json={"data": [{"Deals": {**DEAL, "Pipeline": pipeline}}]})
    assert reply.status == 200, reply.body


@pytest.mark.parametrize("pipeline", [None, "", 5, {"name": ""}, {}])
@pytest.mark.parametrize("endpoint", ["convert", "mass_convert"])
async def test_deal_pipeline_is_mandatory(api: Api, pipeline: Any, endpoint: str) -> None:
    """Without a usable Pipeline a deal is refused, by lead convert and Leads mass convert."""
    [lead] = api.sim.state.create_records("Leads", 1)
    deal = {**DEAL, "Pipeline": pipeline}
    if pipeline is None:
        del deal["Pipeline"]
    if endpoint == "convert":
        reply = await api.call("POST", f"Leads/{lead}/actions/convert",
                               json={"data": [{"Deals": deal}]})
        path = "$.data[0].Deals.Pipeline"
    else:
        reply = await api.call("POST", "Leads/actions/mass_convert",
                               json={"ids": [lead], "Deals": deal})
        path = "$.Deals.Pipeline"
    assert reply.status == 400, reply.body
    assert reply.code in ("MANDATORY_NOT_FOUND", "INVALID_DATA")
    assert reply.body["details"]["json_path"] == path
    assert api.sim.state.converted_ids("Leads") == set()


async def test_lead_mass_convert_tags_and_attachments_as_objects(api: Api) -> None:
    """carry_over_tags is [{api_name, id?}] and move_attachments_to {api_name, id?}: accepted."""
    leads = api.sim.state.create_records("Leads", 2)
    body = {"ids": leads, "Deals": DEAL,
            "carry_over_tags": [{"api_name": "Contacts"},
                                {"api_name": "Deals", "id": await api.module_id("Deals")}],
            "move_attachments_to": {"api_name": "Accounts",
                                    "id": await api.module_id("Accounts")}}
    reply = await api.call("POST", "Leads/actions/mass_convert", json=body)
    assert (reply.status, reply.code) == (200, "SCHEDULED"), reply.body


@pytest.mark.parametrize(("extra", "code", "path"), [
    ({"carry_over_tags": ["Contacts", "Accounts"]}, "INVALID_DATA", "$.carry_over_tags[0]"),
    ({"carry_over_tags": [{"api_name": "Contacts"}, "Deals"]}, "INVALID_DATA",
     "$.carry_over_tags[1]"),
    ({"carry_over_tags": [{"api_name": "Quotes"}]}, "INVALID_DATA",
     "$.carry_over_tags[0].api_name"),
    ({"carry_over_tags": [{}]}, "MANDATORY_NOT_FOUND", "$.carry_over_tags[0].api_name"),
    ({"move_attachments_to": "Contacts"}, "INVALID_DATA", "$.move_attachments_to"),
])
async def test_lead_mass_convert_refuses_plain_names(
    api: Api, extra: dict[str, Any], code: str, path: str
) -> None:
    """Plain strings (or unknown modules) for tags or attachments are refused, naming the item."""
    reply = await api.call("POST", "Leads/actions/mass_convert",
                           json={"ids": api.sim.state.create_records("Leads", 1), **extra})
    assert (reply.status, reply.code) == (400, code), reply.body
    assert reply.body["details"]["json_path"] == path
    if path == "$.carry_over_tags[0]":
        assert reply.body["details"]["expected_data_type"] == "jsonobject"


async def test_lead_target_module_id_must_match(api: Api) -> None:
    """An id in carry_over_tags / move_attachments_to that is not that module's is ambiguous."""
    leads = api.sim.state.create_records("Leads", 1)
    tags = {"ids": leads, "carry_over_tags": [{"api_name": "Contacts",
                                               "id": await api.module_id("Deals")}]}
    reply = await api.call("POST", "Leads/actions/mass_convert", json=tags)
    assert reply.code == "AMBIGUITY_DURING_PROCESSING"
    assert reply.body["details"]["ambiguity_due_to"][0]["json_path"] == "$.carry_over_tags[0].id"
    move = {"data": [{"move_attachments_to": {"api_name": "Contacts",
                                              "id": await api.module_id("Accounts")}}]}
    reply = await api.call("POST", f"Leads/{leads[0]}/actions/convert", json=move)
    assert reply.code == "AMBIGUITY_DURING_PROCESSING"


async def test_lead_convert_options_of_the_oas(api: Api) -> None:
    """Lead convert takes add_to_existing_record (boolean) and move_attachments_to with an id."""
    [lead, other] = api.sim.state.create_records("Leads", 2)
    entry = {"add_to_existing_record": True, "Deals": DEAL,
             "move_attachments_to": {"id": await api.module_id("Deals")}}
    reply = await api.call("POST", f"Leads/{lead}/actions/convert", json={"data": [entry]})
    assert reply.status == 200, reply.body
    bad = await api.call("POST", f"Leads/{other}/actions/convert",
                         json={"data": [{"add_to_existing_record": "yes"}]})
    assert (bad.status, bad.code) == (400, "INVALID_DATA")
    assert api.sim.state.converted_ids("Leads") == {lead}


async def test_submit_statuses_leads_200_inventory_202(api: Api) -> None:
    """Leads mass convert answers 200 (its OAS), inventory mass convert 202 (its OAS)."""
    leads = api.sim.state.create_records("Leads", 1)
    lead = await api.call("POST", "Leads/actions/mass_convert", json={"ids": [int(leads[0])]})
    assert (lead.status, lead.code) == (200, "SCHEDULED")
    quotes = api.sim.state.create_records("Quotes", 1)
    assert (await api.mass_convert([int(quotes[0])])).status == 202


@pytest.mark.parametrize(("ttl", "seconds"), [(None, 3600), (90.0, 90)])
async def test_token_expiry_in_milliseconds(
    start_sim: StartSim, session: aiohttp.ClientSession, clock: FakeClock,
    ttl: float | None, seconds: int
) -> None:
    """token_expiry_ms: expires_in_sec in seconds and expires_in in milliseconds."""
    sim = await start_sim(token_expiry_ms=True, faults=Faults(token_ttl=ttl))
    body = (await Api(session, sim).refresh()).body
    assert body["expires_in_sec"] == seconds
    assert body["expires_in"] == seconds * 1000
    plain = await start_sim(SimulatorConfig(clock=clock))
    assert "expires_in_sec" not in (await Api(session, plain).refresh()).body

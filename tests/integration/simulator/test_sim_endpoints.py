"""Happy paths of every simulated endpoint, over real HTTP with a plain aiohttp session."""

from __future__ import annotations

import aiohttp
import pytest
from sim_helpers import Api, StartSim

from zoho_convert.simulator import Simulator


async def test_modules_list_has_all_modules_with_19_digit_ids(api: Api) -> None:
    """GET settings/modules lists every module (Meetings as Events) with a 19-digit string id."""
    reply = await api.call("GET", "settings/modules")
    assert reply.status == 200
    names = {m["api_name"]: m for m in reply.body["modules"]}
    expected = {"Quotes", "Sales_Orders", "Invoices", "Leads", "Contacts", "Accounts", "Deals",
                "Calls", "Tasks", "Events"}
    assert expected <= set(names)
    assert "Meetings" not in names
    assert names["Events"]["plural_label"] == "Meetings"
    for module in names.values():
        assert isinstance(module["id"], str)  # a JSON string, as the OAS types it
        assert len(module["id"]) == 19 and module["id"].isdigit()
        assert {"module_name", "singular_label", "plural_label"} <= set(module)


async def test_single_module_matches_list(api: Api) -> None:
    """GET settings/modules/{api_name} returns the same id as the list."""
    listed = await api.call("GET", "settings/modules")
    by_name = {m["api_name"]: m["id"] for m in listed.body["modules"]}
    one = await api.call("GET", "settings/modules/Invoices")
    assert one.status == 200
    assert one.body["modules"][0]["id"] == by_name["Invoices"]


async def test_fields_for_deals(api: Api) -> None:
    """GET settings/fields?module=Deals returns the deal fields a lead convert needs."""
    reply = await api.call("GET", "settings/fields", params={"module": "Deals"})
    assert reply.status == 200
    names = {f["api_name"] for f in reply.body["fields"]}
    assert {"Deal_Name", "Closing_Date", "Stage", "Pipeline"} <= names


@pytest.mark.parametrize("version", ["v7", "v8"])
async def test_mass_convert_schedules_and_completes(
    session: aiohttp.ClientSession, sim: Simulator, version: str
) -> None:
    """Mass convert answers a bare SCHEDULED object and the job polls to COMPLETED (v7 and v8)."""
    api = Api(session, sim, version)
    ids = sim.state.create_records("Quotes", 50)
    reply = await api.mass_convert(ids)
    assert reply.status == 202
    assert reply.body["code"] == "SCHEDULED" and reply.body["status"] == "success"
    assert reply.body["message"] == "Mass Convert scheduled successfully"
    job_id = reply.body["details"]["job_id"]
    assert isinstance(job_id, str) and job_id.isdigit()
    status = await api.status(job_id)
    assert status.status == 200
    assert status.body == {"data": [{"total_count": 50, "converted_count": 50,
                                     "not_converted_count": 0, "failed_count": 0,
                                     "status": "COMPLETED"}]}
    assert sim.state.converted_ids("Quotes") == set(ids)


async def test_mass_convert_accepts_numbers_for_ids_module_id_and_job_id(
    api: Api, sim: Simulator
) -> None:
    """Ids, the module id and job_id may be JSON numbers, as the official SDK sends them."""
    ids = sim.state.create_records("Quotes", 2)
    body = await api.mass_body([int(i) for i in ids], "Invoices")
    body["convert_to"][0]["module"]["id"] = int(body["convert_to"][0]["module"]["id"])
    reply = await api.call("POST", "Quotes/actions/mass_convert", json=body)
    assert reply.status == 202, reply.body
    status = await api.status(str(int(reply.body["details"]["job_id"])))
    assert status.body["data"][0]["status"] == "COMPLETED"


async def test_sales_orders_mass_convert_to_invoices(api: Api, sim: Simulator) -> None:
    """Sales_Orders -> Invoices is a valid mass conversion with its own status path."""
    ids = sim.state.create_records("Sales_Orders", 3)
    reply = await api.mass_convert(ids, "Sales_Orders", "Invoices")
    assert reply.status == 202
    status = await api.status(reply.body["details"]["job_id"], "Sales_Orders")
    assert status.body["data"][0]["converted_count"] == 3


async def test_mass_convert_with_optional_fields(api: Api, sim: Simulator) -> None:
    """assign_to and related_modules (with the right module ids) are accepted."""
    ids = sim.state.create_records("Quotes", 2)
    body = await api.mass_body(ids)
    body["assign_to"] = {"id": "2423488000000483001"}
    body["related_modules"] = [
        {"api_name": "Calls", "id": await api.module_id("Calls")},
        {"api_name": "Tasks", "id": await api.module_id("Tasks")},
    ]
    reply = await api.call("POST", "Quotes/actions/mass_convert", json=body)
    assert reply.status == 202, reply.body


@pytest.mark.parametrize(("module", "target"), [("Quotes", "Sales_Orders"),
                                                ("Quotes", "Invoices"),
                                                ("Sales_Orders", "Invoices")])
async def test_single_convert(api: Api, sim: Simulator, module: str, target: str) -> None:
    """Single inventory convert answers data[0] SUCCESS with the new record under the target."""
    [rid] = sim.state.create_records(module, 1)
    reply = await api.convert(rid, module, target)
    assert reply.status == 200
    [entry] = reply.body["data"]
    assert entry["code"] == "SUCCESS" and entry["status"] == "success"
    assert entry["message"] == "The record has been converted successfully"
    created = entry["details"][target]
    assert created["id"].isdigit() and len(created["id"]) == 19 and created["name"]
    assert sim.state.conversions[(module, rid)] == 1


async def test_lead_convert_with_deal(api: Api, sim: Simulator) -> None:
    """Lead convert returns Contacts, Accounts (the given one) and Deals with name and id."""
    [lead] = sim.state.create_records("Leads", 1)
    body = {"data": [{
        "overwrite": True, "notify_lead_owner": False, "notify_new_entity_owner": False,
        "Accounts": {"id": "3652397000000624046"},
        "Deals": {"Deal_Name": "Big deal", "Closing_Date": "2030-01-31",
                  "Stage": "Qualification", "Pipeline": "Standard (Standard)", "Amount": 10},
        "carry_over_tags": {"Contacts": ["t1"], "Accounts": [], "Deals": ["t1"]},
    }]}
    reply = await api.call("POST", f"Leads/{lead}/actions/convert", json=body)
    assert reply.status == 200, reply.body
    details = reply.body["data"][0]["details"]
    assert details["Accounts"]["id"] == "3652397000000624046"
    assert details["Deals"]["name"] == "Big deal"
    assert details["Contacts"]["id"].isdigit()
    assert sim.state.converted_ids("Leads") == {lead}


async def test_lead_convert_without_deal(api: Api, sim: Simulator) -> None:
    """A lead converts without Deals; the reply then has no Deals entry."""
    [lead] = sim.state.create_records("Leads", 1)
    reply = await api.call("POST", f"Leads/{lead}/actions/convert", json={"data": [{}]})
    assert reply.status == 200
    assert set(reply.body["data"][0]["details"]) == {"Contacts", "Accounts"}


async def test_lead_mass_convert_status_keys_are_capitalised(api: Api, sim: Simulator) -> None:
    """Lead mass convert schedules a job whose status row uses Status/Total_Count/... keys."""
    leads = sim.state.create_records("Leads", 4)
    body = {"ids": leads, "assign_to": {"id": "111"},
            "Deals": {"Deal_Name": "D", "Closing_Date": "2030-01-01", "Stage": "Qualification",
                      "Pipeline": "Standard (Standard)"},
            "carry_over_tags": [{"api_name": "Contacts", "id": await api.module_id("Contacts")}]}
    reply = await api.call("POST", "Leads/actions/mass_convert", json=body)
    assert reply.status == 200, reply.body  # the Leads OAS answers 200 (inventory: 202)
    assert reply.body["code"] == "SCHEDULED"
    status = await api.status(reply.body["details"]["job_id"], "Leads")
    assert status.body == {"data": [{"Status": "COMPLETED", "Total_Count": 4,
                                     "Converted_Count": 4, "Not_Converted_Count": 0,
                                     "Failed_Count": 0}]}
    assert sim.state.converted_ids("Leads") == set(leads)


async def test_token_refresh_mints_a_working_token(api: Api, sim: Simulator) -> None:
    """The refresh grant returns a new bearer token for the simulator's own URL that works."""
    reply = await api.refresh()
    assert reply.status == 200
    assert reply.body["token_type"] == "Bearer"
    assert reply.body["api_domain"] == sim.url
    assert reply.body["expires_in"] == 3600
    token = reply.body["access_token"]
    assert token != sim.access_token
    ok = await api.call("GET", "settings/modules", headers=api.headers(token))
    assert ok.status == 200
    assert sim.state.stats.token_refreshes == 1


@pytest.mark.parametrize(("override", "error"), [
    ({"client_id": "nope"}, "invalid_client"),
    ({"client_secret": "nope"}, "invalid_client"),
    ({"refresh_token": "nope"}, "invalid_code"),
])
async def test_token_refresh_refusals_are_http_200(
    api: Api, override: dict[str, str], error: str
) -> None:
    """Wrong credentials answer HTTP 200 with {"error": ...}, as Zoho's accounts server does."""
    reply = await api.refresh(**override)
    assert reply.status == 200
    assert reply.body == {"error": error}


async def test_configured_access_token_is_accepted(
    start_sim: StartSim, session: aiohttp.ClientSession
) -> None:
    """A caller-chosen access token is the simulator's valid token."""
    sim = await start_sim(access_token="my-token")
    assert sim.access_token == "my-token"
    reply = await Api(session, sim).call("GET", "settings/modules")
    assert reply.status == 200

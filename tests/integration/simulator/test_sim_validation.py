"""Each documented validation error returns its code and HTTP status in Zoho's error envelope."""

from __future__ import annotations

from typing import Any

import aiohttp
import pytest
from sim_helpers import Api, StartSim

from zoho_convert.simulator import Simulator

QUOTE = "2423488000000625004"


async def _mass(api: Api, mutate: Any) -> dict[str, Any]:
    body = await api.mass_body([QUOTE])
    mutate(body)
    return body


def _module(body: dict[str, Any]) -> dict[str, Any]:
    module: dict[str, Any] = body["convert_to"][0]["module"]
    return module


MASS_CASES: list[tuple[str, Any, int, str]] = [
    ("convert_to missing", lambda b: b.pop("convert_to"), 400, "EXPECTED_FIELD_MISSING"),
    ("convert_to empty", lambda b: b.update(convert_to=[]), 400, "EXPECTED_FIELD_MISSING"),
    ("convert_to not an array", lambda b: b.update(convert_to={"module": {}}), 400,
     "INVALID_DATA"),
    ("two targets", lambda b: b["convert_to"].append(b["convert_to"][0]), 400, "INVALID_DATA"),
    ("module missing", lambda b: b["convert_to"][0].pop("module"), 400, "MANDATORY_NOT_FOUND"),
    ("module not an object", lambda b: b["convert_to"][0].update(module="Sales_Orders"), 400,
     "INVALID_DATA"),
    ("carry_over_tags missing", lambda b: b["convert_to"][0].pop("carry_over_tags"), 400,
     "MANDATORY_NOT_FOUND"),
    ("carry_over_tags not bool", lambda b: b["convert_to"][0].update(carry_over_tags="yes"), 400,
     "INVALID_DATA"),
    ("module api_name missing", lambda b: _module(b).pop("api_name"), 400,
     "MANDATORY_NOT_FOUND"),
    ("module id missing", lambda b: _module(b).pop("id"), 400, "MANDATORY_NOT_FOUND"),
    ("module id not numeric", lambda b: _module(b).update(id="abc"), 400, "INVALID_DATA"),
    ("invalid pair Quotes->Leads", lambda b: _module(b).update(api_name="Leads"), 400,
     "INVALID_DATA"),
    ("unknown target", lambda b: _module(b).update(api_name="Nope"), 400, "INVALID_DATA"),
    ("module id of another module", lambda b: _module(b).update(id="2423488000000000999"), 400,
     "AMBIGUITY_DURING_PROCESSING"),
    ("ids missing", lambda b: b.pop("ids"), 400, "MANDATORY_NOT_FOUND"),
    ("ids empty", lambda b: b.update(ids=[]), 400, "MANDATORY_NOT_FOUND"),
    ("ids not an array", lambda b: b.update(ids=QUOTE), 400, "INVALID_DATA"),
    ("51 ids", lambda b: b.update(ids=[str(10**18 + i) for i in range(51)]), 400,
     "LIMIT_EXCEEDED"),
    ("id not a number or string", lambda b: b.update(ids=[QUOTE, {"id": 1}]), 400,
     "INVALID_DATA"),
    ("id not numeric", lambda b: b.update(ids=["12ab"]), 400, "INVALID_DATA"),
    ("id too long", lambda b: b.update(ids=["1" * 20]), 400, "INVALID_DATA"),
    ("id boolean", lambda b: b.update(ids=[True]), 400, "INVALID_DATA"),
    ("assign_to not an object", lambda b: b.update(assign_to="me"), 400, "INVALID_DATA"),
    ("related module not allowed", lambda b: b.update(
        related_modules=[{"api_name": "Deals", "id": "1"}]), 400, "INVALID_DATA"),
]


@pytest.mark.parametrize(("mutate", "status", "code"), [c[1:] for c in MASS_CASES],
                         ids=[c[0] for c in MASS_CASES])
async def test_mass_convert_body_errors(
    api: Api, sim: Simulator, mutate: Any, status: int, code: str
) -> None:
    """A malformed mass-convert body answers the documented code and converts nothing."""
    reply = await api.call("POST", "Quotes/actions/mass_convert", json=await _mass(api, mutate))
    assert (reply.status, reply.code) == (status, code), reply.body
    assert reply.body["status"] == "error"
    assert set(reply.body) == {"code", "details", "message", "status"}
    assert sim.state.jobs == {}


async def test_mass_convert_limit_details(api: Api) -> None:
    """LIMIT_EXCEEDED says the limit is 50."""
    body = await _mass(api, lambda b: b.update(ids=[str(10**18 + i) for i in range(51)]))
    reply = await api.call("POST", "Quotes/actions/mass_convert", json=body)
    assert reply.body["details"]["limit"] == 50


async def test_sales_orders_cannot_convert_to_sales_orders(api: Api) -> None:
    """Sales_Orders -> Sales_Orders is an invalid module pair."""
    body = await api.mass_body([QUOTE], "Sales_Orders")
    reply = await api.call("POST", "Sales_Orders/actions/mass_convert", json=body)
    assert (reply.status, reply.code) == (400, "INVALID_DATA")


@pytest.mark.parametrize("raw", [b"", b"not json", b"[1, 2]", b'"text"'])
async def test_non_json_or_non_object_body_is_invalid_data(api: Api, raw: bytes) -> None:
    """A body that is not a JSON object answers INVALID_DATA."""
    reply = await api.call("POST", "Quotes/actions/mass_convert", data=raw,
                           headers={"Content-Type": "application/json"})
    assert (reply.status, reply.code) == (400, "INVALID_DATA")


async def test_status_without_job_id(api: Api) -> None:
    """The status call without job_id answers REQUIRED_PARAM_MISSING 400."""
    reply = await api.call("GET", "Quotes/actions/mass_convert")
    assert (reply.status, reply.code) == (400, "REQUIRED_PARAM_MISSING")
    assert reply.body["details"] == {"param_name": "job_id"}


@pytest.mark.parametrize("job_id", ["2423488000000626117", "abc", "0"])
async def test_status_unknown_job(api: Api, job_id: str) -> None:
    """An unknown or malformed job id answers INVALID_DATA 400."""
    reply = await api.status(job_id)
    assert (reply.status, reply.code) == (400, "INVALID_DATA")


async def test_status_of_a_job_from_another_module(api: Api, sim: Simulator) -> None:
    """A Quotes job is unknown on the Sales_Orders status path."""
    ids = sim.state.create_records("Quotes", 1)
    job_id = (await api.mass_convert(ids)).body["details"]["job_id"]
    reply = await api.status(job_id, "Sales_Orders")
    assert (reply.status, reply.code) == (400, "INVALID_DATA")


@pytest.mark.parametrize(("method", "path"), [
    ("PUT", "Quotes/actions/mass_convert"),
    ("DELETE", "Quotes/actions/mass_convert"),
    ("GET", f"Quotes/{QUOTE}/actions/convert"),
    ("POST", "settings/modules"),
    ("PATCH", f"Leads/{QUOTE}/actions/convert"),
])
async def test_wrong_method(api: Api, method: str, path: str) -> None:
    """A valid URL with the wrong HTTP method answers INVALID_REQUEST_METHOD 400."""
    reply = await api.call(method, path, json={})
    assert (reply.status, reply.code) == (400, "INVALID_REQUEST_METHOD")


@pytest.mark.parametrize("path", [
    "Foo/actions/mass_convert",
    "Invoices/actions/mass_convert",
    f"Contacts/{QUOTE}/actions/convert",
])
async def test_unknown_or_unsupported_module(api: Api, path: str) -> None:
    """A module without that action answers INVALID_MODULE 400."""
    reply = await api.call("POST", path, json={})
    assert (reply.status, reply.code) == (400, "INVALID_MODULE")


async def test_unknown_module_metadata(api: Api) -> None:
    """settings/modules/{unknown} answers 204 No Content with an empty body, as the OAS says."""
    reply = await api.call("GET", "settings/modules/Nope")
    assert (reply.status, reply.body) == (204, b"")
    assert "Content-Type" not in reply.headers


async def test_unknown_module_metadata_invalid_module(start_sim: StartSim,
                                                      session: aiohttp.ClientSession) -> None:
    """unknown_module_reply="invalid_module": settings/modules/{unknown} is INVALID_MODULE 400."""
    sim = await start_sim(unknown_module_reply="invalid_module")
    reply = await Api(session, sim).call("GET", "settings/modules/Meetings")
    assert (reply.status, reply.code) == (400, "INVALID_MODULE")


async def test_fields_without_module(api: Api) -> None:
    """settings/fields without module answers REQUIRED_PARAM_MISSING."""
    reply = await api.call("GET", "settings/fields")
    assert (reply.status, reply.code) == (400, "REQUIRED_PARAM_MISSING")


@pytest.mark.parametrize("path", [
    "/crm/v8/Quotes/actions/mass_update",
    "/crm/v9/Quotes/actions/mass_convert",
    "/crm/v8/Quotes",
    "/nothing/here",
    "/crm/v8/settings/layouts",
])
async def test_unknown_url(api: Api, path: str) -> None:
    """An unknown URL answers INVALID_URL_PATTERN 404."""
    reply = await api.call("GET", path)
    assert (reply.status, reply.code) == (404, "INVALID_URL_PATTERN")


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer abc"},
                                     {"Authorization": "Zoho-oauthtoken "}])
async def test_missing_or_malformed_authorization(api: Api, headers: dict[str, str]) -> None:
    """No usable Authorization header answers AUTHENTICATION_FAILURE 401."""
    reply = await api.call("GET", "settings/modules", headers=headers, auth=False)
    assert (reply.status, reply.code) == (401, "AUTHENTICATION_FAILURE")


async def test_bad_token(api: Api) -> None:
    """An unknown token answers INVALID_TOKEN 401 with Zoho's exact body."""
    reply = await api.call("GET", "settings/modules", headers=api.headers("1000.bogus"))
    assert reply.status == 401
    assert reply.body == {"code": "INVALID_TOKEN", "details": {},
                          "message": "invalid oauth token", "status": "error"}


async def test_auth_is_checked_before_routing(api: Api) -> None:
    """Without a token even an unknown URL answers 401, as Zoho checks the token first."""
    reply = await api.call("GET", "/crm/v8/Nope/x", auth=False)
    assert reply.status == 401


SINGLE_CASES: list[tuple[str, Any, str]] = [
    ("data missing", {}, "MANDATORY_NOT_FOUND"),
    ("data not an array", {"data": {}}, "INVALID_DATA"),
    ("convert_to missing", {"data": [{}]}, "EXPECTED_FIELD_MISSING"),
    ("convert_to empty", {"data": [{"convert_to": []}]}, "EXPECTED_FIELD_MISSING"),
    ("convert_to not an array", {"data": [{"convert_to": "x"}]}, "INVALID_DATA"),
    ("module missing", {"data": [{"convert_to": [{}]}]}, "MANDATORY_NOT_FOUND"),
    ("module not an object", {"data": [{"convert_to": [{"module": 5}]}]}, "INVALID_DATA"),
]


@pytest.mark.parametrize(("body", "code"), [c[1:] for c in SINGLE_CASES],
                         ids=[c[0] for c in SINGLE_CASES])
async def test_single_convert_body_errors(api: Api, body: Any, code: str) -> None:
    """A malformed single-convert body answers the documented code with HTTP 400."""
    reply = await api.call("POST", f"Quotes/{QUOTE}/actions/convert", json=body)
    assert (reply.status, reply.code) == (400, code), reply.body


async def test_single_convert_ambiguous_module_id(api: Api) -> None:
    """A module id that is not the target's answers AMBIGUITY_DURING_PROCESSING."""
    body = {"data": [{"convert_to": [{"module": {"id": await api.module_id("Invoices"),
                                                 "api_name": "Sales_Orders"}}]}]}
    reply = await api.call("POST", f"Quotes/{QUOTE}/actions/convert", json=body)
    assert (reply.status, reply.code) == (400, "AMBIGUITY_DURING_PROCESSING")


async def test_single_convert_non_numeric_record_id(api: Api) -> None:
    """A non-numeric record id in the path answers INVALID_DATA inside data[0]."""
    reply = await api.convert("abc")
    assert (reply.status, reply.code) == (400, "INVALID_DATA")
    assert "data" in reply.body


@pytest.mark.parametrize(("entry", "code"), [
    ({"Deals": {"Deal_Name": "x"}}, "MANDATORY_NOT_FOUND"),
    ({"Deals": "x"}, "INVALID_DATA"),
    ({"overwrite": "yes"}, "INVALID_DATA"),
    ({"Accounts": {"id": "abc"}}, "INVALID_DATA"),
    ({"carry_over_tags": ["x"]}, "INVALID_DATA"),
])
async def test_lead_convert_body_errors(api: Api, entry: dict[str, Any], code: str) -> None:
    """A malformed lead-convert body answers the documented code with HTTP 400."""
    reply = await api.call("POST", f"Leads/{QUOTE}/actions/convert", json={"data": [entry]})
    assert (reply.status, reply.code) == (400, code), reply.body


@pytest.mark.parametrize(("body", "code"), [
    ({}, "MANDATORY_NOT_FOUND"),
    ({"ids": [str(10**18 + i) for i in range(51)]}, "LIMIT_EXCEEDED"),
    ({"ids": [QUOTE], "Deals": {"Stage": "x"}}, "MANDATORY_NOT_FOUND"),
    ({"ids": [QUOTE], "carry_over_tags": "x"}, "INVALID_DATA"),
])
async def test_lead_mass_convert_body_errors(api: Api, body: Any, code: str) -> None:
    """A malformed lead mass-convert body answers the documented code with HTTP 400."""
    reply = await api.call("POST", "Leads/actions/mass_convert", json=body)
    assert (reply.status, reply.code) == (400, code), reply.body
